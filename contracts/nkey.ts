// A party's NATS identity is the NATS nkey of its own Ed25519 key: the same 32-byte seed that
// signs its events answers the server's nonce, so a locked-down server needs no second secret.
// An nkey is base32 (RFC 4648, no padding) of a prefix byte, the raw key and a CRC-16/XMODEM
// (little-endian); a user's public nkey starts with 'U', its seed with 'SU'.

import { Codec } from "@nats-io/nkeys/lib/codec.js";
import { Prefix } from "@nats-io/nkeys";
import { SignatureError } from "./errors.js";
import { signBytes, signingKeyFromSeed, type SigningKey } from "./sign.js";

/** The public nkey ("U...") of a base64 Ed25519 public key, as a nats-server config names a user. */
export function nkeyOfPub(pub: string): string {
  const raw = Buffer.from(pub, "base64");
  if (raw.length !== 32 || raw.toString("base64") !== pub) {
    throw new SignatureError(`public key "${pub.slice(0, 60)}" is not 32 bytes of base64`);
  }
  return new TextDecoder().decode(Codec.encode(Prefix.User, new Uint8Array(raw)));
}

/** The nkey seed ("SU...", as bytes) of a 32-byte Ed25519 seed: what the NATS client signs the nonce with. */
export function nkeySeedOf(seed: Uint8Array): Uint8Array {
  if (seed.length !== 32) throw new SignatureError(`an Ed25519 seed is 32 bytes, got ${seed.length}`);
  return Codec.encodeSeed(Prefix.User, seed);
}

/** The public nkey of an nkey seed file's text ("SU..."), checked: a typo fails here, not at the server. */
export function nkeyOfSeed(seedText: string): string {
  return openNkeySeed(new TextEncoder().encode(seedText.trim())).nkey;
}

/** The key and public nkey of an nkey seed ("SU...", as bytes). */
function openNkeySeed(nkeySeed: Uint8Array): { key: SigningKey; nkey: string } {
  let raw: { buf: Uint8Array; prefix: number };
  try {
    raw = Codec.decodeSeed(nkeySeed);
  } catch (err) {
    throw new SignatureError(`not an nkey user seed (it starts with "SU"): ${(err as Error).message}`);
  }
  if (raw.prefix !== Prefix.User) throw new SignatureError(`not an nkey user seed (it starts with "SU"): it is another kind of nkey seed`);
  const key = signingKeyFromSeed(raw.buf);
  return { key, nkey: new TextDecoder().decode(Codec.encode(Prefix.User, key.publicKey)) };
}

/**
 * The NATS client's nkey authenticator, answering the server's nonce with libsodium. The one
 * in @nats-io/nats-core derives the key pair with tweetnacl on every connect: ~30 ms of a CLI
 * command's start-up in a profile. Same answer: an Ed25519 signature over the nonce, base64.
 */
export function nkeyAuthenticator(nkeySeed: Uint8Array): (nonce?: string) => { nkey: string; sig: string } {
  let opened: { key: SigningKey; nkey: string } | undefined;
  return (nonce) => {
    opened ??= openNkeySeed(nkeySeed);
    const sig = nonce ? signBytes(opened.key, new TextEncoder().encode(nonce)).toString("base64") : "";
    return { nkey: opened.nkey, sig };
  };
}
