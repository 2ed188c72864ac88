// Attacks on the bus against a running stack (nats-server, Master, two real Minions, the job
// cache on PostgreSQL): commands that are unsigned, signed by a stranger, replayed or expired,
// and returns forged for another minion. Each case checks that nothing ran (a marker file the
// command would create does not exist), that the attempt is audited (an event on
// `{ns}.audit.<kind>` and a row in the job cache's audit table), that no accepted result is
// lost, and that every service still works (a test.ping to all returns and lands in the cache).
// Signed-request attacks on the master's API are in trust.test.ts.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ephemeralKeys } from "../../services/common/keys.js";
import { toHeaders } from "../../services/common/bus.js";
import { encode } from "../../contracts/codec.js";
import { H, seal } from "../../contracts/message.js";
import { eventIds } from "../../contracts/ids.js";
import type { JobReturned } from "../../contracts/events/index.js";
import { startStack, corePublish, type Stack } from "../helpers/stack.js";
import { waitFor } from "../helpers/ports.js";

let st: Stack;
before(async () => {
  st = await startStack();
});
after(async () => {
  await st?.stop();
});

/** A cmd.run that creates `marker` if it ever runs (no shell needed: touch is the program). */
const touch = (marker: string) => ({ fun: "cmd.run", arg: [["touch", marker]], kwarg: { shell: false } });

/** Both minions refused the command on `subject` with `kind` (so they have handled it). */
async function refusedByAll(kind: string, subject: string, reason: RegExp): Promise<void> {
  for (const id of st.ids) {
    const a = await st.busAudit(kind, (a) => a.body.actor === id && a.subject.endsWith(kind) && a.body.subject === subject);
    assert.match(a.body.reason, reason);
    assert.equal(a.signer, st.minions.get(id)!.keys.sign.pub, "the minion signs its own audit events");
    const row = await st.dbAudit(kind, (r) => r.origin === "stream" && r.detail?.actor === id && r.detail?.subject === subject);
    assert.equal(row.reason, a.body.reason);
  }
}

test("attacks - an unsigned command published straight to the job subject runs nowhere", { timeout: 120_000 }, async () => {
  const marker = join(st.dir, "unsigned");
  const body = st.command({ ...touch(marker) });
  const sealed = st.sealCommand(body);
  const { [H.sig]: _sig, [H.signer]: _signer, ...unsigned } = sealed.headers;
  await corePublish(st.nc, { ...sealed, headers: unsigned });
  await refusedByAll("bad_command", sealed.subject, /unreadable command .* is not signed/);
  // The stream holds it (its subject is a stream subject); the job cache refuses it.
  const row = await st.dbAudit("bad_signature", (r) => r.subject === sealed.subject && r.origin === "jobcache");
  assert.match(row.reason, /is not signed/);
  // And with no Natrium headers at all, as raw bytes.
  const raw = { subject: st.s.jobNew(st.command().jid), payload: encode(body), headers: {} };
  await corePublish(st.nc, raw);
  await refusedByAll("bad_command", raw.subject, /has no Natrium-Type header/);
  await st.dbAudit("bad_payload", (r) => r.subject === raw.subject && r.origin === "jobcache");
  assert.equal(existsSync(marker), false, "the unsigned command ran");
  await st.assertHealthy();
});

