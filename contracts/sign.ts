// Ed25519 signatures over (subject, payload). Keys are plain 32-byte seeds and public keys,
// the same bytes tweetnacl uses; signing and verifying go through node:crypto with cached
// KeyObjects, ~100x faster than tweetnacl and byte-identical (MEASURED.md).
//
// What is signed: UTF-8(subject) || 0x0A || payload. Binding the subject means a valid return
// cannot be replayed under another jid or another minion's subject.

import { createPrivateKey, createPublicKey, sign as cSign, verify as cVerify, createHash, KeyObject } from "node:crypto";
import nacl from "tweetnacl";
import { SignatureError } from "./errors.js";

const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex");
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");

export interface SigningKey {
  /** 32-byte Ed25519 seed. */
  seed: Uint8Array;
  /** 32-byte Ed25519 public key. */
  publicKey: Uint8Array;
  /** Public key, base64 (standard alphabet, padded): the form used in headers and events. */
  pub: string;
  private: KeyObject;
}

export function generateSeed(): Uint8Array {
  return nacl.randomBytes(32);
}

export function signingKeyFromSeed(seed: Uint8Array): SigningKey {
  if (seed.length !== 32) throw new SignatureError(`an Ed25519 seed is 32 bytes, got ${seed.length}`);
  const priv = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, seed]), format: "der", type: "pkcs8" });
  // The public key derived by node:crypto (the same bytes tweetnacl derives, ~100x faster):
  // the last 32 bytes of its SPKI DER form.
  const publicKey = new Uint8Array(createPublicKey(priv).export({ format: "der", type: "spki" }).subarray(SPKI_PREFIX.length));
  return { seed, publicKey, pub: Buffer.from(publicKey).toString("base64"), private: priv };
}

const pubCache = new Map<string, KeyObject>();

/** A verifying key from its base64 form, cached: the same few keys verify thousands of messages. */
export function publicKeyObject(pub: string): KeyObject {
  let k = pubCache.get(pub);
  if (k) return k;
  const raw = Buffer.from(pub, "base64");
  if (raw.length !== 32 || raw.toString("base64") !== pub) {
    throw new SignatureError(`"${pub.slice(0, 60)}" is not a base64 Ed25519 public key`);
  }
  k = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: "der", type: "spki" });
  if (pubCache.size > 100_000) pubCache.clear();
  pubCache.set(pub, k);
  return k;
}

function signedBytes(subject: string, payload: Uint8Array): Buffer {
  const s = Buffer.from(subject + "\n", "utf8");
  return Buffer.concat([s, payload]);
}

/** Signature, base64. */
export function sign(key: SigningKey, subject: string, payload: Uint8Array): string {
  return cSign(null, signedBytes(subject, payload), key.private).toString("base64");
}

/** Throws SignatureError unless `sig` is `pub`'s signature over (subject, payload). */
export function verify(pub: string, subject: string, payload: Uint8Array, sig: string): void {
  const raw = Buffer.from(sig, "base64");
  if (raw.length !== 64) throw new SignatureError(`signature is ${raw.length} bytes, not 64`, subject, pub);
  // Buffer's base64 reader skips what it does not understand ("…==A", "-_", spaces), so one
  // signature had many spellings; as for keys, only the canonical one is accepted.
  if (raw.toString("base64") !== sig) throw new SignatureError("signature is not canonical base64 (standard alphabet, padded)", subject, pub);
  let ok = false;
  try {
    ok = cVerify(null, signedBytes(subject, payload), publicKeyObject(pub), raw);
  } catch (err) {
    if (err instanceof SignatureError) throw err;
    throw new SignatureError(`signature could not be checked: ${(err as Error).message}`, subject, pub);
  }
  if (!ok) throw new SignatureError("signature does not verify", subject, pub);
}

/**
 * The same check on libuv's thread pool (node:crypto's callback form): a batch of messages
 * verifies in parallel with the caller's own work, about twice the one-thread rate on two cores
 * (MEASURED.md). Never throws: malformed keys or signatures are simply `false`.
 */
export function verifyAsync(pub: string, subject: string, payload: Uint8Array, sig: string): Promise<boolean> {
  return new Promise((resolve) => {
    let key: KeyObject;
    const raw = Buffer.from(sig, "base64");
    try {
      if (raw.length !== 64 || raw.toString("base64") !== sig) return resolve(false);
      key = publicKeyObject(pub);
    } catch {
      return resolve(false);
    }
    cVerify(null, signedBytes(subject, payload), key, raw, (err, ok) => resolve(!err && ok));
  });
}

/** Salt-style fingerprint: SHA-256 of the public key bytes, hex pairs joined by ':'. */
export function fingerprint(pub: string): string {
  const h = createHash("sha256").update(Buffer.from(pub, "base64")).digest("hex");
  return h.match(/../g)!.join(":");
}
