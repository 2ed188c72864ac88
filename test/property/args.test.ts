import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { param, onlyKwargs, asString, asNumber, asBool } from "../../services/minion/args.js";
import { ArgumentError } from "../../services/minion/errors.js";
import { parseFunArgs } from "../../cli/lib/args.js";
import { RUNS, typedOrValue, rejects, wrongValue, decodedLike } from "./hostile.js";

const arg = fc.oneof(wrongValue, decodedLike);

test("args - asString, asNumber and asBool of any value: a value of the type or an ArgumentError", () => {
  fc.assert(
    fc.property(arg, fc.option(fc.string({ maxLength: 5 }), { nil: undefined }), (v, dflt) => {
      const s = typedOrValue(() => asString("m.f", "x", v, dflt));
      if (s.ok) assert.equal(typeof s.value, "string");
      else assert.ok(s.err instanceof ArgumentError);
      const n = typedOrValue(() => asNumber("m.f", "x", v, dflt === undefined ? undefined : 1));
      if (n.ok) assert.ok(Number.isFinite(n.value));
      else assert.ok(n.err instanceof ArgumentError);
      const b = typedOrValue(() => asBool("m.f", "x", v, false));
      if (b.ok) assert.equal(typeof b.value, "boolean");
      else assert.ok(b.err instanceof ArgumentError);
    }),
    { numRuns: RUNS * 3 },
  );
});

test("args - regression: a BigInt argument threw a raw TypeError from JSON.stringify", () => {
  // Found by the property above (fc.bigInt in the wrong values): the message of asNumber and
  // asBool used JSON.stringify, which throws on a BigInt. Messages also echoed a 1 MB value whole.
  assert.match(rejects(() => asNumber("m.f", "x", 10n), ArgumentError).message, /must be a number, got 10n/);
  assert.match(rejects(() => asBool("m.f", "x", 10n, false), ArgumentError).message, /must be true or false, got 10n/);
  const long = rejects(() => asNumber("m.f", "x", "y".repeat(1 << 20)), ArgumentError).message;
  assert.ok(long.length < 400, `message of ${long.length} characters`);
});

test("args - param and onlyKwargs with any arguments: a value or an ArgumentError", () => {
  fc.assert(
    fc.property(
      fc.array(arg, { maxLength: 5 }),
      fc.dictionary(fc.string({ maxLength: 10 }), arg, { maxKeys: 5 }),
      fc.string({ maxLength: 10 }),
      fc.option(fc.nat(6), { nil: undefined }),
      fc.array(fc.string({ maxLength: 10 }), { maxLength: 4 }),
      (args, kwargs, name, pos, known) => {
        const v = param(args, kwargs, { name, pos });
        if (Object.prototype.hasOwnProperty.call(kwargs, name)) assert.equal(v, kwargs[name]);
        const r = typedOrValue(() => onlyKwargs("m.f", kwargs, known));
        if (!r.ok) assert.ok(r.err instanceof ArgumentError);
        else assert.ok(Object.keys(kwargs).every((k) => known.includes(k)));
      },
    ),
    { numRuns: RUNS * 2 },
  );
});

test("args - the CLI's argument parser takes any strings without throwing", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.string({ maxLength: 60 }), fc.string({ unit: "binary", maxLength: 60 }), fc.tuple(fc.stringMatching(/^[A-Za-z_]\w{0,8}$/), fc.string({ maxLength: 40 })).map(([k, v]) => `${k}=${v}`), fc.constantFrom("[", "{a: [", "&a [*a]", "!!binary AA==", "a: &x 1", "*x", "- - -", "x=&a [*a]")), { maxLength: 6 }),
      (raw) => {
        const { arg, kwarg } = parseFunArgs(raw);
        assert.ok(Array.isArray(arg));
        assert.equal(typeof kwarg, "object");
      },
    ),
    { numRuns: RUNS * 2 },
  );
});
