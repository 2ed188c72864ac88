// cmd: run shell commands on the minion. Options, as keyword arguments:
//   cwd      working directory (default: the minion's)
//   env      map of environment variables, added to the minion's environment
//   shell    true (default for a string command) runs it with /bin/sh -c; a path picks the
//            shell; false runs the program directly (a string is split like a shell would)
//   timeout  seconds; the command (its whole process group) is killed after that
//   stdin    text written to the command's standard input
//   rstrip   strip trailing whitespace from the output (default true)
//   runas    run as this local user (name or uid), with its uid, gid, HOME, USER and LOGNAME,
//            in its home directory unless cwd is given; needs the minion to run as root
//   progress stream the output live on the job's progress subject as it is written
//            (default true; `natrium run --stream` and `natrium jobs watch` show it). The
//            return has the whole output either way; progress=False sends nothing while it runs
// `python_shell` is accepted as Salt's name for `shell`. cmd.script takes the same options.
// Example: natrium run '*' cmd.run 'df -h /' timeout=10

import { existsSync } from "node:fs";
import { chown, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { basename, isAbsolute, join } from "node:path";
import { lookupUser, type LocalUser } from "../users.js";
import { signalGroup } from "../process-group.js";
import { spawn } from "node:child_process";
import { constants } from "node:os";
import type { ExecContext } from "./index.js";
import { ArgumentError, ExecError, JobKilledError } from "../errors.js";
import { asBool, asNumber, asString, onlyKwargs, param } from "../args.js";

const OPTIONS = ["cmd", "cwd", "env", "shell", "python_shell", "timeout", "stdin", "rstrip", "progress", "runas"] as const;
/** Output kept per stream; more is dropped (a return must fit a NATS message anyway). */
const MAX_OUTPUT = 8 * 1024 * 1024;

export interface RunResult {
  pid: number;
  retcode: number;
  stdout: string;
  stderr: string;
  /** stdout and stderr interleaved in arrival order. */
  merged: string;
}

/** Split a command line into words: whitespace separates, quotes and backslashes group. */
export function _split(line: string): string[] {
  const out: string[] = [];
  let cur = "";
  let has = false;
  let q: '"' | "'" | null = null;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (q === "'") {
      if (c === "'") q = null;
      else cur += c;
    } else if (q === '"') {
      if (c === '"') q = null;
      else if (c === "\\" && i + 1 < line.length && '"\\$`'.includes(line[i + 1])) cur += line[++i];
      else cur += c;
    } else if (c === "'" || c === '"') {
      q = c;
      has = true;
    } else if (c === "\\" && i + 1 < line.length) {
      cur += line[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = "";
      has = false;
    } else cur += c;
  }
  if (q) throw new Error(`unterminated ${q} quote`);
  if (has || cur) out.push(cur);
  return out;
}

function display(cmd: string | string[]): string {
  const s = Array.isArray(cmd) ? cmd.join(" ") : cmd;
  return s.length > 200 ? s.slice(0, 200) + "…" : s;
}

/** Kill the command and everything it started: it runs as the leader of its own process group. */
function killGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (pid) signalGroup(pid, sig);
}

/**
 * Run a program (no shell) for another module (pkg, service, network): its output is the
 * caller's to read, so it is not streamed unless `progress` asks for it.
 */
export function _run(ctx: ExecContext, argv: string[], opts: { timeout?: number; env?: Record<string, string>; progress?: boolean } = {}): Promise<RunResult> {
  return _execute(ctx, [argv], { shell: false, progress: opts.progress ?? false, ...(opts.timeout ? { timeout: opts.timeout } : {}), ...(opts.env ? { env: opts.env } : {}) });
}

