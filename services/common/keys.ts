// A service's own keys on disk: an Ed25519 seed (signing) and an X25519 secret key (tweetnacl
// box, for secrets sent to it). Made on first start, kept 0600 in a 0700 directory; a key file
// that others can read is refused rather than silently used.

import { chmodSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { writeFileAtomic } from "./atomic.js";
import { dirname, join } from "node:path";
import { createPrivateKey, createPublicKey, randomBytes } from "node:crypto";
import nacl from "tweetnacl";
import { generateSeed, signingKeyFromSeed, type SigningKey } from "../../contracts/sign.js";
import { NatriumError } from "../../contracts/errors.js";

export class KeyFileError extends NatriumError {
  constructor(message: string, readonly path: string) {
    super("bad_key_file", `${path}: ${message}`);
  }
}

export interface ServiceKeys {
  sign: SigningKey;
  boxPublic: Uint8Array;
  boxSecret: Uint8Array;
  /** base64 X25519 public key */
  boxPub: string;
}

function readKey(path: string): Uint8Array {
  const st = statSync(path);
  if ((st.mode & 0o077) !== 0) {
    throw new KeyFileError(`permissions are ${(st.mode & 0o777).toString(8)}; a key file must be 0600 (chmod 600 ${path})`, path);
  }
  const raw = Buffer.from(readFileSync(path, "utf8").trim(), "base64");
  if (raw.length !== 32) throw new KeyFileError(`holds ${raw.length} bytes, expected a 32-byte base64 key`, path);
  return new Uint8Array(raw);
}

function writeKey(path: string, bytes: Uint8Array): void {
  // Written to a temp name and renamed, created 0600 from the start: never readable by others,
  // never half-written if two processes race (the loser's rename wins, both then read one key).
  writeFileAtomic(path, Buffer.from(bytes).toString("base64") + "\n");
}

/** Load `<dir>/<name>.sign` and `<dir>/<name>.box`, creating them on first start. */
export function loadOrCreateKeys(dir: string, name: string): ServiceKeys {
  const sign = loadOrCreateSigningKey(dir, name).key;
  const boxPath = join(dir, `${name}.box`);
  if (!existsSync(boxPath)) writeKey(boxPath, nacl.randomBytes(32));
  const boxSecret = readKey(boxPath);
  const boxPublic = boxPublicOf(boxSecret);
  return { sign, boxSecret, boxPublic, boxPub: Buffer.from(boxPublic).toString("base64") };
}

/** Load `<dir>/<name>.sign` alone (an Ed25519 key, e.g. the master's admin key), creating it on first use. */
export function loadOrCreateSigningKey(dir: string, name: string): { key: SigningKey; path: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const path = join(dir, `${name}.sign`);
  if (!existsSync(path)) writeKey(path, generateSeed());
  return { key: signingKeyFromSeed(readKey(path)), path };
}

/** An existing Ed25519 key file (base64 seed, 0600): a user's key. */
export function readSigningKey(path: string): SigningKey {
  if (!existsSync(path)) throw new KeyFileError("no such key file", path);
  return signingKeyFromSeed(readKey(path));
}

/** Write a new Ed25519 key file (0600); refuses to overwrite one. */
export function createSigningKeyFile(path: string): SigningKey {
  if (existsSync(path)) throw new KeyFileError("already exists; remove it first or choose another --out", path);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const seed = generateSeed();
  writeKey(path, seed);
  return signingKeyFromSeed(seed);
}

const X25519_PKCS8_PREFIX = Buffer.from("302e020100300506032b656e04220420", "hex");
const X25519_SPKI_LENGTH = 44;

/**
 * The X25519 public key of a box secret key: node:crypto computes what tweetnacl's
 * box.keyPair.fromSecretKey computes (test/unit/keys.test.ts checks), fast enough for a swarm.
 */
export function boxPublicOf(secret: Uint8Array): Uint8Array {
  const priv = createPrivateKey({ key: Buffer.concat([X25519_PKCS8_PREFIX, secret]), format: "der", type: "pkcs8" });
  const spki = createPublicKey(priv).export({ format: "der", type: "spki" });
  return new Uint8Array(spki.subarray(X25519_SPKI_LENGTH - 32));
}

/** Keys kept in memory only: swarm identities in benchmarks and tests use the same code path. */
export function ephemeralKeys(): ServiceKeys {
  const sign = signingKeyFromSeed(generateSeed());
  const boxSecret = new Uint8Array(randomBytes(32));
  const boxPublic = boxPublicOf(boxSecret);
  return { sign, boxSecret, boxPublic, boxPub: Buffer.from(boxPublic).toString("base64") };
}
