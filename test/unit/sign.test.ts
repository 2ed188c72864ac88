import { test } from "node:test";
import assert from "node:assert/strict";
import nacl from "tweetnacl";
import { signingKeyFromSeed, generateSeed, sign, verify, fingerprint, publicKeyBytes } from "../../contracts/sign.js";
import { SignatureError } from "../../contracts/errors.js";

const SUBJ = "natrium.job.20261127082615123456.ret.web1";
const seedA = new Uint8Array(32).fill(0x0a);
const seedB = new Uint8Array(32).fill(0x0b);
const A = signingKeyFromSeed(seedA);
const B = signingKeyFromSeed(seedB);
const payload = new Uint8Array(Buffer.from("81a16101", "hex"));

function assertSigError(fn: () => unknown, what: string, re?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof SignatureError, `${what}: expected SignatureError, got ${String(err)}`);
    assert.equal(err.code, "bad_signature");
    if (re) assert.match(err.message, re, what);
    return true;
  });
}

test("sign - seeds that are not 32 bytes are refused", () => {
  for (const n of [0, 1, 31, 33, 64]) assertSigError(() => signingKeyFromSeed(new Uint8Array(n)), `${n}-byte seed`, /32 bytes/);
});

test("sign - a key from a seed matches tweetnacl's, and generateSeed gives 32 fresh bytes", () => {
  const kp = nacl.sign.keyPair.fromSeed(seedA);
  assert.deepEqual(A.publicKey, kp.publicKey);
  assert.equal(A.pub, Buffer.from(kp.publicKey).toString("base64"));
  assert.match(A.pub, /^[A-Za-z0-9+/]{43}=$/);
  const s1 = generateSeed();
  const s2 = generateSeed();
  assert.equal(s1.length, 32);
  assert.notDeepEqual(s1, s2);
});

test("sign - round trip, and node:crypto and tweetnacl are byte-identical (300 seeded cases)", () => {
  let x = 1;
  for (let i = 0; i < 300; i++) {
    const seed = new Uint8Array(32).map(() => (x = (x * 1103515245 + 12345) & 0x7fffffff) & 0xff);
    const msg = new Uint8Array(i * 7).map(() => (x = (x * 1103515245 + 12345) & 0x7fffffff) & 0xff);
    const subject = `ns.job.20261127082615123456.ret.m${i}`;
    const k = signingKeyFromSeed(seed);
    const sig = sign(k, subject, msg);
    const signed = Buffer.concat([Buffer.from(subject + "\n"), msg]);
    const kp = nacl.sign.keyPair.fromSeed(seed);
    assert.equal(Buffer.from(nacl.sign.detached(signed, kp.secretKey)).toString("base64"), sig, `case ${i}`);
    assert.ok(nacl.sign.detached.verify(signed, Buffer.from(sig, "base64"), kp.publicKey), `case ${i}`);
    verify(k.pub, subject, msg, sig);
  }
});

test("sign - the signed bytes are UTF-8(subject) || 0x0A || payload", () => {
  const sig = sign(A, "ns.minion.=c3=bc.start", payload);
  const signed = Buffer.concat([Buffer.from("ns.minion.=c3=bc.start", "utf8"), Buffer.from([0x0a]), payload]);
  assert.ok(nacl.sign.detached.verify(signed, Buffer.from(sig, "base64"), A.publicKey));
  // signing is deterministic (Ed25519)
  assert.equal(sign(A, SUBJ, payload), sign(A, SUBJ, payload));
});

