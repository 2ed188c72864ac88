import { test } from "node:test";
import assert from "node:assert/strict";
import { encode, decode, DECODE_LIMITS } from "../../contracts/codec.js";
import { DecodeError } from "../../contracts/errors.js";

/** Deterministic PRNG (mulberry32) so a failure reproduces. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomValue(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 4 ? 6 : 8));
  switch (k) {
    case 0: return null;
    case 1: return r() < 0.5;
    case 2: return Math.floor((r() - 0.5) * 2 ** (Math.floor(r() * 53)));
    case 3: return (r() - 0.5) * 1e6;
    case 4: return Array.from({ length: Math.floor(r() * 20) }, () => String.fromCharCode(32 + Math.floor(r() * 0x2fff))).join("");
    case 5: return "x".repeat(Math.floor(r() * 300));
    case 6: return Array.from({ length: Math.floor(r() * 6) }, () => randomValue(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = Math.floor(r() * 6); i > 0; i--) o[`k${Math.floor(r() * 1000)}`] = randomValue(r, depth + 1);
      return o;
    }
  }
}

/** A msgpack header for an array (0xdd), map (0xdf), str (0xdb) or bin (0xc6) of n items/bytes. */
function header32(code: number, n: number): Buffer {
  const b = Buffer.alloc(5);
  b[0] = code;
  b.writeUInt32BE(n, 1);
  return b;
}

function nestedArrays(levels: number, leaf: number | null = 1): Uint8Array {
  const b = Buffer.alloc(levels + (leaf === null ? 0 : 1), 0x91);
  if (leaf !== null) b[levels] = leaf;
  else b[levels - 1] = 0x90;
  return b;
}

function assertDecodeError(bytes: Uint8Array, what: string): DecodeError {
  let caught: unknown;
  try {
    decode(bytes, "test.subject");
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof DecodeError, `${what}: expected DecodeError, got ${caught === undefined ? "a value" : String(caught)}`);
  assert.equal((caught as DecodeError).code, "bad_payload");
  assert.equal((caught as DecodeError).subject, "test.subject");
  return caught as DecodeError;
}

test("codec - round trip of the shapes events carry", () => {
  const values: unknown[] = [
    { v: 1, type: "job.ret", return: { nested: [1, -1, 2 ** 40, -(2 ** 40), 0.5, "ü", null, true, false] } },
    [],
    {},
    "",
    "日本語 🦀",
    Number.MAX_SAFE_INTEGER,
    Number.MIN_SAFE_INTEGER,
    1.5e300,
    "x".repeat(70_000),
    Array.from({ length: 70_000 }, (_, i) => i),
  ];
  for (const v of values) assert.deepEqual(decode(encode(v)), v);
  const bin = new Uint8Array([0, 1, 2, 255]);
  assert.deepEqual(decode(encode({ b: bin })), { b: bin });
});

test("codec - random values round trip (2000 seeded cases)", () => {
  const r = prng(42);
  for (let i = 0; i < 2000; i++) {
    const v = randomValue(r, 0);
    assert.deepEqual(decode(encode(v)), v, `case ${i}`);
  }
});

test("codec - keys are sorted at every level, so equal bodies give equal bytes", () => {
  const a = encode({ b: 1, a: { z: 1, y: [{ d: 1, c: 2 }] }, c: "x" });
  const b = encode({ c: "x", a: { y: [{ c: 2, d: 1 }], z: 1 }, b: 1 });
  assert.deepEqual(a, b);
  // fixmap(3), then "a" first
  assert.equal(Buffer.from(a).toString("hex").slice(0, 6), "83a161");
  // keys sort by UTF-16 code unit, the same as byte order for the ASCII keys the contract uses
  // integer-like keys sort as strings too ("10" before "9"), whatever order JS objects keep them in
  assert.equal(Buffer.from(encode({ "9": 6, "10": 5 })).toString("hex"), "82" + "a23130" + "05" + "a139" + "06");
  assert.equal(
    Buffer.from(encode({ b: 1, B: 2, _: 3, a: 4 })).toString("hex"),
    "84" + "a142" + "02" + "a15f" + "03" + "a161" + "04" + "a162" + "01",
  );
});

test("codec - undefined fields are left out, as if absent", () => {
  assert.deepEqual(encode({ a: 1, b: undefined }), encode({ a: 1 }));
  assert.deepEqual(encode({ a: { c: undefined, d: 2 } }), encode({ a: { d: 2 } }));
  assert.equal(Buffer.from(encode({ a: 1, b: undefined })).toString("hex"), "81a16101");
});

test("codec - integers take the smallest msgpack form, non-integers are float64", () => {
  const h = (v: unknown) => Buffer.from(encode(v)).toString("hex");
  assert.equal(h(0), "00");
  assert.equal(h(127), "7f");
  assert.equal(h(128), "cc80");
  assert.equal(h(-1), "ff");
  assert.equal(h(-33), "d0df");
  assert.equal(h(65536), "ce00010000");
  assert.equal(h(2 ** 32), "cf0000000100000000");
  assert.equal(h(12.0), "0c");
  assert.equal(h(12.5), "cb4029000000000000");
  assert.equal(h("a"), "a161");
  assert.equal(h("x".repeat(32)), "d920" + "78".repeat(32));
});

test("codec - empty, truncated and trailing bytes give DecodeError", () => {
  assertDecodeError(new Uint8Array(0), "empty");
  const full = encode({ v: 1, type: "job.ret", jid: "20261127082615123456", return: { a: [1, 2, "three"] }, n: 2 ** 40, f: 0.25 });
  for (let n = 1; n < full.length; n++) assertDecodeError(full.subarray(0, n), `prefix of ${n} bytes`);
  assertDecodeError(Buffer.concat([full, Buffer.from([0xc0])]), "trailing byte");
});