export async function _execute(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<RunResult> {
  const fun = ctx.fun;
  onlyKwargs(fun, kwargs, OPTIONS);
  const rawCmd = param(args, kwargs, { pos: 0, name: "cmd" });
  let cmd: string | string[];
  if (Array.isArray(rawCmd)) {
    if (rawCmd.length === 0) throw new ArgumentError(fun, "the command list is empty");
    cmd = rawCmd.map((a, i) => asString(fun, `cmd[${i}]`, a));
  } else {
    cmd = asString(fun, "cmd", rawCmd);
    if (!cmd.trim()) throw new ArgumentError(fun, "the command is empty");
  }
  if (args.length > 1) throw new ArgumentError(fun, `takes one positional argument (the command), got ${args.length}; pass options as key=value`);
  const cwd = kwargs.cwd === undefined ? undefined : asString(fun, "cwd", kwargs.cwd);
  const stdin = kwargs.stdin === undefined ? undefined : asString(fun, "stdin", kwargs.stdin);
  const timeout = kwargs.timeout === undefined || kwargs.timeout === null ? 0 : asNumber(fun, "timeout", kwargs.timeout);
  if (timeout < 0) throw new ArgumentError(fun, `"timeout" must be positive, got ${timeout}`);
  const rstrip = asBool(fun, "rstrip", kwargs.rstrip, true);
  const live = asBool(fun, "progress", kwargs.progress, true) ? ctx.progress?.bind(ctx) : undefined;
  let env: NodeJS.ProcessEnv = process.env;
  if (kwargs.env !== undefined && kwargs.env !== null) {
    if (typeof kwargs.env !== "object" || Array.isArray(kwargs.env)) throw new ArgumentError(fun, '"env" must be a map of names to values');
    env = { ...process.env };
    for (const [k, v] of Object.entries(kwargs.env as Record<string, unknown>)) env[k] = asString(fun, `env.${k}`, v);
  }
  let as: LocalUser | undefined;
  if (kwargs.runas !== undefined && kwargs.runas !== null && kwargs.runas !== "") {
    const who = typeof kwargs.runas === "number" ? String(kwargs.runas) : asString(fun, "runas", kwargs.runas);
    as = lookupUser(who);
    if (!as) throw new ExecError("not_found", `${fun}: runas user "${who.slice(0, 64)}" does not exist on this minion`);
    const me = process.getuid?.();
    if (me !== 0 && me !== as.uid) throw new ExecError("permission_denied", `${fun}: runas=${as.name} needs the minion to run as root (it runs as uid ${me})`);
    env = { ...env, HOME: as.home, USER: as.name, LOGNAME: as.name };
  }
  const shellOpt = kwargs.shell ?? kwargs.python_shell;
  let shell: string | false;
  if (typeof shellOpt === "string" && shellOpt.startsWith("/")) shell = shellOpt;
  else shell = asBool(fun, "shell", shellOpt, !Array.isArray(cmd)) ? "/bin/sh" : false;

  let file: string;
  let argv: string[];
  if (shell) {
    file = shell;
    argv = ["-c", Array.isArray(cmd) ? cmd.map(shellQuote).join(" ") : cmd];
  } else {
    let words: string[];
    try {
      words = Array.isArray(cmd) ? cmd : _split(cmd);
    } catch (err) {
      throw new ArgumentError(fun, `cannot split the command: ${(err as Error).message}`);
    }
    if (words.length === 0) throw new ArgumentError(fun, "the command is empty");
    [file, ...argv] = words;
  }

  ctx.signal.throwIfAborted();
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(file, argv, {
      // A system user's home often does not exist (nobody: /nonexistent); then the root directory.
      cwd: cwd ?? (as ? (existsSync(as.home) ? as.home : "/") : undefined),
      env,
      ...(as ? { uid: as.uid, gid: as.gid } : {}),
      detached: true,
      stdio: [stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    // Registered with the job, so saltutil.signal_job / kill_job reach the command's process group.
    const unregister = child.pid ? ctx.jobs?.addProcess(child.pid) : undefined;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const merged: Buffer[] = [];
    let outLen = 0;
    let errLen = 0;
    let timedOut = false;
    let spawnError: Error | undefined;
    child.stdout!.on("data", (d: Buffer) => {
      if (outLen < MAX_OUTPUT) { out.push(d); merged.push(d); }
      outLen += d.length;
      live?.("stdout", d);
    });
    child.stderr!.on("data", (d: Buffer) => {
      if (errLen < MAX_OUTPUT) { err.push(d); merged.push(d); }
      errLen += d.length;
      live?.("stderr", d);
    });
    if (stdin !== undefined) {
      child.stdin!.on("error", () => {}); // the command may exit without reading it all
      child.stdin!.end(stdin);
    }
    const timer = timeout > 0 ? setTimeout(() => { timedOut = true; killGroup(child.pid, "SIGKILL"); }, timeout * 1000) : undefined;
    let lateKill: NodeJS.Timeout | undefined;
    const onAbort = () => {
      // A job killed through saltutil has had its signal already.
      if (!(ctx.signal.reason instanceof JobKilledError)) killGroup(child.pid, "SIGTERM");
      // A command that ignores SIGTERM still goes; the job has already ended for the master.
      lateKill = setTimeout(() => killGroup(child.pid, "SIGKILL"), 2000).unref();
    };
    ctx.signal.addEventListener("abort", onAbort, { once: true });
    child.on("error", (e) => { spawnError = e; });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      clearTimeout(lateKill);
      unregister?.();
      ctx.signal.removeEventListener("abort", onAbort);
      if (spawnError) {
        return reject(new ExecError("spawn_failed", `unable to run command '${display(cmd)}': ${spawnError.message}`, 1, { cause: spawnError }));
      }
      if (timedOut) {
        return reject(new ExecError("command_timeout", `command '${display(cmd)}' timed out after ${timeout} s and was killed`));
      }
      if (ctx.signal.aborted) return reject(ctx.signal.reason);
      const retcode = code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1);
      const text = (bufs: Buffer[]) => {
        const s = Buffer.concat(bufs).toString("utf8");
        return rstrip ? s.replace(/\s+$/, "") : s;
      };
      resolve({ pid: child.pid ?? 0, retcode, stdout: text(out), stderr: text(err), merged: text(merged) });
    });
  });
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_\-+=.,/:@%^]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Run a command and return its output, stderr merged into stdout. The job's retcode is the
 * command's exit status.
 *
 * CLI example: natrium run '*' cmd.run 'ls -l /etc | wc -l'
 * CLI example: natrium run '*' cmd.run 'make test' cwd=/srv/app timeout=600
 */