test("sign - wrong key, tampered subject or tampered payload give SignatureError", () => {
  const sig = sign(A, SUBJ, payload);
  verify(A.pub, SUBJ, payload, sig);
  assertSigError(() => verify(B.pub, SUBJ, payload, sig), "wrong key", /does not verify/);
  assertSigError(() => verify(A.pub, SUBJ.replace("web1", "web2"), payload, sig), "other subject");
  assertSigError(() => verify(A.pub, SUBJ + ".x", payload, sig), "longer subject");
  assertSigError(() => verify(A.pub, SUBJ, new Uint8Array([...payload, 0]), sig), "payload with a byte more");
  for (let i = 0; i < payload.length; i++) {
    const t = new Uint8Array(payload);
    t[i] ^= 0x01;
    assertSigError(() => verify(A.pub, SUBJ, t, sig), `payload byte ${i} flipped`);
  }
  // moving the boundary between subject and payload changes the signed bytes
  assertSigError(() => verify(A.pub, SUBJ + "\n" + "\x81", payload.subarray(1), sig), "boundary moved");
  const raw = Buffer.from(sig, "base64");
  for (const i of [0, 31, 32, 63]) {
    const t = Buffer.from(raw);
    t[i] ^= 0x80;
    assertSigError(() => verify(A.pub, SUBJ, payload, t.toString("base64")), `signature byte ${i} flipped`);
  }
});

test("sign - signatures and public keys of the wrong length or form give SignatureError", () => {
  const sig = sign(A, SUBJ, payload);
  const raw = Buffer.from(sig, "base64");
  assertSigError(() => verify(A.pub, SUBJ, payload, ""), "empty signature", /0 bytes/);
  assertSigError(() => verify(A.pub, SUBJ, payload, raw.subarray(0, 63).toString("base64")), "63-byte signature", /63 bytes/);
  assertSigError(() => verify(A.pub, SUBJ, payload, Buffer.concat([raw, Buffer.from([0])]).toString("base64")), "65-byte signature");
  assertSigError(() => verify(A.pub, SUBJ, payload, "not base64 at all!"), "garbage signature");
  assertSigError(() => verify("", SUBJ, payload, sig), "empty key", /not a base64 Ed25519 public key/);
  assertSigError(() => verify(Buffer.alloc(31, 1).toString("base64"), SUBJ, payload, sig), "31-byte key");
  assertSigError(() => verify(Buffer.alloc(33, 1).toString("base64"), SUBJ, payload, sig), "33-byte key");
  assertSigError(() => verify(A.pub.replace(/=$/, ""), SUBJ, payload, sig), "unpadded key");
  assertSigError(() => verify(Buffer.from(A.publicKey).toString("base64url"), SUBJ, payload, sig), "base64url key");
  // the last base64 character carries 4 unused bits: a non-canonical spelling of the same bytes is refused
  const last = A.pub[42];
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const twin = alphabet[alphabet.indexOf(last) ^ 1];
  assertSigError(() => verify(A.pub.slice(0, 42) + twin + "=", SUBJ, payload, sig), "non-canonical base64 key");
  // 32 bytes that are no key of anyone's
  assertSigError(() => verify(Buffer.alloc(32, 0xff).toString("base64"), SUBJ, payload, sig), "0xff key");
  assertSigError(() => verify(Buffer.alloc(32, 0).toString("base64"), SUBJ, payload, sig), "zero key");
});

test("sign - a malleated signature (S + L) is refused", () => {
  // Ed25519 group order L, little-endian; S lives in the second half of the signature.
  const L = Buffer.from("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010", "hex");
  const raw = Buffer.from(sign(A, SUBJ, payload), "base64");
  const s = raw.subarray(32);
  const out = Buffer.alloc(32);
  let carry = 0;
  for (let i = 0; i < 32; i++) {
    const v = s[i] + L[i] + carry;
    out[i] = v & 0xff;
    carry = v >> 8;
  }
  assert.ok(carry === 0 && out[31] < 0x20, "S + L still fits in 32 bytes for this fixed key and message");
  const mall = Buffer.concat([raw.subarray(0, 32), out]).toString("base64");
  assertSigError(() => verify(A.pub, SUBJ, payload, mall), "S + L");
});

test("sign - fingerprint is SHA-256 of the key bytes in hex pairs", () => {
  const f = fingerprint(A.pub);
  assert.match(f, /^([0-9a-f]{2}:){31}[0-9a-f]{2}$/);
  assert.notEqual(f, fingerprint(B.pub));
  assert.equal(fingerprint(A.pub), f);
});

test("sign - public key bytes are cached", () => {
  assert.equal(publicKeyBytes(A.pub), publicKeyBytes(A.pub));
  assert.deepEqual(new Uint8Array(publicKeyBytes(A.pub)), A.publicKey);
});
