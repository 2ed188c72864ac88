// saltutil: the jobs running on this minion, and control over them (Salt's saltutil.running,
// find_job, kill_job, term_job, signal_job). A job's processes are the process groups its
// function started (cmd.* registers each command); a signal goes to every process in them.
// No configuration. Example: natrium run '*' saltutil.running

import { constants } from "node:os";
import type { ExecContext, JobControl, JobInfo } from "./index.js";
import { ArgumentError, ExecError } from "../errors.js";
import { asString, onlyKwargs, param } from "../args.js";

/** What kill_job, term_job and signal_job answer for a job that runs here. */
export interface SignalReply {
  jid: string;
  fun: string;
  signal: string;
  /** Process groups the signal was sent to (empty: the job started no process). */
  pids: number[];
  /** The job was ended at once; its own return says it was killed. */
  killed: boolean;
}

function jobsOf(ctx: ExecContext): JobControl {
  if (!ctx.jobs) throw new ExecError("unavailable", `${ctx.fun}: no job table (not running inside a minion)`);
  return ctx.jobs;
}

function jidArg(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): string {
  const jid = asString(ctx.fun, "jid", param(args, kwargs, { pos: 0, name: "jid" })).trim();
  if (!/^\d{20}$/.test(jid)) throw new ArgumentError(ctx.fun, `"jid" must be a job id (20 digits), got "${jid.slice(0, 40)}"`);
  return jid;
}

/** A signal by name (SIGTERM, TERM, term) or number (15), as Node names it. */
export function _signalName(fun: string, v: unknown): NodeJS.Signals {
  const sigs = constants.signals as Record<string, number>;
  if (typeof v === "number" || (typeof v === "string" && /^\d+$/.test(v.trim()))) {
    const n = Number(v);
    const name = Object.keys(sigs).find((k) => sigs[k] === n);
    if (!name || n === 0) throw new ArgumentError(fun, `no signal numbered ${n}`);
    return name as NodeJS.Signals;
  }
  if (typeof v !== "string" || !v.trim()) throw new ArgumentError(fun, `missing argument "signal" (a name such as SIGTERM, or a number)`);
  const up = v.trim().toUpperCase();
  const name = up.startsWith("SIG") ? up : `SIG${up}`;
  if (!(name in sigs)) throw new ArgumentError(fun, `unknown signal "${v}"`);
  return name as NodeJS.Signals;
}

function send(ctx: ExecContext, jid: string, sig: NodeJS.Signals, abort: boolean): SignalReply | Record<string, never> {
  const jobs = jobsOf(ctx);
  const job = jobs.find(jid);
  if (!job) return {};
  const o = jobs.signal(jid, sig, ctx.fun, abort);
  if (!o) return {};
  return { jid, fun: job.fun, signal: o.signal, pids: o.pids, killed: o.aborted };
}

/**
 * Return the jobs running on this minion (and those waiting for a process_count_max slot), each
 * with jid, fun, arg, kwarg, tgt, user, pid (the minion's), pids (the processes the job
 * started), start (ms since the epoch) and queued. This job itself is left out.
 *
 * CLI example: natrium run '*' saltutil.running
 */
export async function running(ctx: ExecContext, _args: unknown[], kwargs: Record<string, unknown>): Promise<JobInfo[]> {
  onlyKwargs(ctx.fun, kwargs, []);
  return jobsOf(ctx).list().filter((j) => j.jid !== ctx.jid);
}

/**
 * Return the entry of job `jid` if it runs on this minion (as saltutil.running shows it), else
 * {}. The master asks this of minions that have not returned when a job's timeout passes.
 *
 * CLI example: natrium run '*' saltutil.find_job 20261127082615123456
 */
export async function find_job(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<JobInfo | Record<string, never>> {
  onlyKwargs(ctx.fun, kwargs, ["jid"]);
  return jobsOf(ctx).find(jidArg(ctx, args, kwargs)) ?? {};
}

/**
 * Kill job `jid`: SIGKILL to every process it started, and the job ends at once; its return
 * says "job killed by saltutil.kill_job (SIGKILL)". Returns {jid, fun, signal, pids, killed},
 * or {} when the job does not run here.
 *
 * CLI example: natrium run '*' saltutil.kill_job 20261127082615123456
 */
export async function kill_job(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<SignalReply | Record<string, never>> {
  onlyKwargs(ctx.fun, kwargs, ["jid"]);
  return send(ctx, jidArg(ctx, args, kwargs), "SIGKILL", true);
}

/**
 * Terminate job `jid`: SIGTERM to every process it started, and the job ends at once (a
 * process still there 2 s later gets SIGKILL); its return says it was killed. Returns
 * {jid, fun, signal, pids, killed}, or {} when the job does not run here.
 *
 * CLI example: natrium run '*' saltutil.term_job 20261127082615123456
 */
export async function term_job(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<SignalReply | Record<string, never>> {
  onlyKwargs(ctx.fun, kwargs, ["jid"]);
  return send(ctx, jidArg(ctx, args, kwargs), "SIGTERM", true);
}

/**
 * Send `signal` (a name such as SIGUSR1 or HUP, or a number) to every process job `jid`
 * started. The job goes on and returns what its processes do, except that SIGKILL ends it at
 * once, and so does a signal that would end a process when the job started none. Returns
 * {jid, fun, signal, pids, killed}, or {} when the job does not run here.
 *
 * CLI example: natrium run '*' saltutil.signal_job 20261127082615123456 SIGUSR1
 */
export async function signal_job(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<SignalReply | Record<string, never>> {
  onlyKwargs(ctx.fun, kwargs, ["jid", "signal"]);
  const jid = jidArg(ctx, args, kwargs);
  const sig = _signalName(ctx.fun, param(args, kwargs, { pos: 1, name: "signal" }));
  return send(ctx, jid, sig, false);
}

/**
 * Look at the module directories again (module_dirs): new, changed and removed user modules
 * take effect for the next job, shadowing built-ins of the same name. Returns the user modules
 * now loaded, as "modules.<name>".
 *
 * CLI example: natrium run '*' saltutil.sync_modules
 */
export async function sync_modules(ctx: ExecContext, _args: unknown[], kwargs: Record<string, unknown>): Promise<string[]> {
  onlyKwargs(ctx.fun, kwargs, ["refresh"]);
  return ctx.modules.sync().map((m) => `modules.${m}`);
}

/**
 * Detect the grains again (custom grains stay on top) and send them to the master, so targets
 * resolve on current facts. Returns True.
 *
 * CLI example: natrium run '*' saltutil.refresh_grains
 */
export async function refresh_grains(ctx: ExecContext, _args: unknown[], kwargs: Record<string, unknown>): Promise<boolean> {
  onlyKwargs(ctx.fun, kwargs, []);
  if (!ctx.refreshGrains) throw new ExecError("unavailable", `${ctx.fun}: this minion cannot refresh its grains`);
  await ctx.refreshGrains();
  return true;
}
