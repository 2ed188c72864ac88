// The job cache against a real nats-server and a real PostgreSQL (and embedded PGlite): what it
// projects, what it refuses, that it never duplicates, and that a rebuild gives the same rows.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import { startNats, type NatsServer } from "../helpers/nats.js";
import { startPostgres, type PgServer } from "../helpers/postgres.js";
import { freePort, waitFor } from "../helpers/ports.js";
import { ROOT } from "../helpers/cli.js";
import { subjects, type Subjects } from "../../contracts/subjects.js";
import { H, seal, type Sealed } from "../../contracts/message.js";
import { decode, encode } from "../../contracts/codec.js";
import type { NatriumEvent } from "../../contracts/events/index.js";
import { RemoteError } from "../../contracts/errors.js";
import type { JobReply, JobsReply, RebuildReply, StatusReply } from "../../contracts/api.js";
import { connectBus, ensureBuckets, ensureStream, request, toHeaders } from "../../services/common/bus.js";
import { ephemeralKeys } from "../../services/common/keys.js";
import { runJobcache } from "../../services/jobcache/main.js";
import { Cast, publishAll, BASE_TS } from "../../services/jobcache/testkit.js";
import { openStore } from "../../services/jobcache/store.js";
import { createLogger } from "../../services/common/log.js";

const MAIN = fileURLToPath(new URL("../../services/jobcache/main.js", import.meta.url));
const J = (n: number) => `2026112708000000${String(n).padStart(4, "0")}`;

let nats: NatsServer;
let pg: PgServer;
before(async () => {
  [nats, pg] = await Promise.all([startNats(), startPostgres()]);
});
after(async () => {
  await Promise.all([nats?.stop(), pg?.stop()]);
});