test("codec - reserved byte 0xc1 and ext types with data are refused", () => {
  assertDecodeError(new Uint8Array([0xc1]), "0xc1");
  assertDecodeError(new Uint8Array([0xd4, 0x01, 0x00]), "fixext1");
  assertDecodeError(new Uint8Array([0xd6, 0xff, 0, 0, 0, 0]), "timestamp32");
  assertDecodeError(new Uint8Array([0xc7, 0x01, 0x05, 0x00]), "ext8 of length 1");
  // maxExtLength is 0, so an ext with no data still decodes (as an opaque ExtData). The
  // contract never sends ext; event schemas reject it wherever the field is typed.
  assert.equal(typeof decode(new Uint8Array([0xc7, 0x00, 0x05])), "object");
});

test("codec - maps with keys that are not strings or numbers, and __proto__, are refused", () => {
  assertDecodeError(new Uint8Array([0x81, 0x90, 0x01]), "array key");
  assertDecodeError(new Uint8Array([0x81, 0xc0, 0x01]), "nil key");
  const proto = Buffer.concat([Buffer.from([0x81, 0xa9]), Buffer.from("__proto__"), Buffer.from([0x81, 0xa1, 0x78, 0x01])]);
  assertDecodeError(proto, "__proto__ key");
  assert.equal(({} as Record<string, unknown>).x, undefined);
});

test("codec - huge strings, binaries, arrays and maps are refused before they are read", () => {
  const over = (n: number) => n + 1;
  // a header that claims more than the limit, followed by nothing: refused at once
  assertDecodeError(header32(0xdb, over(DECODE_LIMITS.maxStrLength)), "str32 header");
  assertDecodeError(header32(0xc6, over(DECODE_LIMITS.maxBinLength)), "bin32 header");
  assertDecodeError(header32(0xdd, over(DECODE_LIMITS.maxArrayLength)), "array32 header");
  assertDecodeError(header32(0xdf, over(DECODE_LIMITS.maxMapLength)), "map32 header");
  assertDecodeError(header32(0xdd, 0xffffffff), "array of 2^32-1");
  // and with the bytes really there
  const str = Buffer.concat([header32(0xdb, over(DECODE_LIMITS.maxStrLength)), Buffer.alloc(over(DECODE_LIMITS.maxStrLength), 0x61)]);
  assertDecodeError(str, "4 MiB + 1 string");
  const arr = Buffer.concat([header32(0xdd, over(DECODE_LIMITS.maxArrayLength)), Buffer.alloc(over(DECODE_LIMITS.maxArrayLength), 0xc0)]);
  assertDecodeError(arr, "100001 nils");
  // at the limit is fine
  const okArr = Buffer.concat([header32(0xdd, DECODE_LIMITS.maxArrayLength), Buffer.alloc(DECODE_LIMITS.maxArrayLength, 0xc0)]);
  assert.equal((decode(okArr) as unknown[]).length, DECODE_LIMITS.maxArrayLength);
});

test("codec - deep nesting is refused", () => {
  assert.equal(DECODE_LIMITS.maxDepth, 64);
  assert.ok(Array.isArray(decode(nestedArrays(64))), "64 levels around a scalar are allowed");
  const e = assertDecodeError(nestedArrays(65), "65 levels");
  assert.match(e.message, /deeper than 64/);
  // maps too
  const maps = Buffer.concat([...Array.from({ length: 65 }, () => Buffer.from([0x81, 0xa1, 0x6b])), Buffer.from([0x01])]);
  assertDecodeError(maps, "65 nested maps");
});

test("codec - pathological nesting neither crashes nor hangs", () => {
  const t0 = performance.now();
  assertDecodeError(nestedArrays(100_000), "100k nested arrays");
  assertDecodeError(nestedArrays(1_000_000, null), "1M nested arrays, empty innermost");
  // a wide, shallow payload: many small arrays
  const wide = Buffer.concat([header32(0xdd, 50_000), Buffer.alloc(50_000, 0x90)]);
  assert.equal((decode(wide) as unknown[]).length, 50_000);
  assert.ok(performance.now() - t0 < 5_000, "took under 5 s");
});

test("codec - random bytes give a value or DecodeError, never another error (20000 seeded cases)", () => {
  const r = prng(7);
  let values = 0;
  for (let i = 0; i < 20_000; i++) {
    const len = 1 + Math.floor(r() * (i % 10 === 0 ? 2000 : 40));
    const b = new Uint8Array(len);
    for (let j = 0; j < len; j++) b[j] = Math.floor(r() * 256);
    try {
      decode(b);
      values++;
    } catch (err) {
      assert.ok(err instanceof DecodeError, `case ${i} (${Buffer.from(b).toString("hex").slice(0, 80)}): ${String(err)}`);
    }
  }
  assert.ok(values > 0, "some random inputs are valid msgpack");
});

test("codec - mutated valid payloads give a value or DecodeError (5000 seeded cases)", () => {
  const r = prng(99);
  const base = encode({ v: 1, type: "job.ret", eid: "x", return: { list: [1, 2, 3], s: "text", deep: { a: { b: [null, true] } } }, n: 2 ** 40 });
  for (let i = 0; i < 5000; i++) {
    const b = Buffer.from(base);
    for (let k = 1 + Math.floor(r() * 4); k > 0; k--) b[Math.floor(r() * b.length)] = Math.floor(r() * 256);
    try {
      decode(b);
    } catch (err) {
      assert.ok(err instanceof DecodeError, `case ${i}: ${String(err)}`);
    }
  }
});
