// natrium returner: runs one returner module over its durable consumer until SIGTERM/SIGINT.
//
//   natrium returner start --module jsonl --name audit-sink --config path=/var/log/natrium/returns.jsonl
//   node dist/services/returners/main.js --config /etc/natrium/returner.yaml   (name, module in the file)
//
// Config keys: services/returners/config.ts (docs/config.md); the module's own keys go under
// `config`. This file only wires: config, NATS, settings, the host, and an orderly stop.

import { pathToFileURL } from "node:url";
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { NatriumError } from "../../contracts/errors.js";
import { checkReturnerName, subjects } from "../../contracts/subjects.js";
import type { ReturnerSettings } from "../../contracts/returners.js";
import { loadConfig } from "../common/config.js";
import { daemonArgs, exitOnStartError, serviceLogger, stopSignals } from "../common/daemon.js";
import { connectBus, sleep } from "../common/bus.js";
import { natsAuth } from "../common/natsauth.js";
import { ReturnerConfig } from "./config.js";
import { ReturnerHost } from "./host.js";
import { OrderedHost } from "./ordered.js";
import { queryModule, serveJobQueries } from "./queries.js";
import { isOrdered } from "./sdk.js";
import { returnerDurable } from "../../contracts/permissions.js";
import { loadReturnerModule } from "./loader.js";
import { deliverFrom, ensureReturnerStores, readSettings, writeSettings } from "./registry.js";
import { globToRegExp } from "../common/target.js";

export interface RunReturnerOptions {
  config?: string;
  /** Keys that win over the file (CLI flags); `config` entries are merged into the file's. */
  overrides?: Record<string, unknown>;
  /** Stops the host like SIGTERM does (for embedding and tests). */
  signal?: AbortSignal;
  /** Ordered modules only: rewind to just before this stream sequence (1: everything) before consuming. */
  rewindFrom?: number;
  /** Called once the host consumes (tests wait for it). */
  onStarted?: (host: ReturnerHost | OrderedHost) => void;
}

/**
 * The settings a host runs with: flags and file first, then what `returners add` registered,
 * then the defaults. `changed`: the record must be (re)written.
 */
export function resolveSettings(cfg: ReturnerConfig, registered: ReturnerSettings | undefined, now: number): { settings: ReturnerSettings; changed: boolean } {
  const settings: ReturnerSettings = {
    name: cfg.name,
    mode: cfg.mode || registered?.mode || "all",
    ...((cfg.filter_fun || registered?.filter_fun) ? { filter_fun: cfg.filter_fun || registered?.filter_fun } : {}),
    ...((cfg.filter_minion || registered?.filter_minion) ? { filter_minion: cfg.filter_minion || registered?.filter_minion } : {}),
    from: registered?.from ?? cfg.from,
    ...(registered?.description ? { description: registered.description } : {}),
    ts: registered?.ts ?? now,
  };
  const changed =
    !registered || registered.mode !== settings.mode || registered.filter_fun !== settings.filter_fun || registered.filter_minion !== settings.filter_minion;
  return { settings: changed ? { ...settings, ts: now } : settings, changed };
}

