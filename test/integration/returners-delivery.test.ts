// Returners as separate processes (the built CLI, `natrium returner start`) against a real
// nats-server, fed signed synthetic returns: a kill -9 in the middle of a burst loses nothing,
// a returner added late backfills, a poisoned return is dead-lettered while the rest flows, and
// `requested` mode gets only the jobs that named it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import postgres from "postgres";
import { natsFixture } from "../helpers/fixture.js";
import { startPostgres } from "../helpers/postgres.js";
import { runJobcache } from "../../services/jobcache/main.js";
import { publishAll, BASE_TS } from "../../services/jobcache/testkit.js";
import { request } from "../../services/common/bus.js";
import type { StatusReply } from "../../contracts/api.js";
import { cliJson, ROOT } from "../helpers/cli.js";
import { freshNs, jsonlEids, killProc, openBus, publishJobs, returnerInfo, startReturnerCli, until, type Bus } from "../returners/kit.js";
import type { ReturnerInfo } from "../../contracts/returners.js";
import type { DeadLetter } from "../../services/returners/deadletter.js";

const fx = natsFixture("natrium-returners-");

/** A returner host config file: quick retries and a short ack_wait, so a killed process's messages come back soon. */
function hostConfig(name: string, ns: string, o: Record<string, unknown>): string {
  const file = join(fx.tmp, `${name}-${ns}.yaml`);
  writeFileSync(file, stringify({ name, ns, nats_url: fx.nats.url, log_level: "info", ack_wait_sec: 2, retry_backoff_ms: 100, retry_backoff_max_ms: 500, ...o }));
  return file;
}

async function settled(bus: Bus, name: string, more: (r: ReturnerInfo) => boolean = () => true, ms = 120_000): Promise<ReturnerInfo> {
  return (await until(`${name} to settle`, () => returnerInfo(bus, name), (r) => !!r && r.pending === 0 && r.ack_pending === 0 && more(r), ms))!;
}

test("returners - a returner killed with kill -9 mid-burst of 10,000 returns resumes and delivers every one; the Postgres job cache holds each once", { timeout: 300_000 }, async () => {
  const ns = freshNs();
  const minions = ["m1", "m2", "m3", "m4", "m5"];
  const bus = await openBus(fx.nats.url, ns, minions);
  // The job cache projects the same burst beside the returner, into a real Postgres: it trusts
  // returns by the key events in the stream, as the master publishes them.
  await publishAll(bus.js, minions.map((id) => bus.cast.key(id, "accepted", BASE_TS)));
  const pg = await startPostgres();
  fx.cleanups.push(() => pg.stop());
  const stopJc = new AbortController();
  const jc = runJobcache({ overrides: { nats_url: fx.nats.url, ns, data_dir: join(fx.tmp, `jc-${ns}`), database_url: pg.url, log_level: "error" }, signal: stopJc.signal });
  fx.cleanups.push(async () => { stopJc.abort(); await jc.catch(() => {}); });
  const path = join(fx.tmp, `${ns}.jsonl`);
  const cfg = hostConfig("burst", ns, { module: "jsonl", config: { path }, batch_size: 200 });
  let r = startReturnerCli(["-c", cfg]);
  fx.cleanups.push(() => killProc(r.proc, "SIGKILL"));
  try {
    await r.started;
    const publishing = publishJobs(bus, 0, 2000, minions);
    // Mid-burst: once part of it is in the file, the process dies without a chance to ack.
    await until("the first returns in the file", async () => jsonlEids(path).size, (n) => n >= 1500);
    await killProc(r.proc, "SIGKILL");
    const atKill = jsonlEids(path).size;
    const eids = await publishing;
    assert.equal(eids.length, 10_000);
    assert.ok(atKill < 10_000, `the kill came after the burst (${atKill} written)`);
    r = startReturnerCli(["-c", cfg]);
    await r.started;
    await settled(bus, "burst");
    const got = jsonlEids(path);
    const missing = eids.filter((e) => !got.has(e));
    assert.deepEqual(missing.slice(0, 10), [], `${missing.length} returns never written`);
    assert.equal(got.size, 10_000);
    // Each return exactly once in the job cache, whatever the returner went through.
    const st = await until("the job cache to catch up", () => request<StatusReply>(bus.nc, bus.s.cache("status"), {}, 5000).catch(() => undefined), (x) => !!x && x.stream_last_seq > 0 && x.last_seq === x.stream_last_seq, 120_000);
    assert.equal(st!.returns, 10_000);
    const sql = postgres(pg.url, { max: 1 });
    try {
      const [row] = await sql`select count(*)::int as n, count(distinct eid)::int as eids, count(distinct (jid, minion))::int as pairs from job_returns`;
      assert.deepEqual(row, { n: 10_000, eids: 10_000, pairs: 10_000 });
      const [{ refused }] = await sql`select count(*)::int as refused from audit`;
      assert.equal(refused, 0);
    } finally {
      await sql.end();
    }
  } finally {
    await killProc(r.proc);
    await bus.close();
  }
});

