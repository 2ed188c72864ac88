import { Flags } from "@oclif/core";

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
