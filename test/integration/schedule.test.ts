// The minion scheduler (issue 4) on a whole stack: real nats-server, PostgreSQL, master, job
// cache and minions in one process (test/helpers/stack.ts). Scheduled runs go through the
// minion's job path and their signed returns, which carry `schedule`, land in the job cache
// although no job.new exists for their jids.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { startStack, type Stack } from "../helpers/stack.js";
import { waitFor } from "../helpers/ports.js";
import { Minion, type MinionOptions } from "../../services/minion/minion.js";
import { parseSchedule } from "../../services/minion/scheduler.js";
import { loadMinionConfig } from "../../services/minion/config.js";
import { ConfigError } from "../../services/common/config.js";
import { createLogger } from "../../services/common/log.js";
import type { JobReply, JobsReply, ReturnRow } from "../../contracts/api.js";
import { signedRequest } from "../../services/common/bus.js";

const MAIN = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../services/minion/main.js");
const quiet = createLogger({ svc: "schedule-test" }, "quiet");

const tmp = mkdtempSync(join(tmpdir(), "natrium-schedule-"));
const marker = join(tmp, "blackout-marker");
const rtDir = join(tmp, "rt");
const rtOptions = (): Partial<MinionOptions> => ({
  schedule: parseSchedule({ cfg1: { function: "test.ping", hours: 1, run_on_start: false } }),
  scheduleFile: join(rtDir, "schedule.json"),
  // Pinned so splay is visible exactly in schedule.list.
  scheduleRandom: () => 0.5,
});

let st: Stack;

before(async () => {
  st = await startStack({
    ids: ["s-tick", "s-dark", "s-rt", "s-busy"],
    minionOptions: {
      "s-tick": {
        schedule: parseSchedule({
          tick: { function: "test.echo", args: ["tick"], seconds: 1 },
          overlap: { function: "test.sleep", args: [2.5], seconds: 1, maxrunning: 1 },
          spl: { function: "test.echo", args: ["spl"], seconds: 2, splay: 1.5 },
          long: { function: "test.sleep", args: [120], hours: 1 },
          quiet: { function: "test.echo", args: ["unpublished"], seconds: 1, return_job: false },
        }),
      },
      "s-dark": {
        blackout: { enabled: true, whitelist: ["test.ping"] },
        schedule: parseSchedule({
          marker: { function: "cmd.run", args: [`touch ${marker}`], seconds: 1 },
          ok: { function: "test.ping", seconds: 1 },
        }),
      },
      "s-rt": rtOptions(),
      "s-busy": {
        processCountMax: 1,
        schedule: parseSchedule({ queued1: { function: "test.echo", args: ["q"], hours: 1, run_on_start: false } }),
      },
    },
  });
});

