// Minion behaviour against a real nats-server (issue 4): the single-instance lock, blackout,
// the offline spool of returns and process_count_max. The test plays the master (driver.ts).

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync, readdirSync, statSync, existsSync, readFileSync } from "node:fs";

const readFileSyncUtf8 = (f: string) => readFileSync(f, "utf8");
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { ephemeralKeys } from "../../services/common/keys.js";
import { Minion, type MinionOptions } from "../../services/minion/minion.js";
import { runMinion } from "../../services/minion/main.js";
import { acquireInstanceLock, InstanceLockedError } from "../../services/minion/lock.js";
import { natsFixture } from "../helpers/fixture.js";
import { waitFor } from "../helpers/ports.js";
import { Driver, quiet } from "../helpers/driver.js";
import { cli } from "../helpers/cli.js";

const MAIN = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../services/minion/main.js");

const fx = natsFixture("natrium-minion-bhv-");

/** A minion daemon as its own process (`node dist/services/minion/main.js`), its stderr kept. */
function spawnMinion(cfgFile: string): { p: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const p = spawn(process.execPath, [MAIN, "--config", cfgFile], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  p.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((r) => p.once("exit", (code) => r(code)));
  fx.cleanups.push(async () => {
    if (p.exitCode === null && p.signalCode === null) {
      p.kill("SIGKILL");
      await exited;
    }
  });
  return { p, stderr: () => err, exited };
}

test("minion lock - a second minion on the same data dir is refused naming the holder's pid; after kill -9 a new one starts at once", async () => {
  const d = await Driver.start(fx.nats.url);
  fx.cleanups.push(() => d.close());
  const dataDir = mkdtempSync(join(fx.tmp, "lock-"));
  const cfg = join(dataDir, "minion.yaml");
  writeFileSync(cfg, `nats_url: ${fx.nats.url}\nns: ${d.s.ns}\ndata_dir: ${dataDir}\nid: locked1\nlog_level: info\n`);

  const first = spawnMinion(cfg);
  await waitFor("the first minion to start", () => first.stderr().includes("minion starting") || undefined, 20_000);
  assert.equal(statSync(join(dataDir, "minion.lock")).mode & 0o777, 0o600);

  const second = spawnMinion(cfg);
  assert.equal(await second.exited, 1);
  assert.match(second.stderr(), new RegExp(`another minion \\(pid ${first.p.pid}\\) is running with this data_dir: .*minion\\.lock is locked`));

  // The CLI says the same (a typed start error exits 2 there).
  const viaCli = await cli(["minion", "-c", cfg], { cwd: dataDir, timeoutMs: 30_000 });
  assert.equal(viaCli.code, 2);
  assert.match(viaCli.stderr, new RegExp(`another minion \\(pid ${first.p.pid}\\) is running`));

  // In-process too: runMinion refuses with a typed error.
  await assert.rejects(runMinion({ config: cfg }), (e: unknown) => e instanceof InstanceLockedError && e.pid === first.p.pid);

  first.p.kill("SIGKILL");
  await first.exited;
  // No stale lock: the kernel dropped it with the process.
  const third = spawnMinion(cfg);
  await waitFor("a new minion to start after kill -9", () => third.stderr().includes("minion starting") || undefined, 20_000);
  assert.equal(third.p.exitCode, null);
  third.p.kill("SIGTERM");
  assert.equal(await third.exited, 0);
  // A clean stop releases the lock; it can be taken again in this process.
  acquireInstanceLock(join(dataDir, "minion.lock")).release();
});

/** A driver plus a started, accepted minion on its own connection. */
async function setup(opts: Partial<MinionOptions> = {}) {
  const d = await Driver.start(fx.nats.url);
  const nc = await connect({ servers: fx.nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const minion = new Minion({ nc, ns: d.s.ns, id: opts.id ?? "bhv1", keys: opts.keys ?? ephemeralKeys(), log: quiet, ...opts });
  await minion.start();
  await d.setKey(minion.id, "accepted");
  await minion.whenAccepted();
  fx.cleanups.push(async () => {
    await minion.stop({ graceMs: 500, deliverMs: 2000 });
    await nc.close();
    await d.close();
  });
  return { d, nc, minion };
}

test("minion blackout - only refresh_pillar and whitelisted functions run; the rest return a clear failure", async () => {
  const { d, minion } = await setup({ id: "dark", blackout: { enabled: true, whitelist: ["test.ping", "grains.*"] } });
  const { jid: ok } = await d.publish({ fun: "test.ping" });
  assert.equal((await d.ret(ok, "dark")).return, true);
  const { jid: g } = await d.publish({ fun: "grains.item", arg: ["id"] });
  assert.equal((await d.ret(g, "dark")).success, true);

  const file = join(fx.tmp, "blackout-ran");
  const { jid: no } = await d.publish({ fun: "cmd.run", arg: [`touch ${file}`] });
  const r = await d.ret(no, "dark");
  assert.equal(r.success, false);
  assert.equal(r.retcode, 1);
  assert.equal(r.error?.code, "minion_blackout");
  assert.equal(r.error?.message, "minion in blackout: cmd.run is not in minion_blackout_whitelist");
  assert.equal(r.return, "minion in blackout: cmd.run is not in minion_blackout_whitelist");
  assert.equal(existsSync(file), false, "the command did not run");

  // refresh_pillar always passes blackout (the module does not exist yet: 254, not a blackout).
  const { jid: rp } = await d.publish({ fun: "saltutil.refresh_pillar" });
  assert.equal((await d.ret(rp, "dark")).error?.code, "unknown_function");

  minion.setBlackout({ enabled: false, whitelist: [] });
  const { jid: after } = await d.publish({ fun: "cmd.run", arg: ["echo back"] });
  assert.equal((await d.ret(after, "dark")).return, "back");
});

test("minion process_count_max - jobs beyond the limit wait in order and start as others finish", async () => {
  const { d, minion } = await setup({ id: "busy", processCountMax: 2 });
  const jids: string[] = [];
  for (const len of [1.5, 1.5, 0.2, 0.2]) jids.push((await d.publish({ fun: "test.sleep", arg: [len] })).jid);
  await waitFor("four jobs taken", () => jids.every((j) => minion.tookJob(j)) || undefined);
  assert.deepEqual(minion.running().map((j) => j.jid).sort(), jids.slice(0, 2).sort());
  assert.deepEqual(minion.queued().map((j) => j.jid), jids.slice(2), "queued in arrival order");
  const rets = await Promise.all(jids.map((j) => d.ret(j, "busy")));
  for (const r of rets) assert.equal(r.success, true);
  // The queued ones started only when a slot was free: after the first two ended.
  const firstEnd = Math.min(rets[0]!.end, rets[1]!.end);
  assert.ok(rets[2]!.start >= firstEnd && rets[3]!.start >= firstEnd, JSON.stringify(rets.map((r) => [r.start, r.end])));
  assert.ok(rets[3]!.start >= rets[2]!.start);
  assert.equal(minion.running().length + minion.queued().length, 0);
});

test("minion process_count_max - jobs still queued at shutdown get an aborted return", async () => {
  const { d, minion } = await setup({ id: "queued-stop", processCountMax: 1 });
  const { jid: a } = await d.publish({ fun: "test.sleep", arg: [30] });
  const { jid: b } = await d.publish({ fun: "test.ping" });
  await waitFor("both taken", () => (minion.tookJob(a) && minion.tookJob(b)) || undefined);
  assert.equal(minion.queued().length, 1);
  await minion.stop({ graceMs: 200 });
  const rb = await d.ret(b, "queued-stop");
  assert.equal(rb.error?.code, "job_aborted");
  assert.match(String(rb.return), /process_count_max/);
  assert.equal((await d.ret(a, "queued-stop")).error?.code, "job_aborted");
});

const spoolFiles = (dir: string) => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".ret")) : []);

