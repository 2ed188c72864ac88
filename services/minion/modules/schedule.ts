// schedule: the minion's scheduler, as Salt's schedule module. Entries come from the minion
// config's `schedule:` and from schedule.add; changes made here are kept in
// <data_dir>/schedule.json and laid over the config at the next start (docs/minion.md).
// Example: natrium run '*' schedule.list

import type { ExecContext } from "./index.js";
import { ArgumentError, ExecError } from "../errors.js";
import { asBool, asString, onlyKwargs, param } from "../args.js";
import { ENTRY_KEYS, ScheduleEntryError, ScheduleError, type ListedEntry, type ScheduleListing, type Scheduler } from "../scheduler.js";

function schedulerOf(ctx: ExecContext): Scheduler {
  if (!ctx.schedule) throw new ExecError("unavailable", `${ctx.fun}: no scheduler (not running inside a minion)`);
  return ctx.schedule;
}

function nameArg(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): string {
  const name = asString(ctx.fun, "name", param(args, kwargs, { pos: 0, name: "name" })).trim();
  if (!name) throw new ArgumentError(ctx.fun, 'missing argument "name" (a schedule entry; schedule.list shows them)');
  return name;
}

/** Scheduler refusals become the job's error, with the scheduler's own message. */
async function guarded<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof ScheduleError || err instanceof ScheduleEntryError) throw new ExecError(err.code, err.message, 1, { cause: err });
    throw err;
  }
}

/**
 * List the schedule: `enabled` (the scheduler as a whole) and `jobs`, each entry with its
 * settings, its own `enabled` state, `source` (config or runtime), `next_run` (ISO 8601,
 * splay included; null when it will not run), and counters of runs started, running and
 * skipped for maxrunning since the minion started.
 *
 * CLI example: natrium run '*' schedule.list
 */
export async function list(ctx: ExecContext, _args: unknown[], kwargs: Record<string, unknown>): Promise<ScheduleListing> {
  onlyKwargs(ctx.fun, kwargs, []);
  return schedulerOf(ctx).list();
}

/**
 * Run schedule entry `name` now, once, through the normal job path (blackout,
 * process_count_max, its own jid and return), and answer its result: {name, jid, fun,
 * return, retcode, success}. The entry's next scheduled run is unchanged. A disabled entry
 * runs only with force=True; maxrunning applies (a run beyond it is refused).
 *
 * CLI example: natrium run '*' schedule.run_job job1
 */
export async function run_job(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<Record<string, unknown>> {
  onlyKwargs(ctx.fun, kwargs, ["name", "force"]);
  const name = nameArg(ctx, args, kwargs);
  const force = asBool(ctx.fun, "force", param(args, kwargs, { pos: 1, name: "force" }), false);
  const r = await guarded(() => schedulerOf(ctx).runJob(name, force));
  // The run's own failure is this job's failure too, so `natrium run` shows it as one.
  if (!r.success) ctx.setRetcode(r.retcode || 1);
  return { name, ...r };
}

/**
 * Enable schedule entry `name` (kept across restarts, over the config's `enabled`); its next
 * run counts from now. Returns {name, enabled: True}.
 *
 * CLI example: natrium run '*' schedule.enable_job job1
 */
export async function enable_job(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<{ name: string; enabled: boolean }> {
  onlyKwargs(ctx.fun, kwargs, ["name"]);
  const name = nameArg(ctx, args, kwargs);
  return { name, enabled: await guarded(() => schedulerOf(ctx).enableJob(name)) };
}

/**
 * Disable schedule entry `name` (kept across restarts, over the config's `enabled`): it does
 * not run until enabled again; runs already going finish. Returns {name, enabled: False}.
 *
 * CLI example: natrium run '*' schedule.disable_job job1
 */
export async function disable_job(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<{ name: string; enabled: boolean }> {
  onlyKwargs(ctx.fun, kwargs, ["name"]);
  const name = nameArg(ctx, args, kwargs);
  return { name, enabled: await guarded(() => schedulerOf(ctx).disableJob(name)) };
}

/**
 * Enable the scheduler as a whole (kept across restarts); each entry keeps its own enabled
 * state. Returns {enabled: True}.
 *
 * CLI example: natrium run '*' schedule.enable
 */
export async function enable(ctx: ExecContext, _args: unknown[], kwargs: Record<string, unknown>): Promise<{ enabled: boolean }> {
  onlyKwargs(ctx.fun, kwargs, []);
  return { enabled: await guarded(() => schedulerOf(ctx).setEnabled(true)) };
}

/**
 * Disable the scheduler as a whole (kept across restarts): no entry runs until
 * schedule.enable; schedule.run_job still runs one by hand. Returns {enabled: False}.
 *
 * CLI example: natrium run '*' schedule.disable
 */
export async function disable(ctx: ExecContext, _args: unknown[], kwargs: Record<string, unknown>): Promise<{ enabled: boolean }> {
  onlyKwargs(ctx.fun, kwargs, []);
  return { enabled: await guarded(() => schedulerOf(ctx).setEnabled(false)) };
}

/**
 * Add schedule entry `name` at run time, with the keys a config entry takes: function
 * (required), args (a list; Salt's job_args too), kwargs (a mapping; Salt's job_kwargs too),
 * seconds/minutes/hours/days (summed) or cron, splay, run_on_start, maxrunning, enabled,
 * return_job. Kept in <data_dir>/schedule.json; the first run is one interval from now (or the
 * next cron minute). Refused when the name exists. Returns the entry as schedule.list shows it.
 *
 * CLI example: natrium run '*' schedule.add job1 function=test.ping seconds=3600
 */
export async function add(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<{ name: string; added: ListedEntry }> {
  onlyKwargs(ctx.fun, kwargs, ["name", "job_args", "job_kwargs", ...ENTRY_KEYS]);
  const name = nameArg(ctx, args, kwargs);
  if (args.length > 1) throw new ArgumentError(ctx.fun, "takes one positional argument, the name; give the rest as key=value (function=test.ping seconds=60)");
  const { name: _n, job_args, job_kwargs, ...raw } = kwargs;
  if (job_args !== undefined) {
    if (raw.args !== undefined) throw new ArgumentError(ctx.fun, "give args or job_args, not both");
    raw.args = job_args;
  }
  if (job_kwargs !== undefined) {
    if (raw.kwargs !== undefined) throw new ArgumentError(ctx.fun, "give kwargs or job_kwargs, not both");
    raw.kwargs = job_kwargs;
  }
  return { name, added: await guarded(() => schedulerOf(ctx).add(name, raw)) };
}

/**
 * Delete schedule entry `name`, one added with schedule.add (a config entry is refused:
 * remove it from the config, or disable it). Returns {name, deleted: True}.
 *
 * CLI example: natrium run '*' schedule.delete job1
 */
async function deleteEntry(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<{ name: string; deleted: boolean }> {
  onlyKwargs(ctx.fun, kwargs, ["name"]);
  const name = nameArg(ctx, args, kwargs);
  return { name, deleted: await guarded(() => schedulerOf(ctx).delete(name)) };
}

// `delete` is a reserved word in a function declaration, not as an export name.
export { deleteEntry as delete };
