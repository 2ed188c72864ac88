// Process plumbing for the benchmark: a cleanup stack that runs even on failure or Ctrl-C,
// daemons spawned as real processes with YAML configs, and /proc readings (RSS, CPU time).

import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { stringify } from "yaml";

export function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

/** Things to undo, last first. run() is idempotent and never throws. */
export class Cleanup {
  private fns: { what: string; fn: () => Promise<unknown> | unknown }[] = [];
  private running?: Promise<void>;

  add(what: string, fn: () => Promise<unknown> | unknown): void {
    this.fns.push({ what, fn });
  }

  /** Run (and remove) only the entries with these names, last first. */
  async runSome(whats: string[]): Promise<void> {
    const picked = this.fns.filter((f) => whats.includes(f.what));
    this.fns = this.fns.filter((f) => !whats.includes(f.what));
    for (const { what, fn } of picked.reverse()) {
      try {
        await Promise.race([fn(), new Promise((r) => setTimeout(r, 20_000))]);
      } catch (err) {
        log(`cleanup of ${what} failed: ${(err as Error).message}`);
      }
    }
  }

  run(): Promise<void> {
    this.running ??= (async () => {
      while (this.fns.length) {
        const { what, fn } = this.fns.pop()!;
        try {
          await Promise.race([fn(), new Promise((r) => setTimeout(r, 20_000))]);
        } catch (err) {
          log(`cleanup of ${what} failed: ${(err as Error).message}`);
        }
      }
    })();
    return this.running;
  }
}

export function writeYaml(file: string, cfg: Record<string, unknown>): string {
  writeFileSync(file, stringify(cfg));
  return file;
}

export interface Daemon {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** Last few KB of stderr, for error messages. */
  stderr(): string;
  alive(): boolean;
  stop(graceMs?: number): Promise<void>;
}

/** `node <script> --config <file>` as a child process (no shell: pid is node's own). */
export function spawnDaemon(name: string, script: string, config: string, env: NodeJS.ProcessEnv = {}, nodeArgs: string[] = [], logFile?: string): Daemon {
  const proc = spawn(process.execPath, [...nodeArgs, script, "--config", config], {
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, NATS_URL: "", DATABASE_URL: "", ...env },
  });
  let err = "";
  proc.stderr!.on("data", (d) => {
    err = (err + d).slice(-4000);
    if (logFile) appendFileSync(logFile, d);
  });
  const d: Daemon = {
    name,
    proc,
    pid: proc.pid!,
    stderr: () => err,
    alive: () => proc.exitCode === null && proc.signalCode === null,
    async stop(graceMs = 5000) {
      if (!d.alive()) return;
      const exited = new Promise((r) => proc.once("exit", r));
      proc.kill("SIGTERM");
      const t = setTimeout(() => proc.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
  return d;
}

/** Resident set size of a process in MB (VmRSS), or undefined if it is gone. */
export function rssMb(pid: number): number | undefined {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? +(+m[1] / 1024).toFixed(1) : undefined;
  } catch {
    return undefined;
  }
}

const CLK_TCK = 100;

/** User + system CPU seconds a process has used so far. */
export function cpuSec(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // after the comm field: state(0) ppid(1) ... utime(11) stime(12)
    return (+f[11] + +f[12]) / CLK_TCK;
  } catch {
    return 0;
  }
}

/** A process and its direct children (Postgres backends), CPU seconds together. */
export function treeCpuSec(pid: number): number {
  let total = cpuSec(pid);
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const stat = readFileSync(`/proc/${p}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (+f[1] === pid) total += (+f[11] + +f[12]) / CLK_TCK;
    } catch {
      /* gone */
    }
  }
  return total;
}

export interface TimedRun {
  ms: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Spawn and time a command from spawn to exit, as a user's shell would see it. */
export function timeProcess(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<TimedRun> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = spawn(process.execPath, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    const t = setTimeout(() => {
      p.kill("SIGKILL");
      reject(new Error(`${args.join(" ")} timed out\n${stdout.slice(-2000)}\n${stderr.slice(-2000)}`));
    }, opts.timeoutMs ?? 60_000);
    p.on("exit", (code) => {
      const ms = performance.now() - t0;
      clearTimeout(t);
      resolve({ ms, code, stdout, stderr });
    });
  });
}

export function stats(xs: number[], digits = 3): { median: number; min: number; max: number; n: number; all: number[] } | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  const r = (x: number) => +x.toFixed(digits);
  return { median: r(mid), min: r(s[0]), max: r(s[s.length - 1]), n: s.length, all: xs.map(r) };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The test helpers' poll-until, under the name the bench uses. */
export { waitFor as waitUntil } from "../helpers/ports.js";

export function fileExists(p: string): boolean {
  return existsSync(p);
}