test("returners - a returner added after 5,000 jobs with --from start backfills them all", { timeout: 300_000 }, async () => {
  const ns = freshNs();
  const bus = await openBus(fx.nats.url, ns, ["web1"]);
  const eids = await publishJobs(bus, 0, 5000, ["web1"], { withDone: true });
  const add = await cliJson<{ created: boolean; pending: number }>(["returners", "add", "late", "--from", "start", "--url", fx.nats.url, "--ns", ns], { cwd: fx.tmp });
  assert.equal(add.code, 0, add.stderr);
  assert.equal(add.data.created, true);
  assert.equal(add.data.pending, 15_000, "job.new, job.ret and job.done of 5,000 jobs wait in the durable");
  const path = join(fx.tmp, `${ns}.jsonl`);
  const r = startReturnerCli(["-c", hostConfig("late", ns, { module: "jsonl", config: { path } })]);
  fx.cleanups.push(() => killProc(r.proc, "SIGKILL"));
  try {
    await r.started;
    await settled(bus, "late");
    const got = jsonlEids(path);
    assert.equal(eids.filter((e) => !got.has(e)).length, 0);
    assert.equal(got.size, 5000);
    // Registered from the start, and listed so.
    const list = await cliJson<{ returners: ReturnerInfo[] }>(["returners", "list", "--url", fx.nats.url, "--ns", ns], { cwd: fx.tmp });
    const late = list.data.returners.find((x) => x.name === "late");
    assert.equal(late?.from, "start");
    assert.equal(late?.registered, true);
    // (pending was 0 when it settled; nats-server 2.9 may count one transiently right after)
    // Reset: the running returner replays from a sequence in the middle, then everything again.
    const half = await cliJson<{ pending: number }>(["returners", "reset", "late", "--from", "7501", "--url", fx.nats.url, "--ns", ns], { cwd: fx.tmp });
    assert.equal(half.code, 0, half.stderr + JSON.stringify(half.data));
    assert.equal(half.data.pending, 15_000 - 7500);
    await settled(bus, "late");
    const again = jsonlEids(path);
    assert.equal(eids.filter((e) => (again.get(e) ?? 0) >= 2).length, 2500, "the second half came again");
    const all = await cliJson<{ pending: number }>(["returners", "reset", "late", "--from", "start", "--url", fx.nats.url, "--ns", ns], { cwd: fx.tmp });
    assert.equal(all.data.pending, 15_000);
    await settled(bus, "late");
    const thrice = jsonlEids(path);
    assert.equal(eids.filter((e) => (thrice.get(e) ?? 0) < 2).length, 0, "every return replayed");
    const unknown = await cliJson<unknown>(["returners", "reset", "nobody", "--from", "start", "--url", fx.nats.url, "--ns", ns], { cwd: fx.tmp }).catch((e: Error) => e);
    assert.match(String((unknown as { stderr?: string }).stderr ?? unknown), /nobody/);
  } finally {
    await killProc(r.proc);
    await bus.close();
  }
});

