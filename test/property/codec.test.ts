import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { decode, encode, DECODE_LIMITS } from "../../contracts/codec.js";
import { DecodeError } from "../../contracts/errors.js";
import { RUNS, typedOrValue, rejects, hostileBytes, deepArrayBytes, deepMapBytes, rawStr, invalidUtf8, HUGE_STRING, HUGE_ARRAY } from "./hostile.js";

const sample = encode({ v: 1, type: "job.ret", id: "web1", return: { a: [1, 2, "three"], b: null }, ok: true });

test("codec - any bytes decode to a value or a DecodeError", () => {
  fc.assert(
    fc.property(hostileBytes(sample), (bytes) => {
      const r = typedOrValue(() => decode(bytes, "t.sub"));
      if (!r.ok) assert.ok(r.err instanceof DecodeError, `${r.err.name}: ${r.err.message}`);
    }),
    { numRuns: RUNS * 3 },
  );
});

test("codec - large random buffers", () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 10_000, maxLength: 200_000 }), (bytes) => {
      typedOrValue(() => decode(bytes));
    }),
    { numRuns: 30 },
  );
});

// Values msgpack can carry and give back the same: no undefined (dropped), no -0 (encoded as 0),
// no sparse arrays.
const wireValue = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null), fc.boolean(), fc.integer(), fc.double({ noNaN: true }).filter((d) => !Object.is(d, -0)),
    fc.string({ unit: "binary", maxLength: 40 }), fc.uint8Array({ maxLength: 20 }),
    fc.array(tie("value"), { maxLength: 5 }),
    fc.dictionary(fc.string({ unit: "binary", maxLength: 10 }).filter((k) => k !== "__proto__"), tie("value"), { maxKeys: 5, noNullPrototype: true }),
  ),
})).value;

test("codec - encode then decode gives the value back", () => {
  fc.assert(
    fc.property(wireValue, (v) => {
      assert.deepEqual(decode(encode(v)), v);
    }),
    { numRuns: RUNS * 2 },
  );
});

test("codec - encoding is deterministic: key order does not change the bytes", () => {
  fc.assert(
    fc.property(fc.dictionary(fc.string({ maxLength: 8 }), fc.integer(), { maxKeys: 8 }), (d) => {
      const reversed = Object.fromEntries(Object.entries(d).reverse());
      assert.deepEqual(encode(reversed), encode(d));
    }),
    { numRuns: RUNS },
  );
});

test("codec - nesting deeper than the limit is a DecodeError, however deep", () => {
  for (const n of [DECODE_LIMITS.maxDepth + 1, 1_000, 10_000, 100_000]) {
    rejects(() => decode(deepArrayBytes(n)), DecodeError);
    rejects(() => decode(deepMapBytes(n)), DecodeError);
  }
  // At the limit it decodes.
  assert.ok(decode(deepArrayBytes(DECODE_LIMITS.maxDepth)));
});

test("codec - a str that is not UTF-8 is a DecodeError, in values and in map keys", () => {
  fc.assert(
    fc.property(invalidUtf8, (bad) => {
      rejects(() => decode(rawStr(bad)), DecodeError);
      // {<bad>: 1}
      rejects(() => decode(Uint8Array.from([0x81, ...rawStr(bad), 0x01])), DecodeError);
      // ["ok", <bad>]
      rejects(() => decode(Uint8Array.from([0x92, 0xa2, 0x6f, 0x6b, ...rawStr(bad)])), DecodeError);
    }),
    { numRuns: RUNS },
  );
});

test("codec - regression: a2 ff fe decoded as 'ÿþ', the same string as valid a4 c3 bf c3 be", () => {
  // Found by the property above: the library read short invalid strs byte by byte as Latin-1
  // (long ones as U+FFFD), so two different payloads carried one string. Also pins the str hook
  // in contracts/codec.ts: if a library upgrade renames the method it wraps, this fails.
  const err = rejects(() => decode(Uint8Array.from([0xa2, 0xff, 0xfe]), "t.sub"), DecodeError);
  assert.match(err.message, /not valid UTF-8/);
  assert.equal(decode(Uint8Array.from([0xa4, 0xc3, 0xbf, 0xc3, 0xbe])), "ÿþ");
  rejects(() => decode(rawStr(new Array(300).fill(0xff))), DecodeError);
  // Valid multi-byte text, short and long, still decodes.
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 400 }), (s) => assert.equal(decode(encode(s)), s)),
    { numRuns: RUNS },
  );
});

test("codec - lengths past the limits are DecodeErrors, not allocations", () => {
  rejects(() => decode(Uint8Array.from([0xdd, 0xff, 0xff, 0xff, 0xff])), DecodeError);
  rejects(() => decode(Uint8Array.from([0xdf, 0xff, 0xff, 0xff, 0xff])), DecodeError);
  rejects(() => decode(Uint8Array.from([0xdb, 0xff, 0xff, 0xff, 0xff])), DecodeError);
  rejects(() => decode(Uint8Array.from([0xc6, 0xff, 0xff, 0xff, 0xff])), DecodeError);
  rejects(() => decode(new Uint8Array(0)), DecodeError);
  // The big ones within the limits decode.
  assert.equal((decode(encode(HUGE_STRING)) as string).length, HUGE_STRING.length);
  assert.equal((decode(encode(HUGE_ARRAY)) as number[]).length, HUGE_ARRAY.length);
});
