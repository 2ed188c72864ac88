import { test } from "node:test";
import assert from "node:assert/strict";
import { seal, open, openAs, verifyAs, H, type Sealed } from "../../contracts/message.js";
import { encode } from "../../contracts/codec.js";
import { signingKeyFromSeed } from "../../contracts/sign.js";
import { subjects } from "../../contracts/subjects.js";
import { eventIds } from "../../contracts/ids.js";
import { DecodeError, SignatureError, ValidationError, NatriumError } from "../../contracts/errors.js";
import type { JobReturned, JobPublished, NatriumEvent } from "../../contracts/events/index.js";

const s = subjects("t1");
const J = "20261127082615123456";
const master = signingKeyFromSeed(new Uint8Array(32).fill(1));
const minion = signingKeyFromSeed(new Uint8Array(32).fill(2));
const other = signingKeyFromSeed(new Uint8Array(32).fill(3));

const ret: JobReturned = {
  v: 1, type: "job.ret", eid: eventIds.jobRet(J, "web1"), ts: 1795767975153,
  jid: J, id: "web1", fun: "test.ping", fun_args: [], return: true, retcode: 0, success: true,
  start: 1795767975133, end: 1795767975145, duration_ms: 12,
};
const cmd: JobPublished = {
  v: 1, type: "job.new", eid: eventIds.jobNew(J), ts: 1795767975123, jid: J, fun: "test.ping", arg: [], kwarg: {},
  tgt: "*", tgt_type: "glob", user: "admin", master: "m1", minions: ["web1"], timeout: 5, expires: 1795767985123, ret: [],
};

const hdrs = (h: Record<string, string>) => ({ get: (k: string) => h[k] ?? "" });
const sealedRet = () => seal(s.jobRet(J, "web1"), ret, minion);

/** Re-sign a modified body, so only the property under test is wrong. */
function resealed(body: unknown, subject = s.jobRet(J, "web1"), key = minion): Sealed {
  return seal(subject, body as NatriumEvent, key);
}

function expectErr<E extends NatriumError>(cls: new (...a: never[]) => E, fn: () => unknown, re?: RegExp): E {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof cls, `expected ${cls.name}, got ${caught === undefined ? "no error" : String(caught)}`);
  if (re) assert.match((caught as Error).message, re);
  return caught as E;
}

test("message - seal and open round trip, and verifyAs accepts the right signer", () => {
  const m = sealedRet();
  assert.deepEqual(Object.keys(m.headers).sort(), ["Natrium-Sig", "Natrium-Signer", "Natrium-Type", "Nats-Msg-Id"]);
  assert.equal(m.headers[H.msgId], ret.eid);
  assert.equal(m.headers[H.type], "job.ret");
  assert.equal(m.headers[H.signer], minion.pub);
  const o = open(m.subject, m.payload, hdrs(m.headers));
  assert.deepEqual(o.body, ret);
  assert.equal(o.signer, minion.pub);
  verifyAs(o, minion.pub, "minion web1");
  const typed = openAs("job.ret", m.subject, m.payload, hdrs(m.headers));
  assert.equal(typed.body.id, "web1");
});

test("message - an optional field left undefined is the same message as one left out", () => {
  const a = seal(s.jobRet(J, "web1"), { ...ret, error: undefined }, minion);
  const b = sealedRet();
  assert.deepEqual(a.payload, b.payload);
  assert.equal(a.headers[H.sig], b.headers[H.sig]);
});

test("message - missing headers give typed errors", () => {
  const m = sealedRet();
  const without = (k: string) => {
    const { [k]: _, ...rest } = m.headers;
    return hdrs(rest);
  };
  expectErr(DecodeError, () => open(m.subject, m.payload, undefined), /no Natrium-Type header/);
  expectErr(DecodeError, () => open(m.subject, m.payload, without(H.type)), /no Natrium-Type header/);
  expectErr(SignatureError, () => open(m.subject, m.payload, without(H.signer)), /not signed/);
  expectErr(SignatureError, () => open(m.subject, m.payload, without(H.sig)), /not signed/);
  // Nats-Msg-Id is optional on read (eid is inside the signed body); when present it must agree
  const o = open(m.subject, m.payload, without(H.msgId));
  verifyAs(o, minion.pub, "minion");
});

test("message - an unknown type is refused, and the message names the subject", () => {
  const m = sealedRet();
  const e = expectErr(DecodeError, () => open(m.subject, m.payload, hdrs({ ...m.headers, [H.type]: "job.bogus" })), /unknown type "job.bogus"/);
  assert.equal(e.subject, m.subject);
  assert.match(e.message, new RegExp(m.subject.replace(/\./g, "\\.")));
  expectErr(DecodeError, () => open(m.subject, m.payload, hdrs({ ...m.headers, [H.type]: "__proto__" })), /unknown type/);
  expectErr(DecodeError, () => open(m.subject, m.payload, hdrs({ ...m.headers, [H.type]: "toString" })), /unknown type/);
});

