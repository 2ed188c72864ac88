// Target parsing and matching. pcre is only compiled here, never matched: its engine is being
// replaced by a linear-time one elsewhere, and timing is that work's business.

import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { checkTarget, matches, globToRegExp, globMatch, listOf, grainLookup, TargetError, parseCompound, formatCompound, CompoundTargetError, NodegroupTargetError } from "../../services/common/target.js";
import { TargetTypes } from "../../contracts/events/job.js";
import { RUNS, typedOrValue, wrongValue, decodedLike } from "./hostile.js";

// Globs of few stars: globToRegExp compiles '*' to a backtracking [\s\S]*, so many stars against
// a long id take exponential time (reported, not fixed here: target.ts is being reworked).
const globChar = fc.constantFrom<string>("a", "b", ".", "-", "?", "[", "]", "!", "^", "\\", "/", "(", ")", "$", "|", "+", "{", "}", "z-a", "a-z", ":");
const glob = fc.tuple(fc.array(globChar, { maxLength: 12 }), fc.nat(2), fc.nat(12)).map(([cs, stars, at]) => {
  const out = [...cs];
  for (let i = 0; i < stars; i++) out.splice(Math.min(at + i, out.length), 0, "*");
  return out.join("");
});
const text = fc.oneof(glob, fc.string({ maxLength: 40 }), fc.string({ unit: "binary", maxLength: 40 }));

test("target - checkTarget of any value and type: fine or a TargetError", () => {
  fc.assert(
    fc.property(fc.oneof(text, wrongValue, fc.array(fc.string({ maxLength: 20 }), { maxLength: 5 })), fc.constantFrom(...TargetTypes), (tgt, type) => {
      const r = typedOrValue(() => checkTarget(tgt as string, type));
      if (!r.ok) assert.ok(r.err instanceof TargetError, `${r.err.name}: ${r.err.message}`);
    }),
    { numRuns: RUNS * 3 },
  );
});

test("target - glob, list and grain matching of any target, id and grains return a boolean", () => {
  fc.assert(
    fc.property(
      fc.oneof(text, fc.array(fc.string({ maxLength: 20 }), { maxLength: 5 })),
      fc.constantFrom("glob", "list", "grain" as const),
      fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: "binary", maxLength: 40 })),
      fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom("os", "a", "__proto__", "constructor")), decodedLike, { maxKeys: 5 }),
      (tgt, type, id, grains) => {
        assert.equal(typeof matches(tgt, type, id, grains as Record<string, unknown>), "boolean");
      },
    ),
    { numRuns: RUNS * 3 },
  );
});

test("target - a valid glob matches what fnmatch does for literal ids; an invalid one matches nothing", () => {
  fc.assert(
    fc.property(fc.stringMatching(/^[A-Za-z0-9_.-]{1,30}$/), (id) => {
      assert.equal(globMatch(id, id), true); // no special characters: matches itself
      assert.equal(globMatch("*", id), true);
      assert.equal(matches([id], "list", id, {}), true);
      assert.equal(matches(id, "list", id, {}), true);
    }),
    { numRuns: RUNS },
  );
  fc.assert(
    fc.property(glob, fc.string({ maxLength: 30 }), (g, id) => {
      const r = typedOrValue(() => globToRegExp(g));
      if (!r.ok) assert.equal(globMatch(g, id), false);
    }),
    { numRuns: RUNS },
  );
});

test("target - listOf and grainLookup of any input never throw", () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 60 }), fc.array(fc.string({ maxLength: 10 }))), decodedLike, fc.string({ maxLength: 30 }), (tgt, grains, path) => {
      assert.ok(Array.isArray(listOf(tgt)));
      grainLookup(grains as Record<string, unknown>, path);
    }),
    { numRuns: RUNS },
  );
});

test("target - a glob with many stars against a long id finishes", () => {
  // Found while writing the glob generator: '*' became [\s\S]* in a backtracking engine, and
  // 12 of them against 60 characters ran for ~6 minutes. Globs now run on RE2 (linear time).
  assert.equal(globMatch("*a".repeat(12) + "b", "a".repeat(60)), false);
});

// ---- compound targets: any sequence of words, operators and parentheses -----------------------

const compoundWord = fc.constantFrom(
  "web*", "db1", "*", "G@os:Debian", "G@roles:web", "P@os:deb", "L@web1,db1", "E@web\\d", "S@10.0.0.0/8", "S@::1",
  "and", "or", "not", "(", ")", "((", "))", "(web1", "db1)", "E@w(e|x)b", "E@(", "G@os", "Q@x", "S@1.2.3.4/8", "N@g", "",
);
const compoundExpr = fc.array(compoundWord, { maxLength: 25 }).map((ws) => ws.join(" "));
const compoundGrains = fc.record({ os: fc.constantFrom("Debian", "Ubuntu"), roles: fc.constantFrom(["web"], ["db"], []), ipv4: fc.constantFrom(["10.0.0.1"], ["192.168.1.1"]) });

test("target - compound: any expression parses to a tree or is a CompoundTargetError; its formatting selects the same", () => {
  fc.assert(
    fc.property(compoundExpr, fc.constantFrom("web1", "web2", "db1", "x"), compoundGrains, (expr, id, grains) => {
      const r = typedOrValue(() => parseCompound(expr));
      if (!r.ok) {
        assert.ok(r.err instanceof CompoundTargetError, `${r.err.name}: ${r.err.message}`);
        assert.ok(r.err.position >= 0 && r.err.position <= expr.length);
        return;
      }
      const text = formatCompound(r.value);
      const again = parseCompound(text);
      assert.equal(formatCompound(again), text);
      const ev = (t: string) => typedOrValue(() => matches(t, "compound", id, grains));
      const a = ev(expr);
      const b = ev(text);
      assert.equal(a.ok, b.ok);
      if (a.ok && b.ok) assert.equal(a.value, b.value, `${expr} vs ${text}`);
      else if (!a.ok) assert.ok(a.err instanceof NodegroupTargetError, String(a.err));
    }),
    { numRuns: RUNS * 3 },
  );
});

test("target - compound: any nesting of parentheses and not is refused past the cap, never a stack overflow", () => {
  fc.assert(
    fc.property(fc.array(fc.constantFrom("(", "( ", "not ", "not(", "(not "), { minLength: 1, maxLength: 400 }), (opens) => {
      const closes = opens.filter((o) => o.includes("(")).length;
      const expr = opens.join("") + " web1 " + ")".repeat(closes);
      const r = typedOrValue(() => parseCompound(expr));
      if (!r.ok) assert.ok(r.err instanceof CompoundTargetError && /at most 64 levels|expected/.test(r.err.message), String(r.err));
    }),
    { numRuns: RUNS },
  );
});
