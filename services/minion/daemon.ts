// The minion daemon: load config, load (or make) keys, connect, run one Minion, drain on
// SIGTERM/SIGINT. Loaded lazily by main.ts, which is the command-line entry.

import { join } from "node:path";
import { mkdirSync } from "node:fs";
import { loadMinionConfig, minionSchedule } from "./config.js";
import { loadOrCreateKeys } from "../common/keys.js";
import { connectBus, sleep } from "../common/bus.js";
import { natsAuth } from "../common/natsauth.js";
import { connectThroughBootstrap, isAuthRefused } from "./bootstrap.js";
import { subjects } from "../../contracts/subjects.js";
import { createLogger } from "../common/log.js";
import { Minion } from "./minion.js";
import { ModuleLoader, type BuiltinModules } from "./modules/index.js";
import { acquireInstanceLock } from "./lock.js";

export interface RunMinionOptions {
  config?: string;
  overrides?: Record<string, unknown>;
  /** Stops the minion like SIGTERM does (for embedding: `natrium up`, tests). */
  signal?: AbortSignal;
  /** Called once the minion is connected and has joined the bus. */
  onStarted?: (m: Minion) => void;
  /** Where the built-in execution modules are (the program's bundle); default: beside the loader. */
  builtinModules?: BuiltinModules;
}

/** Run a minion until SIGTERM/SIGINT (or `signal`), then drain; resolves when it is down. */
export async function runMinion(opts: RunMinionOptions = {}): Promise<void> {
  const cfg = loadMinionConfig(opts.config, opts.overrides);
  const log = createLogger({ svc: "minion", id: cfg.id }, cfg.log_level);
  mkdirSync(cfg.data_dir, { recursive: true, mode: 0o700 });
  // Before anything else touches the data dir (keys, seen jids, spool): one minion per data dir.
  const lock = acquireInstanceLock(join(cfg.data_dir, "minion.lock"));
  let keys;
  try {
    keys = loadOrCreateKeys(cfg.pki_dir, "minion");
  } catch (err) {
    lock.release();
    throw err;
  }

  let signals = 0;
  let onStop!: () => void;
  const stopRequested = new Promise<void>((r) => (onStop = r));
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      log.info("stopping: no new jobs; running ones get shutdown_grace to finish", { signal: sig, shutdown_grace: cfg.shutdown_grace });
      onStop();
    } else {
      log.error("second signal: exiting without waiting for jobs and returns", { signal: sig });
      process.exit(130);
    }
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  const onAbort = () => onStop();
  opts.signal?.addEventListener("abort", onAbort, { once: true });
  if (opts.signal?.aborted) onStop();

  try {
    const s = subjects(cfg.ns);
    const auth = natsAuth(s, { role: "minion", id: cfg.id }, { seedFile: cfg.nats_seed, ownSeed: keys.sign.seed })!;
    const name = `natrium-minion-${cfg.id}`;
    const stopBootstrap = new AbortController();
    void stopRequested.then(() => stopBootstrap.abort());
    const connecting = connectBus({ url: cfg.nats_url, name, log, waitForServer: true, auth }).catch((err) => {
      if (!isAuthRefused(err)) throw err;
      return connectThroughBootstrap({ url: cfg.nats_url, name, s, id: cfg.id, keys, auth, log, signal: stopBootstrap.signal });
    });
    const first = await Promise.race([connecting, stopRequested.then(() => undefined)]);
    if (!first) {
      connecting.then((nc) => nc?.close()).catch(() => {});
      return;
    }
    const nc = first;
    const minion = new Minion({
      nc,
      ns: cfg.ns,
      id: cfg.id,
      keys,
      staticGrains: cfg.grains,
      masterFinger: cfg.master_finger || undefined,
      pinFile: join(cfg.pki_dir, "master.pub"),
      seenFile: join(cfg.data_dir, "seen-jids"),
      grainsFile: join(cfg.data_dir, "grains"),
      spoolDir: join(cfg.data_dir, "spool"),
      jobTimeoutSec: cfg.job_timeout,
      blackout: { enabled: cfg.minion_blackout, whitelist: cfg.minion_blackout_whitelist },
      processCountMax: cfg.process_count_max,
      schedule: minionSchedule(cfg),
      scheduleFile: join(cfg.data_dir, "schedule.json"),
      log,
      modules: new ModuleLoader(cfg.module_dirs, opts.builtinModules),
      hostOptions: { heartbeatIntervalSec: cfg.heartbeat_interval },
    });
    log.info("minion starting", { ns: cfg.ns, nats_url: cfg.nats_url, finger: minion.finger, pki_dir: cfg.pki_dir });
    if (cfg.minion_blackout) log.warn("minion in blackout: only saltutil.refresh_pillar and minion_blackout_whitelist run", { whitelist: cfg.minion_blackout_whitelist });
    let stopping = false;
    const starting = minion.start().then(
      () => {
        if (stopping) return;
        log.info("minion announced to the master", { id: cfg.id });
        opts.onStarted?.(minion);
      },
      (err) => log.error("minion start failed", { error: err as Error }),
    );
    await stopRequested;
    stopping = true;
    await minion.stop({ graceMs: cfg.shutdown_grace * 1000 });
    await starting;
    // Bounded: with NATS away a drain would wait for a reconnect that may not come (what was
    // not acknowledged is in the spool).
    const drained = nc.drain().catch(() => {});
    if ((await Promise.race([drained.then(() => true), sleep(5000).then(() => false)])) === false) await nc.close();
    log.info("minion stopped");
  } finally {
    lock.release();
    process.off("SIGTERM", onSignal);
    process.off("SIGINT", onSignal);
    opts.signal?.removeEventListener("abort", onAbort);
  }
}
