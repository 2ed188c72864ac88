// What every daemon's main does around its own start/stop: parse the few flags, load and
// validate the config, log, and turn SIGTERM/SIGINT into one orderly stop.

import { parseArgs } from "node:util";
import { NatriumError } from "../../contracts/errors.js";
import { createLogger, type Logger, type LogLevel } from "./log.js";

export interface DaemonArgs {
  config?: string;
  overrides: Record<string, unknown>;
}

/** `--config FILE`, `--log-level L`, `--id ID`, `--ns NS`, `--nats-url URL` from argv. */
export function daemonArgs(argv: string[]): DaemonArgs {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: "string", short: "c" },
      "log-level": { type: "string", short: "l" },
      id: { type: "string" },
      ns: { type: "string" },
      "nats-url": { type: "string" },
    },
    strict: true,
  });
  return {
    config: values.config,
    overrides: { log_level: values["log-level"], id: values.id, ns: values.ns, nats_url: values["nats-url"] },
  };
}

/**
 * Run a service until a signal: `start` returns its stop function. An error at start (bad
 * config, bad key file) is thrown to the caller, which reports it (see exitOnStartError).
 * A second signal exits at once.
 */
export async function runUntilSignal(
  _name: string,
  start: () => Promise<{ log: Logger; stop: () => Promise<void> }>,
): Promise<void> {
  const svc = await start();
  await new Promise<void>((resolve) => {
    let stopping = false;
    const onSignal = (sig: NodeJS.Signals) => {
      if (stopping) {
        svc.log.warn("second signal: exiting now", { signal: sig });
        process.exit(1);
      }
      stopping = true;
      svc.log.info("stopping", { signal: sig });
      svc.stop().then(
        () => { svc.log.info("stopped"); resolve(); },
        (err) => { svc.log.error("error while stopping", { error: err as Error }); process.exitCode = 1; resolve(); },
      );
    };
    process.on("SIGTERM", onSignal);
    process.on("SIGINT", onSignal);
  });
}

export function serviceLogger(service: string, level: LogLevel, extra: Record<string, unknown> = {}): Logger {
  return createLogger({ svc: service, pid: process.pid, ...extra }, level);
}

/** For a standalone main: one clear line for a typed error (exit 2), a stack for a bug (exit 1). */
export function exitOnStartError(name: string): (err: unknown) => never {
  return (err) => {
    const typed = err instanceof NatriumError;
    process.stderr.write(`${name}: ${typed ? (err as Error).message : (err as Error)?.stack ?? String(err)}\n`);
    process.exit(typed ? 2 : 1);
  };
}

export interface StopSignals {
  /** Aborted by SIGTERM, SIGINT or the caller's signal. */
  signal: AbortSignal;
  /** Resolves when it is. */
  stopped: Promise<void>;
  /** Remove the handlers (after the service stopped). */
  dispose(): void;
}

/**
 * SIGTERM, SIGINT or `external` aborting start one orderly stop; a second signal exits at once
 * (`why` says what that costs nothing, e.g. unacknowledged messages come again).
 */
export function stopSignals(log: Logger, external: AbortSignal | undefined, why: string): StopSignals {
  const stop = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (stop.signal.aborted) {
      log.warn(`second signal: exiting now (${why})`, { signal: sig });
      process.exit(1);
    }
    log.info("stopping", { signal: sig });
    stop.abort();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
  const onAbort = () => stop.abort();
  external?.addEventListener("abort", onAbort, { once: true });
  if (external?.aborted) stop.abort();
  return {
    signal: stop.signal,
    stopped: new Promise<void>((r) => (stop.signal.aborted ? r() : stop.signal.addEventListener("abort", () => r(), { once: true }))),
    dispose() {
      process.off("SIGTERM", onSignal);
      process.off("SIGINT", onSignal);
      external?.removeEventListener("abort", onAbort);
    },
  };
}
