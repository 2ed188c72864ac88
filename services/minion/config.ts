// The minion's configuration: the common keys plus the minion's own. Every key carries a
// description; docs/minion.md lists them and `describeConfig` prints them.

import { hostname } from "node:os";
import { join } from "node:path";
import { Type, type Static } from "@sinclair/typebox";
import { CommonConfig, ConfigError, loadConfig } from "../common/config.js";
import { parseSchedule, ScheduleEntryError, type ScheduleEntry } from "./scheduler.js";

export const MinionConfig = Type.Object({
  ...CommonConfig,
  id: Type.String({
    default: "",
    maxLength: 255,
    description: "this minion's id, unique in the installation; empty means the host name",
  }),
  master_finger: Type.String({
    default: "",
    description: "fingerprint of the master's signing key (natrium keys finger --master); empty pins the key seen first",
  }),
  grains: Type.Record(Type.String(), Type.Unknown(), {
    default: {},
    description: "static grains, merged over the detected ones (a key set here replaces the detected value)",
  }),
  job_timeout: Type.Number({
    default: 3600,
    exclusiveMinimum: 0,
    maximum: 31 * 86_400,
    description: "seconds a job may run before the minion stops it and returns a job_timeout error",
  }),
  module_dirs: Type.Array(Type.String(), {
    default: [],
    description: "directories of user execution modules (one .js/.mjs file per module); a module here replaces a built-in of the same name",
  }),
  shutdown_grace: Type.Number({
    default: 10,
    minimum: 0,
    maximum: 3600,
    description: "seconds running jobs get to finish on SIGTERM before they are aborted (their returns are still sent)",
  }),
  minion_blackout: Type.Boolean({
    default: false,
    description: "blackout: run only saltutil.refresh_pillar and the functions in minion_blackout_whitelist; every other command gets a failed return saying why",
  }),
  minion_blackout_whitelist: Type.Array(Type.String({ minLength: 1 }), {
    default: [],
    description: "function globs that still run in blackout, e.g. ['test.ping', 'grains.*']",
  }),
  heartbeat_interval: Type.Number({
    default: 30,
    minimum: 0,
    maximum: 3600,
    description:
      "seconds between this minion's heartbeats to the master (core NATS, not stored); the master counts a minion down after its presence_timeout without one (default 90). 0 turns heartbeats off: the minion then shows down between jobs",
  }),
  process_count_max: Type.Integer({
    default: 32,
    minimum: -1,
    maximum: 100_000,
    description: "most jobs running at once; more wait in arrival order and start as others finish; 0 or -1 means no limit",
  }),
  schedule: Type.Record(Type.String(), Type.Unknown(), {
    default: {},
    description:
      "scheduled jobs, as Salt's: name → {function, args, kwargs, seconds|minutes|hours|days (summed) or cron (5 fields, local time), splay, run_on_start, maxrunning, enabled, return_job}; see docs/minion.md",
  }),
});
export type MinionConfig = Static<typeof MinionConfig>;

/** Load, validate and fill the derived defaults (id, pki_dir). Throws ConfigError naming the key. */
export function loadMinionConfig(file: string | undefined, overrides: Record<string, unknown> = {}, env = process.env): MinionConfig {
  const cfg = loadConfig(MinionConfig, file, overrides, env);
  // A YAML list under grains: slips through the schema (defaulting turns it into {"0": …, "1": …});
  // no one names grains "0", "1", … so that shape is refused as the slip it is.
  const gk = Object.keys(cfg.grains);
  if (Array.isArray(cfg.grains) || (gk.length > 0 && gk.every((k, i) => k === String(i)))) throw new ConfigError('key "grains": must be a mapping of grain names to values, got a list', file, "grains");
  const sk = Object.keys(cfg.schedule);
  if (Array.isArray(cfg.schedule) || (sk.length > 0 && sk.every((k, i) => k === String(i)))) throw new ConfigError('key "schedule": must be a mapping of entry names to entries, got a list', file, "schedule");
  minionSchedule(cfg, file);
  if (!cfg.id) cfg.id = hostname();
  if (!cfg.pki_dir) cfg.pki_dir = join(cfg.data_dir, "pki");
  return cfg;
}

/** The config's schedule entries, checked; a bad one is a ConfigError naming `schedule.<entry>.<key>`. */
export function minionSchedule(cfg: MinionConfig, file?: string): Record<string, ScheduleEntry> {
  try {
    return parseSchedule(cfg.schedule);
  } catch (err) {
    if (err instanceof ScheduleEntryError) throw new ConfigError(`key "schedule": ${err.message}`, file, ["schedule", err.entry, ...(err.key ? [err.key] : [])].join("."));
    throw err;
  }
}
