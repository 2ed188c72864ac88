// The pure projection: given stream messages, then these rows (or these refusals).
import { test } from "node:test";
import assert from "node:assert/strict";
import { subjects } from "../../contracts/subjects.js";
import { H, seal, type Sealed } from "../../contracts/message.js";
import { encode, decode } from "../../contracts/codec.js";
import type { NatriumEvent } from "../../contracts/events/index.js";
import { ephemeralKeys } from "../../services/common/keys.js";
import { Cast, BASE_TS } from "../../services/jobcache/testkit.js";
import { project, emptyState, type RawMessage, type Trust, type ProjectionState } from "../../services/jobcache/projection.js";

const s = subjects("unit");
const J1 = "20261127080000000001";

function raws(evs: (Sealed | Omit<RawMessage, "seq" | "time">)[], from = 1): RawMessage[] {
  return evs.map((e, i) => {
    const headers = "payload" in e ? e.headers : undefined;
    const rec = headers ? { get: (k: string) => headers[k] ?? "" } : (e as RawMessage).headers;
    return {
      seq: from + i,
      subject: e.subject,
      data: "payload" in e ? e.payload : (e as RawMessage).data,
      headers: rec,
      time: BASE_TS + 1_000_000 + from + i,
    };
  });
}

function setup() {
  const cast = new Cast(s);
  const trust: Trust = { ns: s.ns, masterPub: cast.master.sign.pub };
  return { cast, trust };
}

test("projection - given an accepted key, a job and its return, then a job row, a return row and mirrored events", () => {
  const { cast, trust } = setup();
  const msgs = raws([cast.key("web1", "accepted"), cast.jobNew(J1, ["web1"]), cast.jobRet(J1, "web1", { return: { ok: 1 } }), cast.jobDone(J1, ["web1"], ["web1"])]);
  const p = project(trust, emptyState(), msgs);
  assert.equal(p.lastSeq, 4);
  assert.deepEqual(p.rows.audit, []);
  assert.deepEqual(p.rows.events.map((e) => [e.seq, e.type, e.jid, e.minion]), [
    [1, "key", null, "web1"], [2, "job.new", J1, null], [3, "job.ret", J1, "web1"], [4, "job.done", J1, null],
  ]);
  assert.equal(p.rows.jobs.length, 1);
  assert.deepEqual(p.rows.jobs[0].expected, ["web1"]);
  assert.equal(p.rows.jobs[0].created.getTime(), BASE_TS);
  assert.deepEqual(p.rows.returns.map((r) => [r.jid, r.minion, r.return, r.retcode, r.success, r.seq]), [[J1, "web1", { ok: 1 }, 0, true, 3]]);
  assert.deepEqual(p.rows.done.map((d) => [d.jid, d.doneReason, d.missing]), [[J1, "all_returned", []]]);
  assert.deepEqual(p.rows.minions.map((m) => [m.id, m.keyState]), [["web1", "accepted"]]);
  assert.deepEqual([...p.state.keys.entries()], [["web1", { state: "accepted", pub: cast.minion("web1").sign.pub }]]);
});

test("projection - given a scheduled run's return (no job.new for its jid), then a return row naming the entry and no job row", () => {
  const { cast, trust } = setup();
  const msgs = raws([cast.key("web1", "accepted"), cast.jobRet(J1, "web1", { fun: "status.uptime", return: { seconds: 5 }, schedule: "uptime" }), cast.jobRet("20261127080000000002", "web1")]);
  const p = project(trust, emptyState(), msgs);
  assert.deepEqual(p.rows.audit, []);
  assert.deepEqual(p.rows.jobs, []);
  assert.deepEqual(p.rows.returns.map((r) => [r.jid, r.fun, r.return, r.schedule]), [[J1, "status.uptime", { seconds: 5 }, "uptime"], ["20261127080000000002", "test.echo", "hi", null]]);
  assert.equal((p.rows.events[1]!.body as { schedule?: string }).schedule, "uptime");
});

test("projection - a return before the key is accepted, or after it is deleted, is refused as unknown_signer", () => {
  const { cast, trust } = setup();
  const msgs = raws([
    cast.jobRet(J1, "web1"),
    cast.key("web1", "accepted"),
    cast.key("web1", "deleted"),
    cast.jobRet("20261127080000000002", "web1"),
  ]);
  const p = project(trust, emptyState(), msgs);
  assert.deepEqual(p.rows.audit.map((a) => [a.seq, a.kind, a.origin]), [[1, "unknown_signer", "jobcache"], [4, "unknown_signer", "jobcache"]]);
  assert.equal(p.rows.returns.length, 0);
  assert.equal(p.rows.audit[0].ts.getTime(), BASE_TS + 1_000_001, "a refusal carries the stream's timestamp, not the clock's");
});

