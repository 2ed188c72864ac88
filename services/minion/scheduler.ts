// The minion scheduler, as Salt's `schedule`: named entries that run a function every N
// seconds (seconds/minutes/hours/days, summed) or on a cron expression. Each run is handed to
// the minion's normal job path (blackout, process_count_max, kill_job, signed return, spool);
// this file only decides *when* and keeps the entries. Runtime changes (schedule.add, delete,
// enable_job, disable_job, enable, disable) live in `<data_dir>/schedule.json`, laid over the
// config's entries at start.

import { existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { writeFileAtomic } from "../common/atomic.js";
import { dirname } from "node:path";
import { NatriumError, showValue } from "../../contracts/errors.js";
import { FUN_PATTERN } from "../../contracts/events/job.js";
import type { Logger } from "../common/log.js";
import { CronError, cronNext, parseCron, type CronSpec } from "./cron.js";

/** A schedule entry that cannot be used; the message names the entry and the key. */
export class ScheduleEntryError extends NatriumError {
  constructor(readonly entry: string, readonly key: string | undefined, message: string) {
    super("bad_schedule", `schedule entry "${entry}"${key ? `, key "${key}"` : ""}: ${message}`);
  }
}

/** A schedule operation that cannot be done (no such entry, a config entry deleted…). */
export class ScheduleError extends NatriumError {
  constructor(message: string) {
    super("schedule", message);
  }
}

export interface ScheduleEntry {
  function: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  /** Interval in seconds (seconds + minutes + hours + days, summed); absent for cron entries. */
  interval?: number;
  cron?: string;
  splay: number;
  run_on_start: boolean;
  maxrunning: number;
  enabled: boolean;
  return_job: boolean;
  /** The keys as written (for schedule.list and schedule.json). */
  raw: Record<string, unknown>;
}

export const ENTRY_KEYS = ["function", "args", "kwargs", "seconds", "minutes", "hours", "days", "cron", "splay", "run_on_start", "maxrunning", "enabled", "return_job"] as const;
const UNITS = { seconds: 1, minutes: 60, hours: 3600, days: 86_400 } as const;
/** Longest interval setTimeout can hold in one go is ~24.8 days; longer ones are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

const TRUE = new Set(["true", "yes", "on", "1"]);
const FALSE = new Set(["false", "no", "off", "0"]);

/** Entry names: short, no path or subject characters, so they are safe in logs, files and events. */
export const ENTRY_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * Read one entry. Values may be typed (YAML) or strings (a command line: `seconds=5`), so
 * numbers and booleans are also taken from their text. Unknown keys are refused.
 */
export function parseEntry(name: string, raw: unknown): ScheduleEntry {
  if (!ENTRY_NAME.test(name)) throw new ScheduleEntryError(name.slice(0, 60), undefined, "a name is 1-128 letters, digits, '_', '.' or '-', not starting with '.' or '-'");
  const bad = (key: string, msg: string) => new ScheduleEntryError(name, key, msg);
  if (!raw || typeof raw !== "object" || Array.isArray(raw)) throw new ScheduleEntryError(name, undefined, `must be a mapping of keys (function, seconds, …), got ${showValue(raw)}`);
  const r = raw as Record<string, unknown>;
  for (const k of Object.keys(r)) {
    if (!(ENTRY_KEYS as readonly string[]).includes(k)) throw bad(k, `unknown key; known: ${ENTRY_KEYS.join(", ")}`);
  }
  const num = (key: string, min: number, integer = false): number | undefined => {
    const v = r[key];
    if (v === undefined || v === null) return undefined;
    const n = typeof v === "number" ? v : typeof v === "string" && v.trim() !== "" ? Number(v) : NaN;
    if (!Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) throw bad(key, `must be ${integer ? "a whole number" : "a number"} ≥ ${min}, got ${showValue(v)}`);
    return n;
  };
  const bool = (key: string, dflt: boolean): boolean => {
    const v = r[key];
    if (v === undefined || v === null) return dflt;
    if (typeof v === "boolean") return v;
    if (typeof v === "string" && TRUE.has(v.toLowerCase())) return true;
    if (typeof v === "string" && FALSE.has(v.toLowerCase())) return false;
    throw bad(key, `must be true or false, got ${showValue(v)}`);
  };

  const fun = r.function;
  if (fun === undefined) throw bad("function", "missing: the module.function to run, e.g. test.ping");
  if (typeof fun !== "string" || !new RegExp(FUN_PATTERN).test(fun) || fun.length > 200) throw bad("function", `must be module.function, got ${showValue(fun)}`);
  const args = r.args ?? [];
  if (!Array.isArray(args)) throw bad("args", `must be a list of positional arguments, got ${showValue(args)}`);
  const kwargs = r.kwargs ?? {};
  if (!kwargs || typeof kwargs !== "object" || Array.isArray(kwargs)) throw bad("kwargs", `must be a mapping of keyword arguments, got ${showValue(kwargs)}`);

  let interval: number | undefined;
  const units: string[] = [];
  for (const [unit, mult] of Object.entries(UNITS)) {
    const n = num(unit, 0);
    if (n !== undefined) {
      interval = (interval ?? 0) + n * mult;
      units.push(unit);
    }
  }
  const unitKey = units.join("+");
  let cron: string | undefined;
  if (r.cron !== undefined) {
    if (typeof r.cron !== "string") throw bad("cron", `must be a 5-field cron expression as a string, got ${showValue(r.cron)}`);
    if (interval !== undefined) throw bad("cron", "cannot be combined with seconds/minutes/hours/days: pick one way to say when");
    try {
      parseCron(r.cron);
    } catch (err) {
      if (err instanceof CronError) throw bad("cron", err.message);
      throw err;
    }
    cron = r.cron.trim();
  }
  if (interval === undefined && cron === undefined) throw new ScheduleEntryError(name, undefined, "says nowhen: give seconds, minutes, hours or days (summed), or cron");
  if (interval !== undefined && interval < 1) throw bad(unitKey, `the interval must be at least 1 second in all, got ${interval} s`);
  if (interval !== undefined && interval > 366 * 86_400) throw bad(unitKey, `the interval must be at most 366 days, got ${interval / 86_400} days`);
  const splay = num("splay", 0) ?? 0;
  if (interval !== undefined && splay >= interval) throw bad("splay", `must be less than the interval (${interval} s), or runs would pile up`);
  return {
    function: fun,
    args: args as unknown[],
    kwargs: kwargs as Record<string, unknown>,
    ...(interval !== undefined ? { interval } : {}),
    ...(cron !== undefined ? { cron } : {}),
    splay,
    // Salt: a job scheduled from the minion's start runs when the minion starts; cron jobs wait
    // for their first matching minute.
    run_on_start: bool("run_on_start", interval !== undefined),
    maxrunning: num("maxrunning", 1, true) ?? 1,
    enabled: bool("enabled", true),
    return_job: bool("return_job", true),
    raw: { ...r },
  };
}

/** Read the whole `schedule:` map; throws ScheduleEntryError for the first bad entry. */
export function parseSchedule(raw: Record<string, unknown>): Record<string, ScheduleEntry> {
  const out: Record<string, ScheduleEntry> = {};
  for (const [name, v] of Object.entries(raw)) out[name] = parseEntry(name, v);
  return out;
}

/** What a scheduled run ended with (the return's fields). */
export interface ScheduledResult {
  jid: string;
  fun: string;
  return: unknown;
  retcode: number;
  success: boolean;
  error?: { code: string; message: string };
}

/** The minion's side: start one run of an entry through the normal job path. */
export interface ScheduleRunner {
  /** Resolves with the run's result when it ends; undefined when the minion is stopping. */
  run(name: string, e: ScheduleEntry): Promise<ScheduledResult> | undefined;
}

/** One entry as schedule.list shows it. */
export interface ListedEntry {
  function: string;
  args: unknown[];
  kwargs: Record<string, unknown>;
  seconds?: number;
  cron?: string;
  splay: number;
  run_on_start: boolean;
  maxrunning: number;
  return_job: boolean;
  enabled: boolean;
  /** `config` (the minion config) or `runtime` (schedule.add). */
  source: "config" | "runtime";
  /** When the next run starts (ISO 8601, splay included); null when disabled (or the scheduler is). */
  next_run: string | null;
  /** The random delay (s) added to the next run; 0 without splay. */
  splay_delay: number;
  /** Runs started since the minion started, runs still going, runs skipped for maxrunning. */
  runs: number;
  running: number;
  skipped: number;
}

export interface ScheduleListing {
  /** The scheduler as a whole (schedule.enable / schedule.disable). */
  enabled: boolean;
  jobs: Record<string, ListedEntry>;
}

/** schedule.json: what was changed at run time. */
interface Persisted {
  v: 1;
  enabled?: boolean;
  /** Entries added by schedule.add, as written. */
  jobs: Record<string, Record<string, unknown>>;
  /** enable_job / disable_job, for config entries and runtime ones alike. */
  job_enabled: Record<string, boolean>;
}

interface Slot {
  name: string;
  entry: ScheduleEntry;
  source: "config" | "runtime";
  cron?: CronSpec;
  timer?: NodeJS.Timeout;
  /** When the next run is due, before splay (ms). */
  due?: number;
  splayMs: number;
  runs: number;
  running: number;
  skipped: number;
}

export interface SchedulerOptions {
  entries: Record<string, ScheduleEntry>;
  /** `<data_dir>/schedule.json`; absent: runtime changes last until the process ends. */
  file?: string;
  runner: ScheduleRunner;
  log: Logger;
  /** Source of randomness for splay (tests pin it). */
  random?: () => number;
}

export class Scheduler {
  private slots = new Map<string, Slot>();
  private state: Persisted = { v: 1, jobs: {}, job_enabled: {} };
  private started = false;
  private stopped = false;
  private readonly random: () => number;

  constructor(private readonly opts: SchedulerOptions) {
    this.random = opts.random ?? Math.random;
    for (const [name, entry] of Object.entries(opts.entries)) this.slots.set(name, this.slot(name, entry, "config"));
    this.load();
  }

  private slot(name: string, entry: ScheduleEntry, source: "config" | "runtime"): Slot {
    return { name, entry, source, ...(entry.cron ? { cron: parseCron(entry.cron) } : {}), splayMs: 0, runs: 0, running: 0, skipped: 0 };
  }

  private load(): void {
    const file = this.opts.file;
    if (!file || !existsSync(file)) return;
    let p: Persisted;
    try {
      p = JSON.parse(readFileSync(file, "utf8")) as Persisted;
      if (!p || p.v !== 1 || typeof p.jobs !== "object" || typeof p.job_enabled !== "object") throw new Error("not a schedule file of version 1");
    } catch (err) {
      // Written atomically, so this is damage from outside: keep it for a look, start from the config.
      const bad = `${file}.bad`;
      renameSync(file, bad);
      this.opts.log.error("schedule file unreadable; runtime schedule changes dropped, the file kept aside", { file, moved_to: bad, error: String((err as Error).message) });
      return;
    }
    for (const [name, raw] of Object.entries(p.jobs)) {
      if (this.slots.has(name)) {
        this.opts.log.warn("schedule entry added at run time now also in the config: the config's wins", { entry: name, file });
        continue;
      }
      try {
        this.slots.set(name, this.slot(name, parseEntry(name, raw), "runtime"));
        this.state.jobs[name] = raw;
      } catch (err) {
        this.opts.log.error("schedule entry in the schedule file refused", { entry: name, file, error: String((err as Error).message) });
      }
    }
    for (const [name, on] of Object.entries(p.job_enabled)) if (typeof on === "boolean") this.state.job_enabled[name] = on;
    if (typeof p.enabled === "boolean") this.state.enabled = p.enabled;
  }

  private save(): void {
    const file = this.opts.file;
    if (!file) return;
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileAtomic(file, JSON.stringify(this.state, null, 2) + "\n");
  }

  get enabled(): boolean {
    return this.state.enabled ?? true;
  }

  private isEnabled(s: Slot): boolean {
    return this.state.job_enabled[s.name] ?? s.entry.enabled;
  }

  /** Arm every enabled entry; `run_on_start` entries run now. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    const n = [...this.slots.values()].filter((s) => this.isEnabled(s)).length;
    if (this.slots.size) this.opts.log.info("scheduler started", { entries: this.slots.size, enabled_entries: n, scheduler_enabled: this.enabled });
    for (const s of this.slots.values()) this.arm(s, true);
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.slots.values()) this.disarm(s);
  }

  private disarm(s: Slot): void {
    clearTimeout(s.timer);
    s.timer = undefined;
    s.due = undefined;
    s.splayMs = 0;
  }

  /** Set the entry's next run and its timer (nothing when it, or the scheduler, is disabled). */
  private arm(s: Slot, atStart = false): void {
    this.disarm(s);
    if (!this.started || this.stopped || !this.enabled || !this.isEnabled(s)) return;
    const now = Date.now();
    if (atStart && s.entry.run_on_start) s.due = now;
    else if (s.cron) s.due = cronNext(s.cron, new Date(now))?.getTime();
    else s.due = now + s.entry.interval! * 1000;
    this.setTimer(s);
  }

  private setTimer(s: Slot): void {
    if (s.due === undefined) return;
    s.splayMs = s.entry.splay ? Math.floor(this.random() * s.entry.splay * 1000) : 0;
    const at = s.due + s.splayMs;
    const wait = Math.max(0, at - Date.now());
    s.timer = setTimeout(() => (wait > MAX_TIMER_MS ? this.setTimer(s) : this.fire(s)), Math.min(wait, MAX_TIMER_MS));
    s.timer.unref();
  }

  private fire(s: Slot): void {
    s.timer = undefined;
    this.start1(s, "schedule");
    // The next run counts from when this one was due, not when it started, so splay and a
    // busy minion do not make the schedule drift; runs missed meanwhile are not made up.
    const now = Date.now();
    if (s.cron) {
      s.due = cronNext(s.cron, new Date(Math.max(now, s.due ?? now)))?.getTime();
    } else {
      const step = s.entry.interval! * 1000;
      let due = (s.due ?? now) + step;
      if (due <= now) due += Math.ceil((now - due + 1) / step) * step;
      s.due = due;
    }
    this.setTimer(s);
  }

  /** Start one run unless maxrunning of this entry's runs are still going; the run's result, or why not. */
  private start1(s: Slot, why: "schedule" | "run_job"): Promise<ScheduledResult> | string {
    if (s.running >= s.entry.maxrunning) {
      s.skipped++;
      const msg = `schedule entry "${s.name}" not started: ${s.running} of its runs still running (maxrunning ${s.entry.maxrunning})`;
      this.opts.log.info(msg, { entry: s.name, why });
      return msg;
    }
    const p = this.opts.runner.run(s.name, s.entry);
    if (!p) return `schedule entry "${s.name}" not started: the minion is stopping`;
    s.runs++;
    s.running++;
    this.opts.log.debug("scheduled run started", { entry: s.name, fun: s.entry.function, why });
    void p.finally(() => s.running--).catch(() => {});
    return p;
  }

  private get(name: string): Slot {
    const s = this.slots.get(name);
    if (!s) throw new ScheduleError(`no schedule entry "${name}"; schedule.list shows them${this.slots.size ? ` (${[...this.slots.keys()].sort().join(", ")})` : " (there are none)"}`);
    return s;
  }

  list(): ScheduleListing {
    const jobs: Record<string, ListedEntry> = {};
    for (const s of [...this.slots.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      const e = s.entry;
      jobs[s.name] = {
        function: e.function,
        args: e.args,
        kwargs: e.kwargs,
        ...(e.interval !== undefined ? { seconds: e.interval } : {}),
        ...(e.cron !== undefined ? { cron: e.cron } : {}),
        splay: e.splay,
        run_on_start: e.run_on_start,
        maxrunning: e.maxrunning,
        return_job: e.return_job,
        enabled: this.isEnabled(s),
        source: s.source,
        next_run: s.timer && s.due !== undefined ? new Date(s.due + s.splayMs).toISOString() : null,
        splay_delay: s.timer ? s.splayMs / 1000 : 0,
        runs: s.runs,
        running: s.running,
        skipped: s.skipped,
      };
    }
    return { enabled: this.enabled, jobs };
  }

  /**
   * Run entry `name` now, once, whatever its schedule says (its next scheduled run stays as
   * it was), and resolve with the result. A disabled entry runs only with `force`.
   */
  async runJob(name: string, force = false): Promise<ScheduledResult> {
    const s = this.get(name);
    if (!force && !this.isEnabled(s)) throw new ScheduleError(`schedule entry "${name}" is disabled; enable it (schedule.enable_job ${name}) or pass force=True`);
    const p = this.start1(s, "run_job");
    if (typeof p === "string") throw new ScheduleError(p);
    return p;
  }

  enableJob(name: string): boolean {
    return this.setJob(name, true);
  }

  disableJob(name: string): boolean {
    return this.setJob(name, false);
  }

  private setJob(name: string, on: boolean): boolean {
    const s = this.get(name);
    this.state.job_enabled[name] = on;
    this.save();
    this.arm(s);
    this.opts.log.info(on ? "schedule entry enabled" : "schedule entry disabled", { entry: name });
    return on;
  }

  /** Turn the whole scheduler on or off (entries keep their own enabled state). */
  setEnabled(on: boolean): boolean {
    this.state.enabled = on;
    this.save();
    for (const s of this.slots.values()) this.arm(s);
    this.opts.log.info(on ? "scheduler enabled" : "scheduler disabled");
    return on;
  }

  /** A runtime entry: validated, kept in schedule.json, armed at once (no run_on_start run). */
  add(name: string, raw: Record<string, unknown>): ListedEntry {
    if (this.slots.has(name)) throw new ScheduleError(`schedule entry "${name}" exists already; delete it first (schedule.delete ${name})`);
    const entry = parseEntry(name, raw);
    const s = this.slot(name, entry, "runtime");
    this.slots.set(name, s);
    this.state.jobs[name] = entry.raw;
    delete this.state.job_enabled[name];
    this.save();
    this.arm(s);
    this.opts.log.info("schedule entry added", { entry: name, fun: entry.function });
    return this.list().jobs[name]!;
  }

  /** Remove a runtime entry. A config entry cannot be deleted here: it would be back at the next start. */
  delete(name: string): boolean {
    const s = this.get(name);
    if (s.source === "config") throw new ScheduleError(`schedule entry "${name}" is in the minion config: remove it there (or disable it: schedule.disable_job ${name})`);
    this.disarm(s);
    this.slots.delete(name);
    delete this.state.jobs[name];
    delete this.state.job_enabled[name];
    this.save();
    this.opts.log.info("schedule entry deleted", { entry: name });
    return true;
  }
}
