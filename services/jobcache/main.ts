// natrium job cache: projects the events stream into PostgreSQL (or embedded PGlite) and
// answers history queries on {ns}.cache.*.
//
//   node dist/services/jobcache/main.js --config /etc/natrium/jobcache.yaml [--log-level debug]
//
// Config keys: services/jobcache/config.ts, documented in docs/jobcache.md. This file only
// wires the parts together and drains on SIGTERM/SIGINT.

import { pathToFileURL } from "node:url";
import type { NatsConnection } from "@nats-io/transport-node";
import { subjects } from "../../contracts/subjects.js";
import { loadConfig } from "../common/config.js";
import { daemonArgs, exitOnStartError, serviceLogger, stopSignals } from "../common/daemon.js";
import { connectBus, sleep, type NatsAuth } from "../common/bus.js";
import { natsAuth } from "../common/natsauth.js";
import type { Logger } from "../common/log.js";
import { JobcacheConfig } from "./config.js";
import { openStore, type Store } from "./store.js";
import { describe } from "../common/describe.js";
import { OrderedHost } from "../returners/ordered.js";
import { JobcacheReturner } from "./returner.js";
import { serveQueries } from "./queries.js";
import { scheduleRetention } from "./retention.js";
import { schedulePartitions } from "./partitions.js";
import { watchMasterKey, type MasterKey } from "./trust.js";

export interface RunJobcacheOptions {
  /** YAML config file. */
  config?: string;
  /** Keys that win over the file and the environment (CLI flags). */
  overrides?: Record<string, unknown>;
  /** Stops the job cache like SIGTERM does (for embedding and tests). */
  signal?: AbortSignal;
}

/** Keep trying until NATS answers: a daemon that starts before its server should wait, and say so. */
async function connectWithRetry(url: string, auth: NatsAuth | undefined, log: Logger, signal: AbortSignal): Promise<NatsConnection | undefined> {
  for (let attempt = 1; !signal.aborted; attempt++) {
    try {
      return await connectBus({ url, name: "natrium-jobcache", log, auth });
    } catch (err) {
      if (attempt === 1 || attempt % 30 === 0) log.warn("cannot reach NATS; retrying every second", { nats_url: url, attempt, error: describe(err) });
      await sleep(1000, signal);
    }
  }
  return undefined;
}

/** Run until SIGTERM/SIGINT (or `signal`), then drain: finish the batch, close NATS and the database. */
export async function runJobcache(opts: RunJobcacheOptions = {}): Promise<void> {
  const cfg = loadConfig(JobcacheConfig, opts.config, opts.overrides);
  const s = subjects(cfg.ns);
  const log = serviceLogger("jobcache", cfg.log_level, { ns: cfg.ns });

  const stop = stopSignals(log, opts.signal, "uncommitted events were never acknowledged and come again");
  const stopped = stop.stopped;

  let nc: NatsConnection | undefined;
  let store: Store | undefined;
  let master: MasterKey | undefined;
  let projector: OrderedHost | undefined;
  try {
    log.info("starting", { nats_url: cfg.nats_url, store: cfg.database_url ? "postgres" : "pglite" });
    nc = await connectWithRetry(cfg.nats_url, natsAuth(s, { role: "jobcache" }, { seedFile: cfg.nats_seed }), log, stop.signal);
    if (!nc) return;
    store = await openStore({ databaseUrl: cfg.database_url, dataDir: cfg.data_dir, poolSize: cfg.db_pool_size, log, signal: stop.signal });
    log.info("database ready", { store: store.kind, database: store.where });
    const st = store;
    serveQueries(nc, s, st, () => projector, log);
    master = await watchMasterKey(nc, s, log, stop.signal).catch((err) => {
      if (stop.signal.aborted) return undefined;
      throw err;
    });
    if (!master || stop.signal.aborted) return;
    // The job cache is an ordered returner (services/returners/sdk.ts) on the SDK's host.
    const p = new OrderedHost({
      nc,
      s,
      name: "jobcache",
      durable: s.jobcacheConsumer,
      module: new JobcacheReturner({ subjects: s, store: st, master, log }),
      label: "the job cache",
      log,
      batchSize: cfg.batch_size,
      batchWaitMs: cfg.batch_wait_ms,
      ackWaitSec: cfg.ack_wait_sec,
    });
    await p.start();
    projector = p;
    await schedulePartitions(st.db, log, stop.signal);
    scheduleRetention(st.db, cfg.keep_jobs, cfg.prune_interval, log, stop.signal);
    log.info("job cache started", { stream: s.stream, consumer: s.jobcacheConsumer, last_seq: p.lastSeq });
    await stopped;
  } finally {
    stop.dispose();
    await projector?.stop().catch((err) => log.error("stopping the consumer failed", { error: describe(err) }));
    master?.stop();
    await nc?.drain().catch(() => {});
    await store?.close().catch((err) => log.error("closing the database failed", { error: describe(err) }));
    log.info("stopped");
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  let args: ReturnType<typeof daemonArgs>;
  try {
    args = daemonArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`natrium jobcache: ${(err as Error).message}; usage: jobcache --config FILE [--log-level LEVEL] [--ns NS] [--nats-url URL]\n`);
    process.exit(2);
  }
  runJobcache(args).then(() => process.exit(process.exitCode ?? 0), exitOnStartError("natrium jobcache"));
}