test("minion spool - a return made while NATS is down is spooled to disk, survives a minion restart, and lands exactly once", async () => {
  const keys = ephemeralKeys();
  const spoolDir = join(mkdtempSync(join(fx.tmp, "spool-")), "spool");
  const { d, nc, minion } = await setup({ id: "offline1", keys, spoolDir, spoolAfterMs: 200 });
  const { jid } = await d.publish({ fun: "test.sleep", arg: [1] });
  await waitFor("the job to start", () => minion.tookJob(jid) || undefined);
  await fx.nats.kill();
  // The job goes on without NATS; its return cannot be acknowledged, so it goes to disk.
  await waitFor("the return to be spooled", () => (minion.running().length === 0 && spoolFiles(spoolDir).length === 1) || undefined, 20_000);
  const [file] = spoolFiles(spoolDir);
  assert.equal(statSync(join(spoolDir, file!)).mode & 0o777, 0o600);
  assert.equal(statSync(spoolDir).mode & 0o777, 0o700);
  assert.equal(minion.spooledReturns, 1);

  // The minion stops while NATS is still down: the return stays on disk.
  await minion.stop({ graceMs: 100, spoolWaitMs: 300 });
  await nc.close();
  assert.deepEqual(spoolFiles(spoolDir), [file]);

  // A new minion process (same keys and data dir) starts, then NATS comes back.
  const nc2p = connect({ servers: fx.nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100, waitOnFirstConnect: true });
  await fx.nats.start();
  const nc2 = await nc2p;
  const again = new Minion({ nc: nc2, ns: d.s.ns, id: "offline1", keys, log: quiet, spoolDir });
  fx.cleanups.push(async () => { await again.stop({ graceMs: 100 }); await nc2.close(); });
  await again.start();
  const r = await d.ret(jid, "offline1", 60_000);
  assert.equal(r.success, true);
  await waitFor("the spool to empty", () => spoolFiles(spoolDir).length === 0 || undefined, 20_000);
  assert.equal(await d.count(d.s.jobRet(jid, "offline1")), 1);
  assert.equal(again.pendingReturns, 0);
});