export async function runReturner(opts: RunReturnerOptions = {}): Promise<void> {
  const { config: moduleKeys, ...rest } = opts.overrides ?? {};
  const cfg0 = loadConfig(ReturnerConfig, opts.config, rest);
  const cfg: ReturnerConfig = { ...cfg0, config: { ...cfg0.config, ...((moduleKeys as Record<string, unknown>) ?? {}) } };
  if (!cfg.name) throw new NatriumError("bad_config", "a returner needs a name (--name, or `name` in its config): it names its durable consumer");
  checkReturnerName(cfg.name);
  deliverFrom(cfg.from);
  if (cfg.filter_fun) globToRegExp(cfg.filter_fun);
  if (cfg.filter_minion) globToRegExp(cfg.filter_minion);
  const s = subjects(cfg.ns);
  const log = serviceLogger("returner", cfg.log_level, { ns: cfg.ns, returner: cfg.name });
  const module = await loadReturnerModule(cfg.module);
  if (opts.rewindFrom !== undefined && !isOrdered(module)) {
    throw new NatriumError("bad_config", `--rewind-from is for ordered returners; move "${cfg.name}" with \`natrium returners reset ${cfg.name} --from SEQ\``);
  }
  if (isOrdered(module)) {
    // Every event reaches an ordered returner: a setting that picks some would be silently ignored.
    const picking = (["mode", "filter_fun", "filter_minion"] as const).filter((k) => cfg[k]);
    if (picking.length) {
      throw new NatriumError("bad_config", `returner module "${cfg.module}" is ordered (every event, exactly once): it takes no ${picking.join(", ")}; filter in its apply() instead`);
    }
  }

  const stop = stopSignals(log, opts.signal, "unacknowledged messages come again");
  const stopped = stop.stopped;

  let nc: NatsConnection | undefined;
  let host: ReturnerHost | OrderedHost | undefined;
  try {
    log.info("starting", { nats_url: cfg.nats_url, module: cfg.module });
    const auth = natsAuth(s, { role: "returner", name: cfg.name }, { seedFile: cfg.nats_seed });
    for (let attempt = 1; !stop.signal.aborted && !nc; attempt++) {
      try {
        nc = await connectBus({ url: cfg.nats_url, name: `natrium-returner-${cfg.name}`, log, auth });
      } catch (err) {
        if (attempt === 1 || attempt % 30 === 0) log.warn("cannot reach NATS; retrying every second", { nats_url: cfg.nats_url, error: String((err as Error).message) });
        await sleep(1000, stop.signal);
      }
    }
    if (!nc) return;
    const kv = await ensureReturnerStores(nc, await jetstreamManager(nc), s);
    if (isOrdered(module)) {
      // Registered so `returners list` shows it; its position is its own cursor, from the stream's start.
      const registered = await readSettings(kv, cfg.name);
      if (!registered || registered.mode !== "all" || registered.filter_fun || registered.filter_minion || registered.from !== "start") {
        await writeSettings(kv, { name: cfg.name, mode: "all", from: "start", description: "ordered: every event, exactly once", ts: Date.now() });
      }
      host = new OrderedHost({
        nc,
        s,
        name: cfg.name,
        durable: returnerDurable(cfg.name),
        module,
        config: cfg.config,
        label: `returner "${cfg.name}"`,
        statusKv: kv,
        log,
        batchSize: cfg.batch_size,
        batchWaitMs: cfg.batch_wait_ms,
        ackWaitSec: cfg.ack_wait_sec,
      });
      await host.start();
      if (opts.rewindFrom !== undefined) {
        log.info("rewinding before consuming", { from_seq: opts.rewindFrom });
        await host.rebuild(opts.rewindFrom);
      }
      if (cfg.serve_queries) serveJobQueries(nc, s, cfg.name, queryModule(cfg.name, module), log);
      log.info("returner started", { consumer: host.durable, ordered: true, last_seq: host.lastSeq });
      opts.onStarted?.(host);
      await stopped;
      return;
    }
    const { settings, changed } = resolveSettings(cfg, await readSettings(kv, cfg.name), Date.now());
    if (changed) await writeSettings(kv, settings);
    host = new ReturnerHost({
      nc,
      s,
      name: cfg.name,
      module,
      config: cfg.config,
      mode: settings.mode,
      filterFun: settings.filter_fun,
      filterMinion: settings.filter_minion,
      from: settings.from,
      maxDeliver: cfg.max_deliver,
      serveQueries: cfg.serve_queries,
      ackWaitSec: cfg.ack_wait_sec,
      retryBackoffMs: cfg.retry_backoff_ms,
      retryBackoffMaxMs: cfg.retry_backoff_max_ms,
      batchSize: cfg.batch_size,
      batchWaitMs: cfg.batch_wait_ms,
      log,
    });
    await host.start();
    log.info("returner started", { consumer: host.durable, mode: settings.mode, filter_fun: settings.filter_fun, filter_minion: settings.filter_minion });
    opts.onStarted?.(host);
    await stopped;
  } finally {
    stop.dispose();
    await host?.stop().catch((err) => log.error("stopping failed", { error: String((err as Error).message) }));
    await nc?.drain().catch(() => {});
    log.info("stopped", host instanceof ReturnerHost ? { ...host.stats } : host ? { last_seq: host.lastSeq } : {});
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  let args: ReturnType<typeof daemonArgs>;
  try {
    args = daemonArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`natrium returner: ${(err as Error).message}; usage: returners/main.js --config FILE [--log-level LEVEL] [--ns NS] [--nats-url URL]\n`);
    process.exit(2);
  }
  const { id: _id, ...overrides } = args.overrides;
  runReturner({ config: args.config, overrides }).then(() => process.exit(process.exitCode ?? 0), exitOnStartError("natrium returner"));
}