test("returners - a poisoned return is dead-lettered and counted while the rest flow", { timeout: 300_000 }, async () => {
  const ns = freshNs();
  const bus = await openBus(fx.nats.url, ns, ["ok1", "ok2", "bad"]);
  const out = join(fx.tmp, `${ns}.out`);
  const r = startReturnerCli(["-c", hostConfig("poison", ns, { module: join(ROOT, "dist/examples/returners/minimal.js"), max_deliver: 3, config: { fail_on: "bad", prefix: "ret" } })]);
  fx.cleanups.push(() => killProc(r.proc, "SIGKILL"));
  let stdout = "";
  r.proc.stdout!.on("data", (d) => (stdout += d));
  try {
    await r.started;
    const eids = await publishJobs(bus, 0, 50, ["ok1", "bad", "ok2"]);
    const info = await settled(bus, "poison", (x) => x.dead_failed === 50);
    writeFileSync(out, stdout);
    const printed = new Set(readFileSync(out, "utf8").split("\n").filter((l) => l.startsWith("ret ")).map((l) => l.split(" ")[1]));
    for (const e of eids.filter((x) => !x.endsWith(".bad"))) assert.ok(printed.has(e), `${e} did not flow`);
    assert.equal([...printed].filter((e) => e.endsWith(".bad")).length, 0);
    assert.equal(info.dead_failed, 50);
    assert.equal(info.dead_refused, 0);
    assert.match(info.last_error ?? "", /refused by config/);
    const dead = await cliJson<{ dead: DeadLetter[] }>(["returners", "dead", "poison", "--limit", "100", "--url", fx.nats.url, "--ns", ns], { cwd: fx.tmp });
    assert.equal(dead.code, 0, dead.stderr);
    assert.equal(dead.data.dead.length, 50);
    for (const d of dead.data.dead) {
      assert.equal(d.why, "failed");
      assert.equal(d.attempts, 3);
      assert.match(d.eid ?? "", /\.ret\.bad$/);
      assert.match(d.error, /refused by config/);
    }
    const list = await cliJson<{ returners: ReturnerInfo[] }>(["returners", "list", "--url", fx.nats.url, "--ns", ns], { cwd: fx.tmp });
    assert.equal(list.data.returners.find((x) => x.name === "poison")?.dead_failed, 50);
  } finally {
    await killProc(r.proc);
    await bus.close();
  }
  // The close() the host calls on SIGTERM: the example prints it.
  assert.match(stdout, /ret closed/);
});

test("returners - requested mode gets only the jobs that named it; remove deletes it", { timeout: 300_000 }, async () => {
  const ns = freshNs();
  const bus = await openBus(fx.nats.url, ns, ["web1", "web2"]);
  const path = join(fx.tmp, `${ns}.jsonl`);
  const r = startReturnerCli(["-c", hostConfig("asked", ns, { module: "jsonl", mode: "requested", config: { path } })]);
  fx.cleanups.push(() => killProc(r.proc, "SIGKILL"));
  try {
    await r.started;
    const asked = await publishJobs(bus, 0, 30, ["web1", "web2"], { ret: ["asked"] });
    const others = await publishJobs(bus, 30, 30, ["web1", "web2"], { ret: ["someone-else"] });
    const none = await publishJobs(bus, 60, 30, ["web1", "web2"]);
    const both = await publishJobs(bus, 90, 30, ["web1", "web2"], { ret: ["someone-else", "asked"] });
    await settled(bus, "asked");
    const got = jsonlEids(path);
    for (const e of [...asked, ...both]) assert.ok(got.has(e), `${e} was asked for and not delivered`);
    for (const e of [...others, ...none]) assert.ok(!got.has(e), `${e} was not asked for and was delivered`);
    const list = await cliJson<{ returners: ReturnerInfo[] }>(["returners", "list", "--url", fx.nats.url, "--ns", ns], { cwd: fx.tmp });
    assert.equal(list.data.returners.find((x) => x.name === "asked")?.mode, "requested");
  } finally {
    await killProc(r.proc);
  }
  try {
    const rm = await cliJson<{ removed: boolean }>(["returners", "remove", "asked", "--url", fx.nats.url, "--ns", ns], { cwd: fx.tmp });
    assert.equal(rm.code, 0, rm.stderr);
    assert.equal(await returnerInfo(bus, "asked"), undefined);
    const again = await cliJson<{ removed: boolean }>(["returners", "remove", "asked", "--url", fx.nats.url, "--ns", ns], { cwd: fx.tmp }).catch((e) => e as Error);
    assert.ok(again instanceof Error || again.code === 2, "removing an unknown returner is an error");
  } finally {
    await bus.close();
  }
});