test("projection - signatures: another minion's key, a stranger's key, tampered bytes, and the master key for job.new", () => {
  const { cast, trust } = setup();
  const stranger = ephemeralKeys();
  const good = cast.jobRet(J1, "web1");
  const tampered = { ...good, payload: encode({ ...(decode(good.payload) as object), return: "forged" }) };
  const msgs = raws([
    cast.key("web1", "accepted"),
    cast.key("web2", "accepted"),
    cast.jobRet(J1, "web1", {}, cast.minion("web2")), // web2 signs web1's return
    tampered,
    cast.jobNew(J1, ["web1"], {}),
    seal(s.jobNew("20261127080000000003"), decode(cast.jobNew("20261127080000000003", ["web1"]).payload) as NatriumEvent, stranger.sign),
    { ...good, headers: { ...good.headers, [H.sig]: "" } },
  ]);
  const p = project(trust, emptyState(), msgs);
  assert.deepEqual(p.rows.audit.map((a) => [a.seq, a.kind]), [[3, "unknown_signer"], [4, "bad_signature"], [6, "unknown_signer"], [7, "bad_signature"]]);
  assert.deepEqual(p.rows.jobs.map((j) => j.jid), [J1]);
});

test("projection - garbage, unknown types and bodies that disagree with their subject are refused", () => {
  const { cast, trust } = setup();
  const ret = cast.jobRet(J1, "web1");
  const msgs = raws([
    cast.key("web1", "accepted"),
    { subject: ret.subject, data: new Uint8Array([0xc1]), headers: { get: (k: string) => ret.headers[k] ?? "" } },
    { subject: ret.subject, data: ret.payload, headers: { get: (k: string) => (k === H.type ? "nope" : ret.headers[k] ?? "") } },
    { subject: s.jobRet("20261127080000000009", "web1"), data: ret.payload, headers: { get: (k: string) => ret.headers[k] ?? "" } },
    { subject: s.jobNew(J1), data: ret.payload, headers: { get: (k: string) => ret.headers[k] ?? "" } },
    { subject: `${s.ns}.job.${J1}.prog.web1`, data: ret.payload, headers: { get: (k: string) => ret.headers[k] ?? "" } },
    { subject: ret.subject, data: ret.payload, headers: undefined },
  ]);
  const p = project(trust, emptyState(), msgs);
  assert.deepEqual(p.rows.audit.map((a) => [a.seq, a.kind]), [
    [2, "bad_payload"], [3, "bad_payload"], [4, "invalid"], [5, "invalid"], [6, "invalid"], [7, "bad_payload"],
  ]);
  assert.match(p.rows.audit[2].reason, /names job/);
  assert.equal(p.rows.events.length, 1);
});

test("projection - minion start is self-signed; a start with a key other than the accepted one is a key_conflict", () => {
  const { cast, trust } = setup();
  const impostor = ephemeralKeys();
  const msgs = raws([
    cast.minionStart("web1", BASE_TS + 5),
    cast.key("web1", "accepted", BASE_TS + 6),
    cast.minionStart("web1", BASE_TS + 7, impostor),
    cast.minionGrains("web1", { os: "Debian" }, BASE_TS + 8),
    cast.minionStart("web1", BASE_TS + 9),
  ]);
  const p = project(trust, emptyState(), msgs);
  assert.deepEqual(p.rows.audit.map((a) => [a.seq, a.kind]), [[3, "key_conflict"]]);
  assert.equal(p.rows.minions.length, 1, "one merged row per minion per batch");
  const m = p.rows.minions[0];
  assert.deepEqual(
    [m.keyState, m.grains, m.version, m.firstSeen?.getTime(), m.lastSeen?.getTime()],
    ["accepted", { os: "Debian" }, "0.1.0", BASE_TS + 5, BASE_TS + 9],
  );
});

