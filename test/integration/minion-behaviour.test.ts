// Minion behaviour against a real nats-server (issue 4): the single-instance lock, blackout,
// the offline spool of returns and process_count_max. The test plays the master (driver.ts).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, readdirSync, statSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { ephemeralKeys } from "../../services/common/keys.js";
import { Minion, type MinionOptions } from "../../services/minion/minion.js";
import { runMinion } from "../../services/minion/main.js";
import { acquireInstanceLock, InstanceLockedError } from "../../services/minion/lock.js";
import { startNats, type NatsServer } from "../helpers/nats.js";
import { waitFor } from "../helpers/ports.js";
import { Driver, quiet } from "../helpers/driver.js";

const MAIN = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../services/minion/main.js");

let nats: NatsServer;
let tmp: string;
const cleanups: (() => Promise<void> | void)[] = [];

before(async () => {
  nats = await startNats();
  tmp = mkdtempSync(join(tmpdir(), "natrium-minion-bhv-"));
});

after(async () => {
  for (const c of cleanups.reverse()) await c();
  await nats.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** A minion daemon as its own process (`node dist/services/minion/main.js`), its stderr kept. */
function spawnMinion(cfgFile: string): { p: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const p = spawn(process.execPath, [MAIN, "--config", cfgFile], { stdio: ["ignore", "ignore", "pipe"] });
  let err = "";
  p.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<number | null>((r) => p.once("exit", (code) => r(code)));
  cleanups.push(async () => {
    if (p.exitCode === null && p.signalCode === null) {
      p.kill("SIGKILL");
      await exited;
    }
  });
  return { p, stderr: () => err, exited };
}

test("minion lock - a second minion on the same data dir is refused naming the holder's pid; after kill -9 a new one starts at once", async () => {
  const d = await Driver.start(nats.url);
  cleanups.push(() => d.close());
  const dataDir = mkdtempSync(join(tmp, "lock-"));
  const cfg = join(dataDir, "minion.yaml");
  writeFileSync(cfg, `nats_url: ${nats.url}\nns: ${d.s.ns}\ndata_dir: ${dataDir}\nid: locked1\nlog_level: info\n`);

  const first = spawnMinion(cfg);
  await waitFor("the first minion to start", () => first.stderr().includes("minion starting") || undefined, 20_000);
  assert.equal(statSync(join(dataDir, "minion.lock")).mode & 0o777, 0o600);

  const second = spawnMinion(cfg);
  assert.equal(await second.exited, 1);
  assert.match(second.stderr(), new RegExp(`another minion \\(pid ${first.p.pid}\\) is running with this data_dir: .*minion\\.lock is locked`));

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
