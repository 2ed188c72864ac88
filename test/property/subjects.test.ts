import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { encodeToken, decodeToken, parseSubject, checkJid, checkNamespace, subjects, KeyStates } from "../../contracts/subjects.js";
import { SubjectError } from "../../contracts/errors.js";
import { RUNS, typedOrValue, rejects, HUGE_STRING } from "./hostile.js";

/** Strings of whole code points (no lone surrogates): what a minion id may be. */
const id = fc.string({ unit: "binary", minLength: 1, maxLength: 255 }).filter((s) => s.length <= 255);
/** Any UTF-16: lone surrogates included. */
const utf16 = fc.array(fc.integer({ min: 0, max: 0xffff }), { maxLength: 300 }).map((cs) => String.fromCharCode(...cs));
const anyText = fc.oneof(fc.string({ maxLength: 300 }), fc.string({ unit: "binary", maxLength: 300 }), utf16, fc.constantFrom(HUGE_STRING, "=", "=6", "=61", "=zz", "=GG", "a.b", "*", ">", " "));

test("subjects - encodeToken then decodeToken gives the id back, for any 1-255 character id", () => {
  fc.assert(
    fc.property(id, (s) => {
      const t = encodeToken(s);
      assert.match(t, /^(?:[A-Za-z0-9_-]|=[0-9a-f]{2})+$/);
      assert.equal(decodeToken(t), s);
    }),
    { numRuns: RUNS * 3 },
  );
});

test("subjects - different ids never share a token", () => {
  fc.assert(
    fc.property(id, id, (a, b) => {
      fc.pre(a !== b);
      assert.notEqual(encodeToken(a), encodeToken(b));
    }),
    { numRuns: RUNS },
  );
});

test("subjects - decodeToken of any string: the one id whose token it is, or a SubjectError", () => {
  fc.assert(
    fc.property(anyText, (t) => {
      const r = typedOrValue(() => decodeToken(t));
      if (r.ok) assert.equal(encodeToken(r.value), t, "only canonical tokens decode");
      else assert.ok(r.err instanceof SubjectError);
    }),
    { numRuns: RUNS * 2 },
  );
});

test("subjects - encodeToken of any UTF-16: a token or a SubjectError", () => {
  fc.assert(
    fc.property(fc.oneof(utf16, anyText), (s) => {
      const r = typedOrValue(() => encodeToken(s));
      if (r.ok) assert.equal(decodeToken(r.value), s);
      else assert.ok(r.err instanceof SubjectError);
    }),
    { numRuns: RUNS * 2 },
  );
});

test("subjects - regression: a lone surrogate and U+FFFD shared one token", () => {
  // Found by the roundtrip property over UTF-16: Buffer writes U+FFFD for a lone surrogate, so
  // "\ud800" and "\ufffd" both encoded to =ef=bf=bd: two minion ids on one subject and KV key.
  assert.equal(encodeToken("\ufffd"), "=ef=bf=bd");
  for (const bad of ["\ud800", "web\udfff1", "\udc00\ud800", "a".repeat(254) + "\ud83d"]) {
    assert.match(rejects(() => encodeToken(bad), SubjectError).message, /lone UTF-16 surrogate/);
  }
  assert.equal(decodeToken(encodeToken("\ud83d\ude00")), "\ud83d\ude00"); // a pair is fine
});

test("subjects - checkNamespace and checkJid: the value back, or a SubjectError", () => {
  fc.assert(
    fc.property(anyText, (s) => {
      const ns = typedOrValue(() => checkNamespace(s));
      if (ns.ok) assert.match(ns.value, /^[a-z][a-z0-9_-]{0,31}$/);
      else assert.ok(ns.err instanceof SubjectError);
      const jid = typedOrValue(() => checkJid(s));
      if (jid.ok) assert.match(jid.value, /^\d{20}$/);
      else assert.ok(jid.err instanceof SubjectError);
      const b = typedOrValue(() => subjects(s));
      if (!b.ok) assert.ok(b.err instanceof SubjectError);
    }),
    { numRuns: RUNS * 2 },
  );
});

test("subjects - parseSubject of any string never throws", () => {
  fc.assert(
    fc.property(
      fc.oneof(anyText, fc.array(fc.oneof(fc.constantFrom("prop", "job", "ret", "prog", "new", "done", "minion", "start", "grains", "key", "accepted", "audit", "20261127082615123456", "=ff", "=61"), anyText), { maxLength: 6 }).map((t) => t.join("."))),
      (subject) => {
        parseSubject("prop", subject);
      },
    ),
    { numRuns: RUNS * 2 },
  );
});

test("subjects - parseSubject reads back what the builders write, for any id", () => {
  const s = subjects("prop");
  const jid = fc.stringMatching(/^\d{20}$/);
  fc.assert(
    fc.property(id, jid, fc.constantFrom(...KeyStates), fc.stringMatching(/^[a-z][a-z0-9_]{0,63}$/), (m, j, state, kind) => {
      assert.deepEqual(parseSubject("prop", s.jobNew(j)), { kind: "job.new", jid: j });
      assert.deepEqual(parseSubject("prop", s.jobDone(j)), { kind: "job.done", jid: j });
      assert.deepEqual(parseSubject("prop", s.jobRet(j, m)), { kind: "job.ret", jid: j, minion: m });
      assert.deepEqual(parseSubject("prop", s.jobProg(j, m)), { kind: "job.prog", jid: j, minion: m });
      assert.deepEqual(parseSubject("prop", s.minionStart(m)), { kind: "minion.start", minion: m });
      assert.deepEqual(parseSubject("prop", s.minionGrains(m)), { kind: "minion.grains", minion: m });
      assert.deepEqual(parseSubject("prop", s.key(m, state)), { kind: "key", minion: m, state });
      assert.deepEqual(parseSubject("prop", s.audit(kind)), { kind: "audit", auditKind: kind });
      assert.equal(parseSubject("other", s.jobRet(j, m)), undefined);
    }),
    { numRuns: RUNS },
  );
});