test("minion spool - a minion kill -9'd while offline delivers its spooled return once, from its next start", async () => {
  const d = await Driver.start(fx.nats.url);
  fx.cleanups.push(() => d.close());
  const dataDir = mkdtempSync(join(fx.tmp, "killed-"));
  const cfg = join(dataDir, "minion.yaml");
  writeFileSync(cfg, `nats_url: ${fx.nats.url}\nns: ${d.s.ns}\ndata_dir: ${dataDir}\nid: killed1\nlog_level: info\n`);
  const first = spawnMinion(cfg);
  await d.setKey("killed1", "accepted");
  const seen = join(dataDir, "seen-jids");
  // Accepted once a command it selects is taken (it records the jid on disk before running it).
  const { jid } = await waitFor("the minion to take a job", async () => {
    const p = await d.publish({ tgt: "killed1", fun: "cmd.run", arg: ["sleep 1; echo done"] });
    return waitFor("it to take it", () => (existsSync(seen) && (readFileSyncUtf8(seen).includes(p.jid) || undefined)) || undefined, 1500).then(() => p, () => undefined);
  }, 30_000, 100);
  await fx.nats.kill();
  const spoolDir = join(dataDir, "spool");
  await waitFor("the return to be spooled", () => spoolFiles(spoolDir).length === 1 || undefined, 20_000);
  first.p.kill("SIGKILL");
  await first.exited;

  const second = spawnMinion(cfg);
  await fx.nats.start();
  const r = await d.ret(jid, "killed1", 60_000);
  assert.equal(r.return, "done");
  await waitFor("the spool to empty", () => spoolFiles(spoolDir).length === 0 || undefined, 20_000);
  assert.equal(await d.count(d.s.jobRet(jid, "killed1")), 1);
  assert.match(second.stderr(), /delivering returns left in the spool/);
  second.p.kill("SIGTERM");
  assert.equal(await second.exited, 0);
});

test("live output - NATS going away mid-command neither stalls nor kills it: chunks are dropped and counted, the return has everything", async () => {
  const spoolDir = join(mkdtempSync(join(fx.tmp, "live-")), "spool");
  const { d, minion } = await setup({ id: "live1", spoolDir, spoolAfterMs: 200 });
  const seen: string[] = [];
  d.nc.subscribe(d.s.allJobProg, { callback: (_e, m) => { seen.push(m.subject); } });
  const { jid } = await d.publish({ fun: "cmd.run", arg: ["for i in $(seq 1 30); do echo line$i; sleep 0.1; done"], timeout: 60 });
  await waitFor("the first chunk", () => seen.length > 0 || undefined, 10_000);
  await fx.nats.kill();
  await new Promise((r) => setTimeout(r, 1500));
  await fx.nats.start();
  const r = await d.ret(jid, "live1", 60_000);
  assert.equal(r.success, true);
  assert.equal(r.return, Array.from({ length: 30 }, (_, i) => `line${i + 1}`).join("\n"), "the return has the whole output");
  assert.ok(r.duration_ms < 8000, `the command was not held up by NATS (${r.duration_ms} ms for ~3 s of work)`);
  assert.ok(minion.stats.progress.droppedChunks > 0 && minion.stats.progress.droppedBytes > 0, JSON.stringify(minion.stats.progress));
  assert.ok(minion.stats.progress.chunks > 0);
});
