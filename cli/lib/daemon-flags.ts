import { Command, Flags } from "./oclif.js";
import { NatriumError } from "../../contracts/errors.js";

/** Flags shared by the daemon commands (master, minion, jobcache); the config file is the main source. */
export const daemonFlags = {
  config: Flags.string({ char: "c", description: "YAML config file (see docs/config.md)" }),
  "log-level": Flags.string({ char: "l", description: "trace, debug, info, warning, error or quiet" }),
  ns: Flags.string({ description: "subject namespace" }),
  "nats-url": Flags.string({ description: "NATS server URL (NATS_URL also works)" }),
};

export function daemonOverrides(flags: { "log-level"?: string; ns?: string; "nats-url"?: string; id?: string }): Record<string, unknown> {
  return { log_level: flags["log-level"], ns: flags.ns, nats_url: flags["nats-url"], id: flags.id };
}

/** The daemon commands' body: run the service with the flags; a typed start error exits 2 with its message. */
export async function runDaemon(
  cmd: Command,
  flags: Parameters<typeof daemonOverrides>[0] & { config?: string },
  run: (opts: { config?: string; overrides: Record<string, unknown> }) => Promise<void>,
): Promise<void> {
  try {
    await run({ config: flags.config, overrides: daemonOverrides(flags) });
  } catch (err) {
    if (err instanceof NatriumError) cmd.error(err.message, { exit: 2 });
    throw err;
  }
}