export async function run(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<string> {
  const r = await _execute(ctx, args, kwargs);
  ctx.setRetcode(r.retcode);
  return r.merged;
}

/**
 * Run a command and return {pid, retcode, stdout, stderr}. The job's retcode is the command's.
 *
 * CLI example: natrium run '*' cmd.run_all 'systemctl is-active nats'
 */
export async function run_all(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<Omit<RunResult, "merged">> {
  const { pid, retcode, stdout, stderr } = await _execute(ctx, args, kwargs);
  ctx.setRetcode(retcode);
  return { pid, retcode, stdout, stderr };
}

/**
 * Run a command and return its standard output only.
 *
 * CLI example: natrium run '*' cmd.run_stdout 'hostname -f'
 */
export async function run_stdout(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<string> {
  const r = await _execute(ctx, args, kwargs);
  ctx.setRetcode(r.retcode);
  return r.stdout;
}

/**
 * Run a command and return its standard error only.
 *
 * CLI example: natrium run '*' cmd.run_stderr 'ls /nonexistent'
 */
export async function run_stderr(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<string> {
  const r = await _execute(ctx, args, kwargs);
  ctx.setRetcode(r.retcode);
  return r.stderr;
}

/**
 * Run a command and return its exit status as an integer. The exit status is the answer here,
 * so the job itself succeeds whatever it is.
 *
 * CLI example: natrium run '*' cmd.retcode 'test -f /etc/motd'
 */
export async function retcode(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<number> {
  const r = await _execute(ctx, args, kwargs);
  return r.retcode;
}

/**
 * The script to run, as bytes: from the master's file store (salt://path, checked against the
 * master's signature) or an absolute path on the minion.
 */
async function scriptSource(ctx: ExecContext, source: string): Promise<{ name: string; data: Buffer }> {
  if (source.startsWith("salt://")) {
    if (!ctx.files) throw new ExecError("file_store_unavailable", `${ctx.fun}: this minion has no connection to the master's file store`);
    const { record, data } = await ctx.files.get(source);
    return { name: basename(record.path), data };
  }
  if (!isAbsolute(source)) throw new ArgumentError(ctx.fun, `"source" must be salt://path or an absolute path on the minion, got "${source}"`);
  try {
    return { name: basename(source), data: await readFile(source) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ExecError(e.code === "ENOENT" ? "not_found" : "fs_error", `${ctx.fun}: ${source}: ${e.message}`);
  }
}

/**
 * Fetch a script (salt://path from the master's file store, or an absolute path on the minion)
 * and run it with `args` (a string, split as a shell would), returning {pid, retcode, stdout,
 * stderr} as cmd.run_all does. The script is copied to a private temporary directory (owned by
 * `runas` when given) and run through the shell, so one without a #! line runs as a sh script;
 * the copy is removed afterwards. Takes cmd.run's options (cwd, env, shell, timeout, stdin,
 * runas, progress). A salt:// script runs only if its bytes are the ones the master signed.
 *
 * CLI example: natrium run '*' cmd.script salt://scripts/deploy.sh 'v1.2 --fast'
 * CLI example: natrium run 'web*' cmd.script salt://scripts/check.py runas=www-data timeout=60
 */
export async function script(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<Omit<RunResult, "merged">> {
  onlyKwargs(ctx.fun, kwargs, ["source", "args", ...OPTIONS.filter((o) => o !== "cmd")]);
  const source = asString(ctx.fun, "source", param(args, kwargs, { pos: 0, name: "source" }));
  const rawArgs = param(args, kwargs, { pos: 1, name: "args" });
  const scriptArgs = rawArgs === undefined || rawArgs === null ? "" : typeof rawArgs === "number" ? String(rawArgs) : asString(ctx.fun, "args", rawArgs);
  if (args.length > 2) throw new ArgumentError(ctx.fun, `takes the source and one string of arguments, got ${args.length} positional arguments; quote the arguments as one string`);
  let words: string[];
  try {
    words = _split(scriptArgs);
  } catch (err) {
    throw new ArgumentError(ctx.fun, `cannot split "args": ${(err as Error).message}`);
  }
  const { name, data } = await scriptSource(ctx, source);
  const dir = await mkdtemp(join(tmpdir(), "natrium-script-"));
  try {
    const file = join(dir, name);
    await writeFile(file, data, { mode: 0o700 });
    const runas = kwargs.runas;
    if (runas !== undefined && runas !== null && runas !== "") {
      const as = lookupUser(typeof runas === "number" ? String(runas) : asString(ctx.fun, "runas", runas));
      // _execute refuses an unknown user or a minion that is not root, with its own words.
      if (as && process.getuid?.() === 0) {
        await chown(dir, as.uid, as.gid);
        await chown(file, as.uid, as.gid);
      }
    }
    const { source: _s, args: _a, ...opts } = kwargs;
    const { pid, retcode, stdout, stderr } = await _execute(ctx, [[file, ...words].map(shellQuote).join(" ")], { shell: true, ...opts });
    ctx.setRetcode(retcode);
    return { pid, retcode, stdout, stderr };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
