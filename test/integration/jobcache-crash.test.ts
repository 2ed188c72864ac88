// kill -9 the job cache while returns are being projected; the restarted process must leave
// every return in Postgres exactly once.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import postgres from "postgres";
import { jetstream, jetstreamManager, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { startNats } from "../helpers/nats.js";
import { startPostgres } from "../helpers/postgres.js";
import { waitFor } from "../helpers/ports.js";
import { subjects, type Subjects } from "../../contracts/subjects.js";
import type { Sealed } from "../../contracts/message.js";
import { connectBus, ensureBuckets, ensureStream, sleep } from "../../services/common/bus.js";
import { Cast, publishAll, BASE_TS } from "../../services/jobcache/testkit.js";

const MAIN = fileURLToPath(new URL("../../services/jobcache/main.js", import.meta.url));

function spawnJobcache(config: string): { proc: ChildProcess; stderr: () => string; exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }> } {
  const proc = spawn(process.execPath, [MAIN, "--config", config], { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, DATABASE_URL: "", NATS_URL: "" } });
  let err = "";
  proc.stderr!.on("data", (d) => (err = (err + d).slice(-20_000)));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => proc.once("exit", (code, signal) => r({ code, signal })));
  return { proc, stderr: () => err, exit };
}

/** Every one of the 1,000 returns once in job_returns and events, nothing refused, nothing pending. */
async function assertExactlyOnce(sql: postgres.Sql, nc: NatsConnection, s: Subjects): Promise<void> {
  const [c] = await sql`select count(*)::int as n, count(distinct (jid, minion))::int as d,
    count(*) filter (where return #>> '{}' = jid || ':' || minion)::int as right_value from job_returns`;
  assert.deepEqual(c, { n: 1000, d: 1000, right_value: 1000 });
  const [e] = await sql`select count(*)::int as n, count(distinct eid)::int as d from events where type = 'job.ret'`;
  assert.deepEqual(e, { n: 1000, d: 1000 });
  const [a] = await sql`select count(*)::int as n from audit`;
  assert.equal(a.n, 0, "nothing refused");
  const ci = await (await jetstreamManager(nc)).consumers.info(s.stream, s.jobcacheConsumer);
  assert.equal(ci.num_pending, 0);
}

/** Until the 50 jobs of prepare() are projected. */
async function jobsProjected(sql: postgres.Sql): Promise<void> {
  await waitFor("the 50 jobs in Postgres", async () => {
    const [{ n }] = await sql`select count(*)::int as n from jobs`.catch(() => [{ n: 0 }]);
    return n === 50 ? true : undefined;
  }, 120_000, 20);
}

/** Until all 1,000 returns are in, and the consumer has reached the end of the stream. */
async function allProjected(sql: postgres.Sql, nc: NatsConnection, s: Subjects): Promise<void> {
  await waitFor("all 1,000 returns in Postgres", async () => {
    const [{ n }] = await sql`select count(*)::int as n from job_returns`;
    return n === 1000 ? true : undefined;
  }, 300_000, 50);
  // Let the consumer reach the end of the stream before counting everything.
  const streamLast = (await (await jetstreamManager(nc)).streams.info(s.stream)).state.last_seq;
  await waitFor("the cursor at the end of the stream", async () => {
    const [r] = await sql`select last_seq::int as n from projection`;
    return r && r.n === streamLast ? true : undefined;
  }, 120_000, 50);
}

/** 20 accepted minions and 50 jobs in the stream; returns for all of them, not yet published. */
async function prepare(nc: NatsConnection, s: Subjects): Promise<{ js: JetStreamClient; returns: Sealed[] }> {
  await ensureStream(await jetstreamManager(nc), s, { maxAgeSec: 0, replicas: 1 });
  await ensureBuckets(nc, s);
  const cast = new Cast(s);
  await cast.putMasterKey(nc);
  const js = jetstream(nc);
  const minions = Array.from({ length: 20 }, (_, i) => `m${String(i).padStart(2, "0")}.example.org`);
  const jids = Array.from({ length: 50 }, (_, i) => `2026112708000000${String(i).padStart(4, "0")}`);
  const setup: Sealed[] = [];
  for (const id of minions) setup.push(cast.key(id, "accepted", BASE_TS));
  for (const [i, jid] of jids.entries()) setup.push(cast.jobNew(jid, minions, { ts: BASE_TS + 100 + i }));
  await publishAll(js, setup);
  const returns: Sealed[] = [];
  for (const jid of jids) for (const id of minions) returns.push(cast.jobRet(jid, id, { return: `${jid}:${id}`, start: BASE_TS + 1000 }));
  return { js, returns };
}

