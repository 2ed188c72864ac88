import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { formatJid, jidToMicros, jidToDate, newJid } from "../../contracts/jid.js";
import { SubjectError } from "../../contracts/errors.js";
import { RUNS, typedOrValue } from "./hostile.js";

const MAX_MICROS = BigInt(Date.UTC(9999, 11, 31, 23, 59, 59)) * 1000n + 999_999n;

test("jid - formatJid then jidToMicros gives the time back, from 1970 to 9999", () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: MAX_MICROS }), (m) => {
      const j = formatJid(m);
      assert.match(j, /^\d{20}$/);
      assert.equal(jidToMicros(j), m);
    }),
    { numRuns: RUNS * 2 },
  );
});

test("jid - jidToMicros and jidToDate of any string: a time or a SubjectError, never a RangeError", () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 30 }), fc.stringMatching(/^\d{20}$/)), (s) => {
      const r = typedOrValue(() => jidToMicros(s));
      if (r.ok) {
        assert.equal(typeof r.value, "bigint");
        assert.ok(!Number.isNaN(jidToDate(s).getTime()));
      } else assert.ok(r.err instanceof SubjectError);
    }),
    { numRuns: RUNS * 2 },
  );
});

test("jid - newJid strictly increases, and newJid(after) is later than after", () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: MAX_MICROS - 10_000_000n }), (m) => {
      const after = formatJid(m);
      const a = newJid(after);
      const b = newJid();
      assert.ok(jidToMicros(a) > m);
      assert.ok(b > a);
    }),
    { numRuns: RUNS },
  );
});
