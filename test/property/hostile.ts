// Shared pieces of the property tests: the one assertion they all make (a function given hostile
// input returns or throws a typed NatriumError, nothing else), and generators of hostile input.

import assert from "node:assert/strict";
import fc from "fast-check";
import { NatriumError } from "../../contracts/errors.js";
import { encode } from "../../contracts/codec.js";

/**
 * Runs per property: enough to find the cheap bugs, small enough that the folder takes seconds.
 * PROP_RUNS=5000 for a longer hunt.
 */
export const RUNS = Number(process.env.PROP_RUNS) || 300;

/** The property every decoder and validator keeps: a value, or a typed error with a code. */
export function typedOrValue<T>(fn: () => T): { ok: true; value: T } | { ok: false; err: NatriumError } {
  try {
    return { ok: true, value: fn() };
  } catch (err) {
    assertTyped(err);
    return { ok: false, err };
  }
}

export function assertTyped(err: unknown): asserts err is NatriumError {
  if (!(err instanceof NatriumError)) {
    assert.fail(`expected a NatriumError, got ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  }
  assert.equal(typeof err.code, "string");
  assert.ok(err.code.length > 0, "the error has a code");
  assert.ok(err.message.length > 0, "the error has a message");
}

/** Expect a typed error (of `cls`, when given). */
export function rejects<E extends NatriumError>(fn: () => unknown, cls?: abstract new (...a: never[]) => E): E {
  const r = typedOrValue(fn);
  assert.equal(r.ok, false, "expected a typed error, got a value");
  const err = (r as { err: NatriumError }).err;
  if (cls) assert.ok(err instanceof cls, `expected ${cls.name}, got ${err.name}: ${err.message}`);
  return err as E;
}

// ---- hostile values ---------------------------------------------------------------------------

/** 1 MB of text, and 100,000-item arrays: built once, shared by every run. */
export const HUGE_STRING = "x".repeat(1 << 20);
export const HUGE_ARRAY = new Array<number>(100_000).fill(7);
export const HUGE_STR_ARRAY = new Array<string>(100_000).fill("web1");

/** `n` levels of nested arrays as JS values (built in a loop, not recursion). */
export function deepValue(n: number): unknown {
  let v: unknown = null;
  for (let i = 0; i < n; i++) v = [v];
  return v;
}

/** Values of every type a field could wrongly hold, the big ones included. */
export const wrongValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom<unknown>(
    null, undefined, true, false, 0, -1, 1.5, NaN, Infinity, -Infinity, Number.MAX_SAFE_INTEGER * 4, -0,
    "", "\u0000", "\ud800", HUGE_STRING, HUGE_ARRAY, HUGE_STR_ARRAY, [], {}, new Uint8Array(3), deepValue(10_000),
    { __proto__: null, a: 1 }, JSON.parse('{"__proto__": {"x": 1}}'),
  ),
  fc.anything({ maxDepth: 4 }),
  fc.string({ unit: "binary", maxLength: 300 }),
  fc.double(),
  fc.bigInt(),
);

/** Any JS value the decoder could produce, for validators (what decode gives, never more). */
export const decodedLike: fc.Arbitrary<unknown> = fc.anything({ maxDepth: 5, withNullPrototype: true });

// ---- hostile bytes ----------------------------------------------------------------------------

/** `n` nested arrays as msgpack bytes (0x91 = fixarray of one), ending in nil. */
export function deepArrayBytes(n: number): Uint8Array {
  const b = new Uint8Array(n + 1).fill(0x91);
  b[n] = 0xc0;
  return b;
}

/** `n` nested one-key maps {"a": …} as msgpack bytes. */
export function deepMapBytes(n: number): Uint8Array {
  const b = new Uint8Array(n * 3 + 1);
  for (let i = 0; i < n; i++) b.set([0x81, 0xa1, 0x61], i * 3);
  b[n * 3] = 0xc0;
  return b;
}

/** A msgpack str (str8/str16) header followed by raw, possibly invalid, bytes. */
export function rawStr(bytes: number[] | Uint8Array): Uint8Array {
  const n = bytes.length;
  const head = n < 256 ? [0xd9, n] : [0xda, n >> 8, n & 0xff];
  return Uint8Array.from([...head, ...bytes]);
}

/** Byte sequences that are not UTF-8: stray continuation bytes, overlongs, surrogates, truncation. */
export const invalidUtf8: fc.Arbitrary<number[]> = fc.oneof(
  fc.constantFrom<number[]>([0xff], [0xfe], [0xff, 0xfe], [0x80], [0xc0, 0x80], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]),
  fc.tuple(fc.array(fc.integer({ min: 0x20, max: 0x7e }), { maxLength: 300 }), fc.constantFrom(0xff, 0xfe, 0x80, 0xc0), fc.array(fc.integer({ min: 0x20, max: 0x7e }), { maxLength: 300 }))
    .map(([a, bad, b]) => [...a, bad, ...b]),
);

/** A valid encoding changed: bits flipped, bytes replaced, truncated, extended, spliced. */
export function mutated(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  const n = valid.length;
  const flip = fc.array(fc.tuple(fc.nat(n - 1), fc.integer({ min: 0, max: 7 })), { minLength: 1, maxLength: 8 }).map((fs) => {
    const b = Uint8Array.from(valid);
    for (const [i, bit] of fs) b[i] ^= 1 << bit;
    return b;
  });
  const replace = fc.array(fc.tuple(fc.nat(n - 1), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }).map((rs) => {
    const b = Uint8Array.from(valid);
    for (const [i, v] of rs) b[i] = v;
    return b;
  });
  const truncate = fc.nat(n - 1).map((k) => valid.slice(0, k));
  const extend = fc.uint8Array({ minLength: 1, maxLength: 64 }).map((tail) => Uint8Array.from([...valid, ...tail]));
  const splice = fc.tuple(fc.nat(n), fc.nat(n), fc.uint8Array({ maxLength: 32 })).map(([a, b, mid]) => {
    const [lo, hi] = a <= b ? [a, b] : [b, a];
    return Uint8Array.from([...valid.subarray(0, lo), ...mid, ...valid.subarray(hi)]);
  });
  return fc.oneof(flip, replace, truncate, extend, splice);
}

/** Every kind of hostile payload, given one valid encoding to mutate. */
export function hostileBytes(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  HUGE_ENCODED ??= [encode(HUGE_STRING), encode(HUGE_ARRAY)];
  return fc.oneof(
    fc.uint8Array({ maxLength: 512 }),
    mutated(valid),
    fc.anything({ maxDepth: 4 }).map((v) => safeEncode(v)),
    fc.integer({ min: 60, max: 20_000 }).map(deepArrayBytes),
    fc.integer({ min: 60, max: 5_000 }).map(deepMapBytes),
    invalidUtf8.map(rawStr),
    fc.constantFrom(
      new Uint8Array(0),
      Uint8Array.from([0xdd, 0xff, 0xff, 0xff, 0xff]), // array32 of 4 billion, no items
      Uint8Array.from([0xdf, 0xff, 0xff, 0xff, 0xff]), // map32 of 4 billion
      Uint8Array.from([0xdb, 0xff, 0xff, 0xff, 0xff, 0x61]), // str32 of 4 GB
      Uint8Array.from([0xc6, 0xff, 0xff, 0xff, 0xff]), // bin32 of 4 GB
      Uint8Array.from([0xd6, 0xff, 0, 0, 0, 0]), // timestamp ext
      Uint8Array.from([0xc1]), // never used
      ...HUGE_ENCODED,
    ),
  );
}

let HUGE_ENCODED: Uint8Array[] | undefined;

function safeEncode(v: unknown): Uint8Array {
  try {
    return encode(v);
  } catch {
    return Uint8Array.from([0xc0]);
  }
}