test("message - body type and header type disagreeing is refused", () => {
  const m = sealedRet();
  const e = expectErr(ValidationError, () => open(m.subject, m.payload, hdrs({ ...m.headers, [H.type]: "job.new" })));
  assert.ok(e.problems.some((p) => p.path === "/type"), JSON.stringify(e.problems));
  expectErr(DecodeError, () => openAs("job.new", m.subject, m.payload, hdrs(m.headers)), /expected a job.new event/);
});

test("message - Nats-Msg-Id disagreeing with the body's eid is refused", () => {
  const m = sealedRet();
  const e = expectErr(ValidationError, () => open(m.subject, m.payload, hdrs({ ...m.headers, [H.msgId]: "something.else" })));
  assert.deepEqual(e.problems.map((p) => p.path), ["/eid"]);
});

test("message - payloads that are not msgpack, or not a map, are refused", () => {
  const m = sealedRet();
  const h = hdrs(m.headers);
  expectErr(DecodeError, () => open(m.subject, new Uint8Array(0), h), /empty payload/);
  expectErr(DecodeError, () => open(m.subject, m.payload.subarray(0, 10), h), /not valid msgpack/);
  expectErr(ValidationError, () => open(m.subject, encode([1, 2, 3]), h));
  expectErr(ValidationError, () => open(m.subject, encode("job.ret"), h));
  expectErr(ValidationError, () => open(m.subject, encode(null), h));
});

test("message - invalid bodies give ValidationError naming each bad field", () => {
  const cases: [string, unknown, string][] = [
    ["missing field", { ...ret, retcode: undefined }, "/retcode"],
    ["wrong type", { ...ret, success: "yes" }, "/success"],
    ["float retcode", { ...ret, retcode: 0.5 }, "/retcode"],
    ["negative ts", { ...ret, ts: -1 }, "/ts"],
    ["bad jid", { ...ret, jid: "123" }, "/jid"],
    ["empty minion id", { ...ret, id: "" }, "/id"],
    ["unknown field", { ...ret, extra: 1 }, "/extra"],
    ["unknown version", { ...ret, v: 2 }, "/v"],
    ["bad error object", { ...ret, error: { code: "x" } }, "/error/message"],
  ];
  for (const [what, body, path] of cases) {
    const m = resealed(body);
    const e = expectErr(ValidationError, () => open(m.subject, m.payload, hdrs(m.headers)));
    assert.ok(e.problems.some((p) => p.path === path), `${what}: ${JSON.stringify(e.problems)}`);
    assert.equal(e.code, "invalid");
    assert.match(e.message, /job\.ret event is invalid/);
  }
  const badFun = resealed({ ...cmd, fun: "rm -rf /" }, s.jobNew(J), master);
  expectErr(ValidationError, () => open(badFun.subject, badFun.payload, hdrs(badFun.headers)), /\/fun/);
  const badTgt = resealed({ ...cmd, tgt_type: "range" }, s.jobNew(J), master);
  expectErr(ValidationError, () => open(badTgt.subject, badTgt.payload, hdrs(badTgt.headers)), /\/tgt_type/);
});

test("message - verifyAs refuses a signer that is not the expected one", () => {
  const m = sealedRet();
  const o = open(m.subject, m.payload, hdrs(m.headers));
  const e = expectErr(SignatureError, () => verifyAs(o, master.pub, "the master"), /not the master's/);
  assert.equal(e.signer, minion.pub);
  // a header that names the expected key over someone else's signature
  const forged = seal(m.subject, ret, other);
  const o2 = open(m.subject, forged.payload, hdrs({ ...forged.headers, [H.signer]: minion.pub }));
  expectErr(SignatureError, () => verifyAs(o2, minion.pub, "minion web1"), /does not verify/);
  // a message moved to another subject
  const moved = open(s.jobRet(J, "web2"), m.payload, hdrs(m.headers));
  expectErr(SignatureError, () => verifyAs(moved, minion.pub, "minion web1"), /does not verify/);
});

test("message - every event type seals and opens", () => {
  const bodies: [string, NatriumEvent, typeof master][] = [
    [s.jobNew(J), cmd, master],
    [s.jobRet(J, "web1"), ret, minion],
    [s.jobDone(J), { v: 1, type: "job.done", eid: eventIds.jobDone(J), ts: 1, jid: J, expected: ["a"], returned: ["a"], missing: [], unexpected: [], reason: "all_returned" }, master],
    [s.minionStart("web1"), { v: 1, type: "minion.start", eid: "s.1", ts: 1, id: "web1", pub: minion.pub, box_pub: other.pub, version: "0", pid: 1, host: "h" }, minion],
    [s.minionGrains("web1"), { v: 1, type: "minion.grains", eid: "g.1", ts: 1, id: "web1", grains: { os: "Debian" } }, minion],
    [s.key("web1", "accepted"), { v: 1, type: "key", eid: "k.1", ts: 1, id: "web1", state: "accepted", pub: minion.pub, finger: "x", by: "admin" }, master],
    [s.audit("denied"), { v: 1, type: "audit", eid: "a.1", ts: 1, kind: "denied", reason: "no" }, master],
  ];
  for (const [subject, body, key] of bodies) {
    const m = seal(subject, body, key);
    const o = open(subject, m.payload, hdrs(m.headers));
    assert.deepEqual(o.body, body, body.type);
    verifyAs(o, key.pub, "signer");
  }
});
