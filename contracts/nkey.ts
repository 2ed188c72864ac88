// A party's NATS identity is the NATS nkey of its own Ed25519 key: the same 32-byte seed that
// signs its events answers the server's nonce, so a locked-down server needs no second secret.
// An nkey is base32 (RFC 4648, no padding) of a prefix byte, the raw key and a CRC-16/XMODEM
// (little-endian); a user's public nkey starts with 'U', its seed with 'SU'.

import { Codec } from "@nats-io/nkeys/lib/codec.js";
import { Prefix, fromSeed } from "@nats-io/nkeys";
import { SignatureError } from "./errors.js";

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
  try {
    return fromSeed(new TextEncoder().encode(seedText.trim())).getPublicKey();
  } catch (err) {
    throw new SignatureError(`not an nkey user seed (it starts with "SU"): ${(err as Error).message}`);
  }
}