after(async () => {
  await st?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

interface SchedRow {
  jid: string;
  fun: string;
  success: boolean;
  retcode: number;
  return: unknown;
  error: { code: string; message: string } | null;
  start: Date;
  end: Date;
  schedule: string;
}

/** The scheduled returns of `minion` the job cache holds, by entry, oldest first. */
async function scheduled(minion: string, entry: string): Promise<SchedRow[]> {
  return st.sql<SchedRow[]>`
    select r.jid, r.fun, r.success, r.retcode::int as retcode, r.return, r.error, r.start, r."end", r.schedule
    from job_returns r join events e on e.seq = r.seq
    where r.minion = ${minion} and r.schedule = ${entry} and e.body->>'schedule' = ${entry} order by r.jid`;
}

async function atLeast(minion: string, entry: string, n: number): Promise<SchedRow[]> {
  return waitFor(`${n} returns of schedule entry ${entry} on ${minion} in the job cache`, async () => {
    const rows = await scheduled(minion, entry);
    return rows.length >= n ? rows : undefined;
  }, 30_000, 100);
}

/** Run `fun` on one minion through the master and answer its return as the job cache has it. */
async function call(id: string, fun: string, arg: unknown[] = [], kwarg: Record<string, unknown> = {}): Promise<ReturnRow> {
  const r = await st.publish({ tgt: id, fun, arg, kwarg });
  assert.deepEqual(r.minions, [id]);
  const j = await st.cachedJob(r.jid, (j) => j.returns.length === 1, `${fun} on ${id}`);
  return j.returns[0]!;
}

interface Listed {
  enabled: boolean;
  jobs: Record<string, { function: string; enabled: boolean; source: string; next_run: string | null; splay_delay: number; runs: number; running: number; skipped: number; seconds?: number }>;
}

test("schedule - an interval entry runs again and again; each run is a signed return with its own jid and `schedule`, kept by the job cache without a job.new", async () => {
  const rows = await atLeast("s-tick", "tick", 3);
  for (const r of rows) {
    assert.match(r.jid, /^\d{20}$/);
    assert.deepEqual([r.fun, r.return, r.success, r.retcode, r.schedule], ["test.echo", "tick", true, 0, "tick"]);
  }
  assert.equal(new Set(rows.map((r) => r.jid)).size, rows.length, "a jid per run");
  const [{ n }] = await st.sql<{ n: number }[]>`select count(*)::int as n from jobs where jid in ${st.sql(rows.map((r) => r.jid))}`;
  assert.equal(n, 0, "no job row is made up for a scheduled run");
  // return_job: false runs, but publishes nothing.
  const listed = (await call("s-tick", "schedule.list")).return as Listed;
  assert.ok(listed.jobs.quiet!.runs >= 1, "the unpublished entry ran");
  assert.equal((await scheduled("s-tick", "quiet")).length, 0, "and its returns never reached the bus");
});

test("schedule - history: `jobs minion` lists a minion's scheduled runs beside its jobs; `jobs show` says a run is not a job", async () => {
  const rows = await atLeast("s-tick", "tick", 2);
  const jobs = (q: Record<string, unknown>) => signedRequest<JobsReply>(st.nc, st.s.api("jobs"), q, st.admin, 10_000);
  const pinged = await call("s-tick", "test.ping");
  assert.equal(pinged.success, true);
  const all = await jobs({ minion: "s-tick", limit: 500 });
  const runs = all.jobs.filter((j) => j.schedule === "tick");
  assert.ok(runs.length >= 2, "scheduled runs are in the minion's history");
  const first = runs.find((j) => j.jid === rows[0]!.jid)!;
  assert.deepEqual(
    [first.fun, first.user, first.tgt, first.expected, first.returned, first.minion?.success, first.created, first.finished],
    ["test.echo", "", ["s-tick"], 0, 1, true, rows[0]!.start.getTime(), rows[0]!.end.getTime()],
  );
  assert.ok(all.jobs.some((j) => j.fun === "test.ping" && j.schedule === undefined && j.user === "admin"), "and so are the master's jobs");
  for (let i = 1; i < all.jobs.length; i++) assert.ok(all.jobs[i - 1]!.created >= all.jobs[i]!.created, "newest first");
  // narrowed like jobs: by function, and paged with a scheduled run as the cursor
  const echo = await jobs({ minion: "s-tick", fun: "test.echo", limit: 500 });
  assert.ok(echo.jobs.length > 0 && echo.jobs.every((j) => j.fun === "test.echo"));
  const cursor = runs[0]!;
  const older = await jobs({ minion: "s-tick", before: cursor.jid, limit: 500 });
  assert.ok(older.jobs.every((j) => j.jid !== cursor.jid && j.created <= cursor.created));
  assert.ok(older.jobs.some((j) => j.schedule === "tick"), "paging goes on past a scheduled run");
  // a user's own history (user filter) has no scheduled runs: nobody ran them
  assert.ok((await jobs({ minion: "s-tick", user: "admin", limit: 500 })).jobs.every((j) => j.schedule === undefined));
  await assert.rejects(signedRequest<JobReply>(st.nc, st.s.api("job"), { jid: rows[0]!.jid }, st.admin, 10_000), (e: Error) =>
    /is a run of minion s-tick's schedule entry "tick", not a job: it has no job.new; natrium jobs minion s-tick/.test(e.message));
});

test("schedule - maxrunning 1: a run is skipped while the last one still runs, so runs never overlap", async () => {
  const rows = await atLeast("s-tick", "overlap", 2);
  for (let i = 1; i < rows.length; i++) {
    assert.ok(rows[i]!.start.getTime() >= rows[i - 1]!.end.getTime(), `run ${rows[i]!.jid} started before run ${rows[i - 1]!.jid} ended`);
  }
  const listed = (await call("s-tick", "schedule.list")).return as Listed;
  assert.ok(listed.jobs.overlap!.skipped > 0, "runs were skipped for maxrunning");
  assert.ok(listed.jobs.overlap!.running <= 1);
});

test("schedule - splay: a random delay of 0..splay is added to each run, and shown in schedule.list", async () => {
  // s-tick's entry `spl` (every 2 s, splay 1.5 s) runs on its random splay…
  const rows = await atLeast("s-tick", "spl", 2);
  assert.ok(rows.every((r) => r.success && r.return === "spl"));
  const tick = (await call("s-tick", "schedule.list")).return as Listed;
  const d = tick.jobs.spl!.splay_delay;
  assert.ok(d >= 0 && d <= 1.5, `splay delay ${d} within 0..1.5`);
  // …and with the randomness pinned to 0.5 (s-rt), a 300 s splay delays the run by exactly 150 s.
  const added = (await call("s-rt", "schedule.add", ["splayed"], { function: "test.ping", seconds: 600, splay: 300 })).return as { added: { splay_delay: number; next_run: string } };
  assert.equal(added.added.splay_delay, 150);
  const listed = (await call("s-rt", "schedule.list")).return as Listed;
  assert.equal(listed.jobs.splayed!.splay_delay, 150);
  assert.equal((await call("s-rt", "schedule.delete", ["splayed"])).success, true);
});

test("schedule - blackout: a scheduled function not whitelisted never runs; each run is a minion_blackout failure return, as a command's would be", async () => {
  const denied = await atLeast("s-dark", "marker", 2);
  for (const r of denied) {
    assert.deepEqual([r.fun, r.success, r.retcode, r.error?.code], ["cmd.run", false, 1, "minion_blackout"]);
    assert.equal(r.return, "minion in blackout: cmd.run is not in minion_blackout_whitelist");
  }
  const ok = await atLeast("s-dark", "ok", 2);
  assert.ok(ok.every((r) => r.success && r.return === true), "the whitelisted entry runs");
  assert.equal(existsSync(marker), false, "the blacked-out command never ran");
});

test("schedule - a scheduled run is in saltutil.running with its entry name, and saltutil.kill_job ends it", async () => {
  // `long` (test.sleep 120, run_on_start) started with the minion.
  const running = await waitFor("the scheduled run of `long` in saltutil.running", async () => {
    const jobs = (await call("s-tick", "saltutil.running")).return as { jid: string; fun: string; schedule?: string }[];
    return jobs.find((j) => j.schedule === "long");
  }, 20_000, 200);
  assert.equal(running.fun, "test.sleep");
  const killed = await call("s-tick", "saltutil.kill_job", [running.jid]);
  assert.equal((killed.return as { killed: boolean }).killed, true);
  const [r] = await waitFor("the killed run's return", async () => {
    const rows = (await scheduled("s-tick", "long")).filter((x) => x.jid === running.jid);
    return rows.length ? rows : undefined;
  }, 20_000, 100);
  assert.deepEqual([r!.success, r!.error?.code], [false, "job_killed"]);
});

test("schedule - process_count_max: a scheduled run waits for a slot like a command", async () => {
  type Running = { jid: string; queued: boolean; schedule?: string }[];
  const sleep = await st.publish({ tgt: "s-busy", fun: "test.sleep", arg: [3] });
  await waitFor("the command to hold the only slot", async () => ((await call("s-busy", "saltutil.running")).return as Running).find((j) => j.jid === sleep.jid && !j.queued), 20_000, 100);
  // schedule.run_job itself takes no slot; the run it starts needs one and waits.
  const asked = await st.publish({ tgt: "s-busy", fun: "schedule.run_job", arg: ["queued1"] });
  const queued = await waitFor("the scheduled run to wait in the queue", async () => ((await call("s-busy", "saltutil.running")).return as Running).find((j) => j.schedule === "queued1" && j.queued), 20_000, 100);
  const answer = await st.cachedJob(asked.jid, (j) => j.returns.length === 1, "schedule.run_job's answer");
  assert.deepEqual([answer.returns[0]!.success, (answer.returns[0]!.return as { jid: string; return: unknown }).return], [true, "q"]);
  assert.equal((answer.returns[0]!.return as { jid: string }).jid, queued.jid);
  const slept = await st.cachedJob(sleep.jid, (j) => j.returns.length === 1, "the command's return");
  const [run] = await waitFor("the queued run's return", async () => {
    const rows = (await scheduled("s-busy", "queued1")).filter((x) => x.jid === queued.jid);
    return rows.length ? rows : undefined;
  }, 20_000, 100);
  assert.ok(run!.start.getTime() >= slept.returns[0]!.end, "the scheduled run started only when the command had ended");
});

test("schedule module - add, run_job, disable_job, enable_job, disable, enable, delete, list; runtime changes survive a restart", async () => {
  let l = (await call("s-rt", "schedule.list")).return as Listed;
  assert.equal(l.enabled, true);
  assert.deepEqual([l.jobs.cfg1!.source, l.jobs.cfg1!.enabled, l.jobs.cfg1!.seconds], ["config", true, 3600]);
  assert.ok(l.jobs.cfg1!.next_run, "an enabled entry has a next run");

  const added = await call("s-rt", "schedule.add", ["job2"], { function: "test.echo", job_args: ["two"], hours: 1 });
  assert.equal(added.success, true);
  const again = await call("s-rt", "schedule.add", ["job2"], { function: "test.ping", seconds: 5 });
  assert.equal(again.success, false);
  assert.match(String(again.return), /schedule entry "job2" exists already/);
  const badKey = await call("s-rt", "schedule.add", ["job3"], { function: "test.ping", seconds: 5, every: 3 });
  assert.equal(badKey.success, false);
  assert.match(String(badKey.return), /unknown keyword argument "every"/);
  const badVal = await call("s-rt", "schedule.add", ["job3"], { function: "test.ping", seconds: 5, maxrunning: 0 });
  assert.match(String(badVal.return), /schedule entry "job3", key "maxrunning": must be a whole number/);

  // run_job: runs once, now, through the job path, and answers the run's result
  const ran = await call("s-rt", "schedule.run_job", ["job2"]);
  const res = ran.return as { name: string; jid: string; return: unknown; success: boolean };
  assert.deepEqual([ran.success, res.name, res.return, res.success], [true, "job2", "two", true]);
  const [row] = await waitFor("job2's run in the job cache", async () => {
    const rows = (await scheduled("s-rt", "job2")).filter((x) => x.jid === res.jid);
    return rows.length ? rows : undefined;
  }, 20_000, 100);
  assert.equal(row!.return, "two");
  const nope = await call("s-rt", "schedule.run_job", ["nope"]);
  assert.equal(nope.success, false);
  assert.match(String(nope.return), /no schedule entry "nope".*cfg1, job2/);

  // disable_job / enable_job, and run_job on a disabled entry
  assert.deepEqual((await call("s-rt", "schedule.disable_job", ["cfg1"])).return, { name: "cfg1", enabled: false });
  l = (await call("s-rt", "schedule.list")).return as Listed;
  assert.deepEqual([l.jobs.cfg1!.enabled, l.jobs.cfg1!.next_run], [false, null]);
  const refused = await call("s-rt", "schedule.run_job", ["cfg1"]);
  assert.match(String(refused.return), /"cfg1" is disabled; enable it/);
  const forced = await call("s-rt", "schedule.run_job", ["cfg1"], { force: true });
  assert.equal((forced.return as { return: unknown }).return, true);

  // the scheduler as a whole
  await call("s-rt", "schedule.disable");
  l = (await call("s-rt", "schedule.list")).return as Listed;
  assert.equal(l.enabled, false);
  assert.ok(Object.values(l.jobs).every((j) => j.next_run === null), "nothing runs while the scheduler is off");
  await call("s-rt", "schedule.enable");
  l = (await call("s-rt", "schedule.list")).return as Listed;
  assert.equal(l.enabled, true);
  assert.ok(l.jobs.job2!.next_run, "job2 armed again");
  assert.equal(l.jobs.cfg1!.next_run, null, "cfg1 keeps its own disabled state");

  const file = join(rtDir, "schedule.json");
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const saved = JSON.parse(readFileSync(file, "utf8")) as { enabled: boolean; jobs: Record<string, unknown>; job_enabled: Record<string, boolean> };
  assert.deepEqual(saved.jobs.job2, { function: "test.echo", args: ["two"], hours: 1 });
  assert.deepEqual([saved.enabled, saved.job_enabled.cfg1], [true, false]);

  // restart: a new process of the same minion (same keys, same config, same data dir)
  await restart("s-rt");
  l = (await call("s-rt", "schedule.list")).return as Listed;
  assert.deepEqual(Object.keys(l.jobs), ["cfg1", "job2"]);
  assert.deepEqual([l.jobs.job2!.source, l.jobs.job2!.enabled, l.jobs.cfg1!.enabled], ["runtime", true, false], "the runtime entry and the disabled config entry survived");

  const delCfg = await call("s-rt", "schedule.delete", ["cfg1"]);
  assert.equal(delCfg.success, false);
  assert.match(String(delCfg.return), /"cfg1" is in the minion config: remove it there/);
  assert.deepEqual((await call("s-rt", "schedule.delete", ["job2"])).return, { name: "job2", deleted: true });
  await restart("s-rt");
  l = (await call("s-rt", "schedule.list")).return as Listed;
  assert.deepEqual(Object.keys(l.jobs), ["cfg1"], "a deleted entry stays deleted");
  await call("s-rt", "schedule.enable_job", ["cfg1"]);
  l = (await call("s-rt", "schedule.list")).return as Listed;
  assert.ok(l.jobs.cfg1!.enabled && l.jobs.cfg1!.next_run);
});

async function restart(id: string): Promise<void> {
  const m = st.minions.get(id)!;
  await m.minion.stop({ graceMs: 500, deliverMs: 2000 });
  await m.nc.close();
  const nc = await connect({ servers: st.nats.url });
  const minion = new Minion({ nc, ns: st.s.ns, id, keys: m.keys, log: quiet, grains: { os: "Linux", id }, ...rtOptions() });
  await minion.start();
  st.minions.set(id, { minion, keys: m.keys, nc });
  await waitFor(`minion ${id} accepted again`, () => minion.accepted || undefined, 30_000, 50);
}

test("schedule config - bad entries stop the minion with a message naming the entry and the key", async () => {
  const dir = join(tmp, "cfg");
  mkdirSync(dir, { recursive: true });
  const cases: [string, RegExp, string][] = [
    ["schedule:\n  job1:\n    function: test.ping\n    seconds: 5\n    every: 3\n", /schedule entry "job1", key "every": unknown key; known: function, args/, "schedule.job1.every"],
    ["schedule:\n  job1:\n    seconds: 5\n", /schedule entry "job1", key "function": missing/, "schedule.job1.function"],
    ["schedule:\n  job1:\n    function: test.ping\n    cron: '61 * * * *'\n", /key "cron": cron expression "61 \* \* \* \*": minute: 61 is outside 0-59/, "schedule.job1.cron"],
    ["schedule:\n  job1:\n    function: test.ping\n", /schedule entry "job1": says nowhen/, "schedule.job1"],
    ["schedule:\n  - function: test.ping\n", /key "schedule": must be a mapping of entry names to entries, got a list/, "schedule"],
  ];
  for (const [i, [yaml, re, key]] of cases.entries()) {
    const f = join(dir, `m${i}.yaml`);
    writeFileSync(f, `data_dir: ${dir}\n${yaml}`);
    assert.throws(() => loadMinionConfig(f, {}, {}), (e: unknown) => e instanceof ConfigError && re.test(e.message) && e.key === key, yaml);
  }
  // The daemon itself refuses to start, exit status 2, saying why.
  const f = join(dir, "m0.yaml");
  const p = spawn(process.execPath, [MAIN, "--config", f], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  p.stderr!.on("data", (d) => (err += d));
  const code = await new Promise<number | null>((r) => p.once("exit", (c) => r(c)));
  assert.equal(code, 2);
  assert.match(err, /schedule entry "job1", key "every": unknown key/);
});