test("projection - re-published events and sequences already projected are skipped; the first in stream order wins", () => {
  const { cast, trust } = setup();
  const accepted = cast.key("web1", "accepted");
  const ret = cast.jobRet(J1, "web1", { return: 1 });
  const msgs = raws([accepted, ret, cast.key("web1", "rejected"), accepted, ret]);
  const p = project(trust, emptyState(), msgs);
  assert.deepEqual(p.rows.events.map((e) => e.seq), [1, 2, 3]);
  assert.equal(p.state.keys.get("web1")?.state, "rejected", "an old key event sent again cannot undo a later one");
  assert.deepEqual(p.rows.audit.map((a) => [a.seq, a.kind]), [[5, "unknown_signer"]], "a copy of a return is checked like any new return");

  const again = project(trust, emptyState(), msgs, { seqs: new Set([1, 2, 3, 4, 5]), eids: new Set() });
  assert.deepEqual(again.rows, { events: [], audit: [], jobs: [], done: [], returns: [], minions: [] });
  assert.equal(again.lastSeq, 5);
});

test("projection - where batch boundaries fall does not change the rows", () => {
  const { cast, trust } = setup();
  const evs: Sealed[] = [cast.key("a", "pending"), cast.minionStart("a", BASE_TS + 1), cast.key("a", "accepted", BASE_TS + 2)];
  evs.push(cast.minionGrains("a", { n: 1 }, BASE_TS + 3), cast.jobNew(J1, ["a", "b"]), cast.jobRet(J1, "a"), cast.jobRet(J1, "b"));
  evs.push(cast.minionGrains("a", { n: 2 }, BASE_TS + 4), cast.jobDone(J1, ["a", "b"], ["a"]), cast.audit("denied", "no"));
  const msgs = raws(evs);
  const whole = project(trust, emptyState(), msgs);
  for (let cut = 1; cut < msgs.length; cut++) {
    const a = project(trust, emptyState(), msgs.slice(0, cut));
    const b = project(trust, a.state, msgs.slice(cut));
    for (const k of ["events", "audit", "jobs", "done", "returns"] as const) {
      assert.deepEqual([...a.rows[k], ...b.rows[k]], whole.rows[k], `${k} with a cut at ${cut}`);
    }
    // The writer's upsert: later non-null fields win, first/last seen are min/max.
    const merged = new Map<string, Record<string, unknown>>();
    for (const m of [...a.rows.minions, ...b.rows.minions]) {
      const prev = merged.get(m.id) ?? {};
      const next: Record<string, unknown> = { ...prev };
      for (const [k, v] of Object.entries(m)) if (v !== undefined && v !== null) next[k] = v;
      if (prev.firstSeen && m.firstSeen) next.firstSeen = (prev.firstSeen as Date) < m.firstSeen ? prev.firstSeen : m.firstSeen;
      if (prev.lastSeen && m.lastSeen) next.lastSeen = (prev.lastSeen as Date) > m.lastSeen ? prev.lastSeen : m.lastSeen;
      merged.set(m.id, next);
    }
    assert.deepEqual([...merged.values()], whole.rows.minions.map((m) => Object.fromEntries(Object.entries(m).filter(([, v]) => v !== undefined))), `minions with a cut at ${cut}`);
    assert.deepEqual(b.state, whole.state);
  }
});

test("projection - the same messages always give the same rows", () => {
  const { cast, trust } = setup();
  const msgs = raws([cast.key("w", "accepted"), cast.jobNew(J1, ["w"]), cast.jobRet(J1, "w"), cast.jobRet(J1, "x")]);
  const state: ProjectionState = emptyState();
  assert.deepEqual(project(trust, state, msgs), project(trust, state, [...msgs].reverse()));
});

test("projection - presence verdicts: the master's set up and last_seen; a minion's own, or a heartbeat in the stream, are refused", () => {
  const { cast, trust } = setup();
  const forged = cast.presence("web1", "up", {}, cast.minion("web1").sign);
  // A heartbeat cannot reach the stream through its own subject; one put on a stream subject by hand is refused.
  const hb = cast.heartbeat("web1");
  const p = project(trust, emptyState(), raws([
    cast.key("web1", "accepted"),
    cast.presence("web1", "up", { last_seen: BASE_TS + 100, ts: BASE_TS + 110 }),
    cast.presence("web1", "down", { last_seen: BASE_TS + 100, ts: BASE_TS + 5000 }),
    forged,
    { subject: s.minionPresence("web1"), data: hb.payload, headers: { get: (k: string) => hb.headers[k] ?? "" } },
  ]));
  assert.deepEqual(p.rows.audit.map((a) => [a.seq, a.kind]), [[4, "unknown_signer"], [5, "invalid"]]);
  assert.deepEqual(p.rows.minions.map((m) => [m.id, m.up, m.presenceChanged?.getTime(), m.lastSeen?.getTime()]), [["web1", false, BASE_TS + 5000, BASE_TS + 100]]);
  assert.deepEqual(p.rows.events.map((e) => e.type), ["key", "minion.presence", "minion.presence"]);
});