/** Small batches: the 1,000 returns take many transactions, so a kill lands between and inside them. */
function writeConfig(dir: string, natsUrl: string, ns: string, pgUrl: string): string {
  const config = join(dir, "jobcache.yaml");
  writeFileSync(config, [
    `nats_url: ${natsUrl}`, `ns: ${ns}`, `database_url: ${pgUrl}`, `data_dir: ${dir}`,
    "log_level: info", "batch_size: 10", "batch_wait_ms: 2", "ack_wait_sec: 30",
  ].join("\n") + "\n");
  return config;
}

test("jobcache - kill -9 while 1,000 returns are in flight: after a restart every return is in Postgres exactly once", { timeout: 600_000 }, async (t) => {
  const [nats, pg] = await Promise.all([startNats(), startPostgres()]);
  const dir = mkdtempSync(join(tmpdir(), "natrium-jobcache-crash-"));
  const ns = `jk${randomBytes(4).toString("hex")}`;
  const s = subjects(ns);
  const nc = await connectBus({ url: nats.url, name: "jobcache-crash-test" });
  const sql = postgres(pg.url, { max: 2, onnotice: () => {} });
  let child: ReturnType<typeof spawnJobcache> | undefined;
  try {
    const { js, returns } = await prepare(nc, s);
    const config = writeConfig(dir, nats.url, ns, pg.url);
    child = spawnJobcache(config);
    await jobsProjected(sql);

    const publishing = publishAll(js, returns, 50);
    const seen = await waitFor("the first returns in Postgres", async () => {
      const [{ n }] = await sql`select count(*)::int as n from job_returns`;
      return n > 0 ? n : undefined;
    }, 120_000, 1);
    child.proc.kill("SIGKILL");
    const died = await child.exit;
    assert.equal(died.signal, "SIGKILL");
    const [{ n: atKill }] = await sql`select count(*)::int as n from job_returns`;
    t.diagnostic(`killed with ${atKill} of 1000 returns committed (first seen: ${seen})`);
    await publishing;

    child = spawnJobcache(config);
    await allProjected(sql, nc, s);
    await assertExactlyOnce(sql, nc, s);

    // SIGTERM drains and exits 0.
    child.proc.kill("SIGTERM");
    const stopped = await child.exit;
    assert.equal(stopped.code, 0, child.stderr());
    assert.match(child.stderr(), /"msg":"stopped"/);
    child = undefined;
  } finally {
    if (child && child.proc.exitCode === null && child.proc.signalCode === null) {
      child.proc.kill("SIGKILL");
      await child.exit;
    }
    await sql.end();
    await nc.close();
    await Promise.all([nats.stop(), pg.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test("jobcache - PostgreSQL crashes (immediate shutdown) mid-burst: after it restarts every return is there exactly once", { timeout: 600_000 }, async (t) => {
  // The job cache commits with synchronous_commit off: a crashed server loses its last commits,
  // which the job cache had acknowledged. It must resume from the cursor the database kept.
  const [nats, pg] = await Promise.all([startNats(), startPostgres()]);
  const dir = mkdtempSync(join(tmpdir(), "natrium-jobcache-pgcrash-"));
  const ns = `jp${randomBytes(4).toString("hex")}`;
  const s = subjects(ns);
  const nc = await connectBus({ url: nats.url, name: "jobcache-pgcrash-test" });
  let sql = postgres(pg.url, { max: 2, onnotice: () => {} });
  let child: ReturnType<typeof spawnJobcache> | undefined;
  const count = async (): Promise<number> => (await sql`select count(*)::int as n from job_returns`)[0].n;
  try {
    const { js, returns } = await prepare(nc, s);
    child = spawnJobcache(writeConfig(dir, nats.url, ns, pg.url));
    await jobsProjected(sql);

    const publishing = publishAll(js, returns, 50);
    // Mid-burst, when commits come fastest.
    await waitFor("300 returns in Postgres", async () => ((await count()) >= 300 ? true : undefined), 120_000, 1);
    const beforeCrash = await count();
    await sql.end({ timeout: 1 }).catch(() => {});
    await pg.crash();
    await publishing;
    await sleep(1500); // the job cache meets a dead server and keeps trying
    await pg.start();
    sql = postgres(pg.url, { max: 2, onnotice: () => {} });
    const afterRestart = await count();
    t.diagnostic(`returns committed before the crash: ≥ ${beforeCrash}; in the tables after recovery: ${afterRestart}`);

    await allProjected(sql, nc, s);
    await assertExactlyOnce(sql, nc, s);
    assert.match(child.stderr(), /cannot write to the job cache database|consuming failed/, "the outage was logged");
    assert.equal(child.proc.exitCode, null, "the job cache kept running through the outage");
  } finally {
    if (child && child.proc.exitCode === null && child.proc.signalCode === null) {
      child.proc.kill("SIGKILL");
      await child.exit;
    }
    await sql.end({ timeout: 1 }).catch(() => {});
    await nc.close();
    await Promise.all([nats.stop(), pg.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }
});