/** A database of its own for one test, on the shared server. */
async function freshDatabase(): Promise<{ url: string; sql: postgres.Sql; drop(): Promise<void> }> {
  const name = `jc_${randomBytes(6).toString("hex")}`;
  const admin = postgres(pg.url, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = pg.url.replace(/\/postgres$/, `/${name}`);
  const sql = postgres(url, { max: 2, onnotice: () => {} });
  return {
    url,
    sql,
    async drop() {
      await sql.end();
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

interface Env {
  ns: string;
  s: Subjects;
  nc: NatsConnection;
  js: JetStreamClient;
  cast: Cast;
  dir: string;
  close(): Promise<void>;
}

/** A fresh namespace with its stream and buckets, as the master would leave them. */
async function freshNamespace(): Promise<Env> {
  const ns = `jc${randomBytes(4).toString("hex")}`;
  const s = subjects(ns);
  const nc = await connectBus({ url: nats.url, name: "jobcache-test" });
  await ensureStream(await jetstreamManager(nc), s, { maxAgeSec: 0, replicas: 1, dedupeSec: 2 });
  await ensureBuckets(nc, s);
  const cast = new Cast(s);
  await cast.putMasterKey(nc);
  const dir = mkdtempSync(join(tmpdir(), "natrium-jobcache-"));
  return {
    ns, s, nc, js: jetstream(nc), cast, dir,
    async close() {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete(s.stream).catch(() => {});
      await nc.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The job cache in this process; stop() is what SIGTERM does. */
function startJobcache(env: Env, overrides: Record<string, unknown>): { stop(): Promise<void>; done: Promise<void> } {
  const ac = new AbortController();
  const done = runJobcache({
    overrides: { nats_url: nats.url, ns: env.ns, data_dir: env.dir, log_level: "error", batch_wait_ms: 5, ...overrides },
    signal: ac.signal,
  });
  return { done, stop: async () => { ac.abort(); await done; } };
}

async function caughtUp(env: Env): Promise<StatusReply> {
  return waitFor("the job cache to catch up with the stream", async () => {
    const st = await request<StatusReply>(env.nc, env.s.cache("status"), {}, 5000).catch(() => undefined);
    return st && st.stream_last_seq > 0 && st.last_seq === st.stream_last_seq ? st : undefined;
  }, 120_000, 50);
}

/** Minions, keys, three jobs with returns and closes, plus refusals that are part of normal life. */
function history(cast: Cast): Sealed[] {
  const evs: Sealed[] = [];
  for (const id of ["web1", "web2", "db1"]) evs.push(cast.key(id, "pending", BASE_TS));
  for (const id of ["web1", "web2", "db1"]) {
    evs.push(cast.minionStart(id, BASE_TS + 1));
    evs.push(cast.minionGrains(id, { os: "Debian", id }, BASE_TS + 2)); // before acceptance: refused
    evs.push(cast.key(id, "accepted", BASE_TS + 3));
    evs.push(cast.minionGrains(id, { os: "Debian", id, roles: [id.slice(0, 3)] }, BASE_TS + 4));
  }
  const all = ["web1", "web2", "db1"];
  evs.push(cast.jobNew(J(1), all, { ts: BASE_TS + 100, fun: "test.ping", arg: [] }));
  evs.push(cast.jobRet(J(1), "web1", { fun: "test.ping", fun_args: [], return: true, start: BASE_TS + 110 }));
  evs.push(cast.jobRet(J(1), "web2", { fun: "test.ping", fun_args: [], return: true, start: BASE_TS + 111 }));
  evs.push(cast.jobRet(J(1), "db1", { fun: "test.ping", fun_args: [], return: { err: "boom" }, retcode: 1, success: false, start: BASE_TS + 112 }));
  evs.push(cast.jobDone(J(1), all, all, { ts: BASE_TS + 120 }));
  evs.push(cast.jobNew(J(2), all, { ts: BASE_TS + 200, fun: "cmd.run", arg: ["uptime"], tgt: ["web1", "web2", "db1"], tgt_type: "list" }));
  evs.push(cast.jobRet(J(2), "web1", { fun: "cmd.run", return: "up 3 days", start: BASE_TS + 210 }));
  evs.push(cast.jobRet(J(2), "web2", { fun: "cmd.run", return: "up 4 days", start: BASE_TS + 211 }));
  evs.push(cast.jobDone(J(2), all, ["web1", "web2"], { ts: BASE_TS + 220 }));
  evs.push(cast.jobNew(J(3), ["web1", "web2"], { ts: BASE_TS + 300, fun: "test.echo", arg: ["hi"], tgt: "web*" }));
  evs.push(cast.jobRet(J(3), "web1", { start: BASE_TS + 310, error: undefined }));
  evs.push(cast.key("web2", "deleted", BASE_TS + 320));
  evs.push(cast.jobRet(J(3), "web2", { start: BASE_TS + 330 })); // key deleted: refused
  evs.push(cast.jobRet(J(3), "rogue", { start: BASE_TS + 340 })); // never accepted: refused
  evs.push(cast.audit("denied", "alice may not run cmd.run on db1", BASE_TS + 400));
  return evs;
}

/** Every projection table, ordered by its key, as plain JSON. */
async function snapshot(sql: postgres.Sql): Promise<Record<string, unknown[]>> {
  const q = {
    jobs: sql`select * from jobs order by jid`,
    job_returns: sql`select * from job_returns order by jid, minion`,
    events: sql`select * from events order by seq`,
    minions: sql`select * from minions order by id`,
    audit: sql`select * from audit order by seq`,
    projection: sql`select * from projection order by stream`,
  };
  const out: Record<string, unknown[]> = {};
  for (const [k, v] of Object.entries(q)) out[k] = JSON.parse(JSON.stringify(await v));
  return out;
}

async function checkHistory(env: Env): Promise<void> {
  const list = await request<JobsReply>(env.nc, env.s.cache("jobs"), { limit: 10 }, 5000);
  assert.deepEqual(list.jobs.map((j) => j.jid), [J(3), J(2), J(1)], "newest first");
  const [j3, j2, j1] = list.jobs;
  assert.deepEqual({ e: j1.expected, r: j1.returned, f: j1.failed, fin: j1.finished }, { e: 3, r: 3, f: 1, fin: BASE_TS + 120 });
  assert.deepEqual({ e: j2.expected, r: j2.returned, f: j2.failed }, { e: 3, r: 2, f: 0 });
  assert.deepEqual({ e: j3.expected, r: j3.returned, fin: j3.finished }, { e: 2, r: 1, fin: null });
  assert.deepEqual(j2.tgt, ["web1", "web2", "db1"]);

  const one = await request<JobReply>(env.nc, env.s.cache("job"), { jid: J(1) }, 5000);
  assert.equal(one.job.fun, "test.ping");
  assert.deepEqual(one.minions, ["web1", "web2", "db1"]);
  assert.deepEqual(one.missing, []);
  assert.equal(one.done_reason, "all_returned");
  assert.deepEqual(one.returns.map((r) => [r.minion, r.success, r.retcode, r.return, r.duration_ms]), [
    ["db1", false, 1, { err: "boom" }, 5],
    ["web1", true, 0, true, 5],
    ["web2", true, 0, true, 5],
  ]);
  assert.equal(one.returns[0].start, BASE_TS + 112);
  const two = await request<JobReply>(env.nc, env.s.cache("job"), { jid: J(2) }, 5000);
  assert.deepEqual(two.missing, ["db1"]);
  assert.equal(two.done_reason, "timeout");
  const three = await request<JobReply>(env.nc, env.s.cache("job"), { jid: J(3) }, 5000);
  assert.deepEqual(three.missing, ["web2"], "open job: expected minus returned");
  assert.equal(three.done_reason, null);

  const failed = await request<JobsReply>(env.nc, env.s.cache("jobs"), { failed: true }, 5000);
  assert.deepEqual(failed.jobs.map((j) => j.jid), [J(1)]);
  const byFun = await request<JobsReply>(env.nc, env.s.cache("jobs"), { fun: "cmd.run" }, 5000);
  assert.deepEqual(byFun.jobs.map((j) => j.jid), [J(2)]);
  const byMinion = await request<JobsReply>(env.nc, env.s.cache("jobs"), { minion: "db1" }, 5000);
  assert.deepEqual(byMinion.jobs.map((j) => j.jid), [J(1)]);
  const page = await request<JobsReply>(env.nc, env.s.cache("jobs"), { before: J(3), limit: 1 }, 5000);
  assert.deepEqual(page.jobs.map((j) => j.jid), [J(2)]);

  await assert.rejects(
    request(env.nc, env.s.cache("job"), { jid: J(99) }, 5000),
    (e: unknown) => e instanceof RemoteError && e.code === "not_found" && /not in the job cache/.test(e.message),
  );
  await assert.rejects(
    request(env.nc, env.s.cache("jobs"), { limit: 0 }, 5000),
    (e: unknown) => e instanceof RemoteError && e.code === "invalid",
  );
}

test("jobcache - postgres: projects jobs, returns, closes, keys and minions, and answers history queries", { timeout: 300_000 }, async () => {
  const env = await freshNamespace();
  const db = await freshDatabase();
  const jc = startJobcache(env, { database_url: db.url });
  try {
    await publishAll(env.js, history(env.cast));
    const st = await caughtUp(env);
    assert.equal(st.store, "postgres");
    assert.deepEqual({ jobs: st.jobs, returns: st.returns, minions: st.minions }, { jobs: 3, returns: 6, minions: 3 });
    await checkHistory(env);

    const minions = await db.sql`select id, key_state, grains, version, host, first_seen, last_seen from minions order by id`;
    assert.deepEqual(minions.map((m) => [m.id, m.key_state]), [["db1", "accepted"], ["web1", "accepted"], ["web2", "deleted"]]);
    assert.deepEqual(minions[0].grains, { os: "Debian", id: "db1", roles: ["db1"] }, "grains after acceptance");
    assert.equal(minions[1].version, "0.1.0");
    assert.equal(new Date(minions[1].first_seen).getTime(), BASE_TS + 1);
    assert.equal(new Date(minions[1].last_seen).getTime(), BASE_TS + 4);

    const audits = await db.sql`select kind, origin, subject from audit order by seq`;
    assert.deepEqual(audits.map((a) => `${a.origin}:${a.kind}`), [
      "jobcache:unknown_signer", "jobcache:unknown_signer", "jobcache:unknown_signer", // grains before acceptance
      "jobcache:unknown_signer", // web2 after its key was deleted
      "jobcache:unknown_signer", // rogue
      "stream:denied",
    ]);
    const [{ n: eventsN }] = await db.sql`select count(*)::int as n from events`;
    assert.equal(eventsN, st.stream_last_seq - 5, "every valid event is mirrored; refused ones are not");
    const salt = await db.sql`select id, success, fun from salt_returns where jid = ${J(1)} order by id`;
    assert.deepEqual(salt.map((r) => [r.id, r.success, r.fun]), [["db1", "False", "test.ping"], ["web1", "True", "test.ping"], ["web2", "True", "test.ping"]]);
  } finally {
    await jc.stop();
    await db.drop();
    await env.close();
  }
});

test("jobcache - redelivery and re-published events never duplicate a row", { timeout: 300_000 }, async () => {
  const env = await freshNamespace();
  const db = await freshDatabase();
  let jc = startJobcache(env, { database_url: db.url, batch_size: 7 });
  try {
    const evs = history(env.cast);
    await publishAll(env.js, evs);
    await caughtUp(env);
    const first = await snapshot(db.sql);

    // Everything delivered again: the cursor is wound back, so the restarted job cache
    // recreates its consumer at the stream start and projects every event a second time.
    await jc.stop();
    await db.sql`update projection set last_seq = 0`;
    jc = startJobcache(env, { database_url: db.url, batch_size: 5 });
    await caughtUp(env);
    assert.deepEqual(await snapshot(db.sql), first);

    // The same events published again after the stream's dedupe window: new stream sequences,
    // same event ids. Nothing but the cursor may change.
    await new Promise((r) => setTimeout(r, 2500));
    const before = (await jetstreamManager(env.nc).then((m) => m.streams.info(env.s.stream))).state.last_seq;
    const projected = new Set(first.events.map((e) => (e as { eid: string }).eid));
    await publishAll(env.js, evs.filter((e) => projected.has(e.headers[H.msgId]) && !e.subject.includes(".audit.")));
    const st = await caughtUp(env);
    assert.ok(st.stream_last_seq > before, "the stream took them as new messages");
    const again = await snapshot(db.sql);
    // Valid duplicates are skipped. Returns and grains signed by web2 are refused now, as any
    // new message from a minion whose key was deleted would be.
    const refusedAgain = again.audit.slice(first.audit.length) as { kind: string; origin: string; subject: string }[];
    assert.deepEqual(refusedAgain.map((a) => a.subject.split(".").slice(1).join(".")).sort(), [
      `job.${J(1)}.ret.web2`, `job.${J(2)}.ret.web2`, "minion.web2.grains",
    ]);
    for (const a of refusedAgain) assert.deepEqual([a.origin, a.kind], ["jobcache", "unknown_signer"], a.subject);
    assert.deepEqual({ ...again, audit: again.audit.slice(0, first.audit.length), projection: [] }, { ...first, projection: [] });
  } finally {
    await jc.stop();
    await db.drop();
    await env.close();
  }
});

test("jobcache - a rebuild gives identical tables, row for row", { timeout: 300_000 }, async () => {
  const env = await freshNamespace();
  const db = await freshDatabase();
  const jc = startJobcache(env, { database_url: db.url, batch_size: 4 });
  try {
    await publishAll(env.js, history(env.cast));
    await publishBadMessages(env);
    const evs: Sealed[] = [];
    const ids = Array.from({ length: 10 }, (_, i) => `node${i}.example.com`);
    for (const id of ids) evs.push(env.cast.key(id, "accepted", BASE_TS + 500), env.cast.minionStart(id, BASE_TS + 501));
    for (let j = 10; j < 20; j++) {
      evs.push(env.cast.jobNew(J(j), ids, { ts: BASE_TS + 1000 * j }));
      for (const id of ids) evs.push(env.cast.jobRet(J(j), id, { start: BASE_TS + 1000 * j + 10, retcode: id.startsWith("node3") ? 2 : 0, success: !id.startsWith("node3") }));
      evs.push(env.cast.jobDone(J(j), ids, ids, { ts: BASE_TS + 1000 * j + 500 }));
    }
    await publishAll(env.js, evs);
    await caughtUp(env);
    const before = await snapshot(db.sql);
    assert.ok(before.job_returns.length >= 106 && before.audit.length > 10);

    const r = await request<RebuildReply>(env.nc, env.s.cache("rebuild"), {}, 120_000);
    assert.equal(r.events, before.events.length);
    assert.equal(r.returns, before.job_returns.length);
    assert.equal(r.audit, before.audit.length);
    assert.ok(r.stream_last_seq > 0);
    assert.deepEqual(await snapshot(db.sql), before);

    // From a point: rows before it kept, the rest replayed, the same tables — wherever the
    // point falls (between a key event and the returns it decides, inside a job, at the end).
    const last = r.stream_last_seq;
    const step = Math.ceil(last / 12);
    for (const from of [...Array.from({ length: 12 }, (_, i) => 2 + i * step).filter((x) => x <= last), last, last + 1]) {
      const p = await request<RebuildReply>(env.nc, env.s.cache("rebuild"), { from_seq: from }, 120_000);
      assert.equal(p.from_seq, from);
      assert.deepEqual(await snapshot(db.sql), before, `rebuild from ${from}`);
    }
    await assert.rejects(request(env.nc, env.s.cache("rebuild"), { from_seq: last + 5 }, 10_000), /ends at sequence/);

    // Live consumption resumed after the rebuild.
    await publishAll(env.js, [env.cast.jobNew(J(30), ["node1.example.com"], { ts: BASE_TS + 99_000 })]);
    await caughtUp(env);
    const job = await request<JobReply>(env.nc, env.s.cache("job"), { jid: J(30) }, 5000);
    assert.deepEqual(job.missing, ["node1.example.com"]);
  } finally {
    await jc.stop();
    await db.drop();
    await env.close();
  }
});

/** Garbage, wrong headers, invalid bodies and bad signatures on every persisted subject. */
async function publishBadMessages(env: Env): Promise<number> {
  const { cast, js } = env;
  const jid = J(77);
  const stranger = ephemeralKeys();
  const good: Sealed[] = [
    cast.jobNew(jid, ["web1"]),
    cast.jobRet(jid, "web1"),
    cast.jobDone(jid, ["web1"], ["web1"]),
    cast.minionStart("web1"),
    cast.minionGrains("web1", { os: "x" }),
    cast.key("web1", "rejected"),
    cast.audit("denied", "x"),
  ];
  const raw: { subject: string; data: Uint8Array; headers?: Record<string, string> }[] = [];
  for (const g of good) {
    raw.push({ subject: g.subject, data: new Uint8Array([0xc1, 0xff, 0x00, 0x13]), headers: g.headers }); // not msgpack
    raw.push({ subject: g.subject, data: g.payload }); // no headers at all
    raw.push({ subject: g.subject, data: g.payload, headers: { ...g.headers, [H.type]: "job.prog" } }); // unknown type
    raw.push({ subject: g.subject, data: g.payload, headers: { ...g.headers, [H.type]: g.headers[H.type] === "job.ret" ? "job.new" : "job.ret" } }); // wrong type
    raw.push({ subject: g.subject, data: encode({ v: 1, type: g.headers[H.type], eid: "x" }), headers: g.headers }); // invalid body
    const sig = Buffer.from(g.headers[H.sig], "base64");
    sig[0] ^= 0xff;
    raw.push({ subject: g.subject, data: g.payload, headers: { ...g.headers, [H.sig]: sig.toString("base64") } }); // bad signature
    const forged = seal(g.subject, decode(g.payload) as NatriumEvent, stranger.sign);
    raw.push({ subject: g.subject, data: forged.payload, headers: forged.headers }); // signed by a stranger
  }
  // A valid return whose value Postgres cannot store (U+0000 in jsonb).
  const nul = cast.jobRet(J(78), "web1", { return: "a\u0000b" });
  raw.push({ subject: nul.subject, data: nul.payload, headers: nul.headers });
  for (const m of raw) {
    // Without their event id: the stream would drop every variant after the first as a duplicate.
    const h = m.headers ? Object.fromEntries(Object.entries(m.headers).filter(([k]) => k !== H.msgId)) : undefined;
    await js.publish(m.subject, m.data, h ? { headers: toHeaders(h) } : {});
  }
  return raw.length;
}


test("jobcache - bad payloads on every persisted subject are audited and the job cache keeps going", { timeout: 300_000 }, async () => {
  const env = await freshNamespace();
  const db = await freshDatabase();
  const jc = startJobcache(env, { database_url: db.url });
  try {
    await publishAll(env.js, history(env.cast));
    await caughtUp(env);
    const before = await snapshot(db.sql);
    const n = await publishBadMessages(env);
    // A good event after the bad ones is still projected: nothing blocks the consumer.
    await publishAll(env.js, [env.cast.jobNew(J(80), ["web1"], { ts: BASE_TS + 5000 })]);
    await caughtUp(env);
    const after = await snapshot(db.sql);
    const refused = after.audit.slice(before.audit.length) as { kind: string; origin: string; subject: string; reason: string }[];
    assert.equal(refused.length, n, "one audit row per bad message");
    assert.ok(refused.every((a) => a.origin === "jobcache"));
    const kinds = new Set(refused.map((a) => a.kind));
    for (const k of ["bad_payload", "invalid", "bad_signature", "unknown_signer", "unstorable"]) assert.ok(kinds.has(k), `audited as ${k}`);
    for (const subj of ["job.*.new", "job.*.ret.web1", "job.*.done", "minion.web1.start", "minion.web1.grains", "key.web1.rejected", "audit.denied"]) {
      const re = new RegExp(`^${env.ns}\\.${subj.replace(/\./g, "\\.").replace("*", "\\d{20}")}$`);
      assert.ok(refused.filter((a) => re.test(a.subject)).length >= 7, `refusals on ${subj}`);
    }
    assert.deepEqual(after.jobs.length, before.jobs.length + 1, "only the good job was added");
    assert.deepEqual(after.job_returns, before.job_returns);
    assert.deepEqual(after.minions, before.minions);
    assert.equal(after.events.length, before.events.length + 1);
    const st = await request<StatusReply>(env.nc, env.s.cache("status"), {}, 5000);
    assert.equal(st.audit, after.audit.length);
  } finally {
    await jc.stop();
    await db.drop();
    await env.close();
  }
});

test("jobcache - pglite: file-backed store projects, answers, and resumes after a restart", { timeout: 300_000 }, async () => {
  const env = await freshNamespace();
  let jc = startJobcache(env, { database_url: "" });
  try {
    const evs = history(env.cast);
    await publishAll(env.js, evs.slice(0, 20));
    await caughtUp(env);
    await jc.stop();
    // Published while the job cache is down: picked up from the cursor kept in PGlite.
    await publishAll(env.js, evs.slice(20));
    jc = startJobcache(env, { database_url: "" });
    const st = await caughtUp(env);
    assert.equal(st.store, "pglite");
    assert.deepEqual({ jobs: st.jobs, returns: st.returns, minions: st.minions, audit: st.audit }, { jobs: 3, returns: 6, minions: 3, audit: 6 });
    await checkHistory(env);
    const before = await request<JobReply>(env.nc, env.s.cache("job"), { jid: J(1) }, 5000);
    const r = await request<RebuildReply>(env.nc, env.s.cache("rebuild"), {}, 120_000);
    assert.equal(r.returns, 6);
    assert.deepEqual(await request<JobReply>(env.nc, env.s.cache("job"), { jid: J(1) }, 5000), before);
  } finally {
    await jc.stop();
    await env.close();
  }
});

// How many migrations the journal lists: every one must be applied exactly once.
const MIGRATIONS = (JSON.parse(readFileSync(join(ROOT, "migrations", "sql", "meta", "_journal.json"), "utf8")) as { entries: unknown[] }).entries.length;

test("jobcache - two migrators on a fresh database both succeed", { timeout: 120_000 }, async () => {
  const db = await freshDatabase();
  const log = createLogger({ svc: "test" }, "quiet");
  try {
    for (let round = 0; round < 3; round++) {
      if (round > 0) {
        // Start again from nothing: the race is on a fresh database every round.
        await db.sql`drop schema drizzle cascade`;
        await db.sql`drop schema public cascade`;
        await db.sql`create schema public`;
      }
      const stores = await Promise.all([1, 2, 3].map(() => openStore({ databaseUrl: db.url, dataDir: "/nonexistent", log })));
      await Promise.all(stores.map((s) => s.close()));
      const [{ n, distinct }] = await db.sql`select count(*)::int as n, count(distinct hash)::int as distinct from drizzle.__drizzle_migrations`;
      assert.equal(n, MIGRATIONS, "each migration applied once");
      assert.equal(distinct, MIGRATIONS);
    }
    const tables = await db.sql`select tablename from pg_tables where schemaname = 'public' order by 1`;
    // job_returns is partitioned: its default partition comes with the migration, day partitions with the first returns.
    assert.deepEqual(tables.map((t) => t.tablename), ["audit", "events", "job_returns", "job_returns_default", "jobs", "minions", "projection"]);
    const [{ kind }] = await db.sql`select relkind as kind from pg_class where relname = 'job_returns'`;
    assert.equal(kind, "p", "job_returns is a partitioned table");
  } finally {
    await db.drop();
  }
});

test("jobcache - a wrong config key stops it with the key named; unreachable NATS is retried with a clear log", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "natrium-jobcache-cfg-"));
  try {
    writeFileSync(join(dir, "bad.yaml"), "databse_url: postgres://x\n");
    const bad = await runMain(["--config", join(dir, "bad.yaml")]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown key "databse_url" \(did you mean "database_url"\?\)/);

    const port = await freePort();
    writeFileSync(join(dir, "ok.yaml"), `nats_url: nats://127.0.0.1:${port}\ndata_dir: ${dir}\nns: jcx\n`);
    const child = spawn(process.execPath, [MAIN, "--config", join(dir, "ok.yaml")], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, DATABASE_URL: "", NATS_URL: "" } });
    let err = "";
    child.stderr!.on("data", (d) => (err += d));
    await waitFor("the retry log line", () => (/cannot reach NATS; retrying/.test(err) ? true : undefined), 30_000);
    const line = JSON.parse(err.split("\n").find((l) => l.includes("cannot reach NATS"))!);
    assert.equal(line.level, "warning");
    assert.equal(line.nats_url, `nats://127.0.0.1:${port}`);
    const code = await new Promise<number | null>((r) => { child.once("exit", (c) => r(c)); child.kill("SIGTERM"); });
    assert.equal(code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function runMain(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [MAIN, ...args], { stdio: ["ignore", "ignore", "pipe"] });
    let stderr = "";
    p.stderr!.on("data", (d) => (stderr += d));
    p.once("exit", (code) => resolve({ code, stderr }));
  });
}

test("jobcache - migration 0005 moves an existing history into day partitions, nothing lost", { timeout: 120_000 }, async () => {
  const db = await freshDatabase();
  const log = createLogger({ svc: "test" }, "quiet");
  // The migrations as they were before job_returns was partitioned.
  const src = join(ROOT, "migrations", "sql");
  const old = mkdtempSync(join(tmpdir(), "natrium-mig-"));
  const journal = JSON.parse(readFileSync(join(src, "meta", "_journal.json"), "utf8")) as { entries: { tag: string }[] };
  const upTo = journal.entries.findIndex((e) => e.tag === "0005_partition_job_returns");
  assert.ok(upTo > 0);
  cpSync(src, old, { recursive: true });
  writeFileSync(join(old, "meta", "_journal.json"), JSON.stringify({ ...journal, entries: journal.entries.slice(0, upTo) }));
  try {
    process.env.NATRIUM_MIGRATIONS = old;
    const before = await openStore({ databaseUrl: db.url, dataDir: "/nonexistent", log });
    await before.close();
    delete process.env.NATRIUM_MIGRATIONS;
    const [{ kind: oldKind }] = await db.sql`select relkind as kind from pg_class where relname = 'job_returns'`;
    assert.equal(oldKind, "r");
    const rows = [
      ["20261126093000000001", "web1"],
      ["20261126093000000001", "web2"],
      ["20261127101500000002", "web1"],
      ["20260230000000000003", "web1"], // not a date: the default partition
    ];
    for (const [i, [jid, minion]] of rows.entries()) {
      await db.sql`insert into events (seq, eid, subject, type, jid, minion, signer, ts, body)
        values (${i + 1}, ${"e" + i}, ${"natrium.job." + jid + ".ret." + minion}, 'job.ret', ${jid}, ${minion}, ${"minion " + minion}, now(), ${db.sql.json({ jid, id: minion })})`;
      await db.sql`insert into job_returns (jid, minion, fun, fun_args, return, retcode, success, start, "end", duration_ms, eid, seq)
        values (${jid}, ${minion}, 'test.ping', '[]', 'true', 0, ${minion !== "web2"}, now(), now(), 1, ${"e" + i}, ${i + 1})`;
    }
    const snap = async () => await db.sql`select jid, minion, success, seq from job_returns order by jid, minion`;
    const was = await snap();

    const after = await openStore({ databaseUrl: db.url, dataDir: "/nonexistent", log });
    await after.close();
    const [{ kind }] = await db.sql`select relkind as kind from pg_class where relname = 'job_returns'`;
    assert.equal(kind, "p");
    assert.deepEqual(await snap(), was, "every return kept");
    const parts = await db.sql`select jid, minion, tableoid::regclass::text as part from job_returns order by jid, minion`;
    assert.deepEqual(parts.map((r) => r.part), ["job_returns_default", "job_returns_p20261126", "job_returns_p20261126", "job_returns_p20261127"]);
    // Salt's view reads through the partitions, and the indexes are there.
    const salt = await db.sql`select id, success from salt_returns where jid = '20261126093000000001' order by id`;
    assert.deepEqual(salt.map((r) => [r.id, r.success]), [["web1", "True"], ["web2", "False"]]);
    const idx = await db.sql`select indexname from pg_indexes where tablename = 'job_returns' order by 1`;
    // (job_returns_schedule_idx: migration 0007, scheduled runs, applied after 0005 here too)
    assert.deepEqual(idx.map((r) => r.indexname), ["job_returns_failed_idx", "job_returns_minion_idx", "job_returns_pkey", "job_returns_schedule_idx"]);
    const sched = await db.sql`select count(*)::int as n from job_returns where schedule is not null`;
    assert.equal(sched[0]!.n, 0, "returns from before the scheduler are not scheduled runs");
  } finally {
    delete process.env.NATRIUM_MIGRATIONS;
    rmSync(old, { recursive: true, force: true });
    await db.drop();
  }
});