test("attacks - a command signed by a stranger's key runs nowhere", { timeout: 120_000 }, async () => {
  const marker = join(st.dir, "stranger");
  const stranger = ephemeralKeys();
  const body = st.command({ ...touch(marker) });
  const sealed = st.sealCommand(body, stranger.sign);
  await corePublish(st.nc, sealed);
  await refusedByAll("bad_signature", sealed.subject, /is not signed by the trusted master key/);
  const a = await st.busAudit("bad_signature", (a) => a.body.subject === sealed.subject);
  assert.equal(a.body.detail?.signer, stranger.sign.pub, "the audit names the key that signed");
  const row = await st.dbAudit("unknown_signer", (r) => r.subject === sealed.subject && r.origin === "jobcache");
  assert.match(row.reason, /not the master's/);
  // A minion's own (accepted) key is no better than a stranger's for a command.
  const web1 = st.minions.get("web1")!;
  const byMinion = st.sealCommand(st.command({ ...touch(marker) }), web1.keys.sign);
  await corePublish(st.nc, byMinion);
  await refusedByAll("bad_signature", byMinion.subject, /is not signed by the trusted master key/);
  await st.dbAudit("unknown_signer", (r) => r.subject === byMinion.subject);
  assert.equal(existsSync(marker), false, "the stranger's command ran");
  await st.assertHealthy();
});

test("attacks - a captured command replayed (same bytes, new or no event id) runs at most once per minion", { timeout: 120_000 }, async () => {
  const log = join(st.dir, "replay.log");
  const started = () => st.ids.map((id) => st.minions.get(id)!.minion.stats.started);
  const before = started();
  const r = await st.publish({ tgt: "*", fun: "cmd.run", arg: [["/bin/sh", "-c", `echo ran >> '${log}'`]], kwarg: { shell: false } });
  await st.cachedJob(r.jid, (j) => j.returns.length === 2 && j.done_reason !== null, "both returns of the real job");
  assert.equal(readFileSync(log, "utf8"), "ran\nran\n");

  // Captured from the stream, as anyone with read access to NATS can.
  const m = await st.jsm.streams.getMessage(st.s.stream, { last_by_subj: st.s.jobNew(r.jid) });
  assert.ok(m);
  const headers: Record<string, string> = {};
  for (const k of [H.msgId, H.type, H.signer, H.sig]) headers[k] = m.header.get(k);
  const captured = { subject: m.subject, payload: m.data, headers };

  // 1. The same bytes on core NATS (the stream dedupes it, the minions still receive it).
  await corePublish(st.nc, captured);
  await refusedByAll("replayed_command", captured.subject, new RegExp(`command ${r.jid} was received before`));
  const identical = await st.busAudit("replayed_command", (a) => a.body.subject === captured.subject);
  assert.equal(identical.body.detail?.identical, true);
  // 2. Through JetStream: a duplicate, not stored again.
  const ack = await st.js.publish(captured.subject, captured.payload, { msgID: headers[H.msgId], headers: toHeaders(headers) });
  assert.equal(ack.duplicate, true);
  // 3. With a new event id, so the stream stores it: the id no longer matches the signed body.
  const renamed = { ...captured, headers: { ...headers, [H.msgId]: `${r.jid}.new.again` } };
  const seqBefore = (await st.jsm.streams.info(st.s.stream)).state.last_seq;
  await st.js.publish(renamed.subject, renamed.payload, { msgID: renamed.headers[H.msgId], headers: toHeaders(renamed.headers) });
  assert.ok((await st.jsm.streams.info(st.s.stream)).state.last_seq > seqBefore, "stored as a new message");
  await st.dbAudit("invalid", (r) => r.subject === captured.subject && /Nats-Msg-Id says/.test(r.reason));
  // 4. With no event id at all: stored, opens fine, signature valid; still refused as a replay.
  const { [H.msgId]: _id, ...noId } = headers;
  await corePublish(st.nc, { ...captured, headers: noId });
  await waitFor("two replay refusals per minion", () =>
    st.ids.every((id) => st.busAudits.filter((a) => a.body.kind === "replayed_command" && a.body.actor === id && a.body.subject === captured.subject).length >= 2) || undefined,
  );

  await st.caughtUp();
  assert.deepEqual(started().map((n, i) => n - before[i]), [1, 1], "each minion started the job once");
  assert.equal(readFileSync(log, "utf8"), "ran\nran\n", "the command ran once per minion");
  const jobs = await st.sql`select count(*)::int as n from jobs where jid = ${r.jid}`;
  assert.equal(jobs[0].n, 1);
  const rets = await st.sql`select minion from job_returns where jid = ${r.jid} order by minion`;
  assert.deepEqual(rets.map((x) => x.minion), st.ids);
  await st.assertHealthy();
});

test("attacks - an expired command with a valid signature runs nowhere", { timeout: 120_000 }, async () => {
  const marker = join(st.dir, "expired");
  const old = Date.now() - 120_000;
  const body = st.command({ ...touch(marker), ts: old, expires: old + 60_000 });
  const sealed = st.sealCommand(body);
  await corePublish(st.nc, sealed);
  await refusedByAll("expired_command", sealed.subject, new RegExp(`command ${body.jid} expired at ${new Date(body.expires).toISOString()}`));
  await st.caughtUp();
  assert.equal(existsSync(marker), false, "the expired command ran");
  const rets = await st.sql`select count(*)::int as n from job_returns where jid = ${body.jid}`;
  assert.equal(rets[0].n, 0);
  await st.assertHealthy();
});

test("attacks - returns forged for another minion never enter job_returns, and the real one is not lost", { timeout: 120_000 }, async () => {
  const web1 = st.minions.get("web1")!;
  const stranger = ephemeralKeys();
  // A job on web2 that takes a moment, so the forgeries arrive before the real return.
  const r = await st.publish({ tgt: ["web2"], tgt_type: "list", fun: "test.sleep", arg: [1.5] });
  const forged = (id: string, o: Partial<JobReturned> = {}): JobReturned => ({
    v: 1, type: "job.ret", eid: eventIds.jobRet(r.jid, id), ts: Date.now(), jid: r.jid, id, fun: "test.sleep", fun_args: [1.5],
    return: "forged", retcode: 0, success: true, start: Date.now(), end: Date.now(), duration_ms: 0, ...o,
  });
  const subject = st.s.jobRet(r.jid, "web2");
  // web1's own key signing web2's return, with the real return's event id: JetStream would
  // drop the real return as a duplicate of this one.
  const byWeb1 = seal(subject, forged("web2"), web1.keys.sign);
  await st.js.publish(byWeb1.subject, byWeb1.payload, { msgID: byWeb1.headers[H.msgId], headers: toHeaders(byWeb1.headers) });
  // A stranger's key, another event id.
  const byStranger = seal(subject, forged("web2", { eid: `${r.jid}.ret.web2.x` }), stranger.sign);
  await corePublish(st.nc, byStranger);
  // web1's key and web1's name, on web2's subject.
  const misrouted = seal(subject, forged("web1", { eid: `${r.jid}.ret.web1.x` }), web1.keys.sign);
  await corePublish(st.nc, misrouted);

  // And the job's close, with the real close's event id, claiming web2 never answered.
  const fakeDone = seal(st.s.jobDone(r.jid), {
    v: 1, type: "job.done", eid: eventIds.jobDone(r.jid), ts: Date.now(), jid: r.jid, expected: ["web2"], returned: [], missing: ["web2"], unexpected: [], reason: "timeout",
  }, stranger.sign);
  await st.js.publish(fakeDone.subject, fakeDone.payload, { msgID: fakeDone.headers[H.msgId], headers: toHeaders(fakeDone.headers) });

  // The master refuses them (they must not count towards the job) and says so.
  const m1 = await st.busAudit("bad_signature", (a) => a.body.subject === subject && a.signer === st.masterKeys.sign.pub && /not minion web2's/.test(a.body.reason));
  assert.ok(m1);
  await st.busAudit("bad_return", (a) => a.body.subject === subject && /names web1/.test(a.body.reason));
  // The job cache refuses them too.
  await st.dbAudit("unknown_signer", (row) => row.subject === subject && /not minion "web2"'s/.test(row.reason) && (row.detail as { signer?: string }).signer === web1.keys.sign.pub.slice(0, 64));
  await st.dbAudit("unknown_signer", (row) => row.subject === subject && (row.detail as { signer?: string }).signer === stranger.sign.pub.slice(0, 64));
  await st.dbAudit("invalid", (row) => row.subject === subject && /names minion "web1"/.test(row.reason));
  await st.dbAudit("bad_signature", (row) => row.origin === "stream" && row.detail?.subject === subject && /not minion web2's/.test(row.reason));

  // The real return arrives, is counted, and is the only row.
  const j = await st.cachedJob(r.jid, (j) => j.returns.length >= 1 && j.done_reason !== null, "web2's real return");
  assert.deepEqual(j.returns.map((x) => [x.minion, x.return, x.success]), [["web2", true, true]]);
  assert.equal(j.done_reason, "all_returned", "the master counted the real return, and its close is not lost to the forged one");
  assert.deepEqual(j.missing, []);
  await st.dbAudit("unknown_signer", (row) => row.subject === fakeDone.subject && /not the master's/.test(row.reason));
  const rows = await st.sql`select minion, return from job_returns where jid = ${r.jid}`;
  assert.deepEqual(rows.map((x) => [x.minion, x.return]), [["web2", true]]);

  // A forged return for a closed job: the master no longer tracks it; the job cache refuses it.
  const late = seal(st.s.jobRet(r.jid, "web1"), forged("web1", { eid: `${r.jid}.ret.web1.late` }), stranger.sign);
  await corePublish(st.nc, late);
  await st.dbAudit("unknown_signer", (row) => row.subject === late.subject);
  await st.caughtUp();
  assert.deepEqual((await st.sql`select minion from job_returns where jid = ${r.jid}`).map((x) => x.minion), ["web2"]);
  await st.assertHealthy();
});
