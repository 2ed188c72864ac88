// status: how the minion's host is doing (uptime, load, memory, disks, CPUs), in the shapes
// Salt's status module returns, read from /proc and statfs on Linux. No configuration.
// Example: natrium run '*' status.loadavg

import { readFileSync, statfsSync } from "node:fs";
import { cpus, freemem, loadavg as osLoadavg, totalmem, uptime as osUptime } from "node:os";
import type { ExecContext } from "./index.js";
import { asString, onlyKwargs } from "../args.js";
import { ExecError } from "../errors.js";

/** /proc files are Linux's; elsewhere each function falls back to what node:os knows. */
function readProc(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/**
 * Return how long the host has been up: seconds, days, "h:mm", and when it booted (epoch
 * seconds and ISO time).
 *
 * CLI example: natrium run '*' status.uptime
 */
export async function uptime(ctx: ExecContext, _args: unknown[], kwargs: Record<string, unknown>): Promise<Record<string, unknown>> {
  onlyKwargs(ctx.fun, kwargs, []);
  const seconds = Math.floor(osUptime());
  const since = Date.now() / 1000 - seconds;
  const h = Math.floor((seconds % 86_400) / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  return {
    seconds,
    days: Math.floor(seconds / 86_400),
    time: `${h}:${String(m).padStart(2, "0")}`,
    since_t: Math.floor(since),
    since_iso: new Date(since * 1000).toISOString(),
  };
}

/**
 * Return the load averages over 1, 5 and 15 minutes.
 *
 * CLI example: natrium run '*' status.loadavg
 */
export async function loadavg(ctx: ExecContext, _args: unknown[], kwargs: Record<string, unknown>): Promise<Record<string, number>> {
  onlyKwargs(ctx.fun, kwargs, []);
  const [one, five, fifteen] = osLoadavg();
  return { "1-min": one, "5-min": five, "15-min": fifteen };
}

/**
 * Return /proc/meminfo as a map of field to {value, unit} (MemTotal, MemFree, MemAvailable,
 * SwapTotal, ...); without /proc, MemTotal and MemFree from the OS.
 *
 * CLI example: natrium run '*' status.meminfo
 */
export async function meminfo(ctx: ExecContext, _args: unknown[], kwargs: Record<string, unknown>): Promise<Record<string, { value: string; unit?: string }>> {
  onlyKwargs(ctx.fun, kwargs, []);
  const text = readProc("/proc/meminfo");
  if (!text) {
    return {
      MemTotal: { value: String(Math.floor(totalmem() / 1024)), unit: "kB" },
      MemFree: { value: String(Math.floor(freemem() / 1024)), unit: "kB" },
    };
  }
  const out: Record<string, { value: string; unit?: string }> = {};
  for (const line of text.split("\n")) {
    const m = /^([^:]+):\s+(\d+)(?:\s+(\S+))?/.exec(line);
    if (m) out[m[1]] = m[3] ? { value: m[2], unit: m[3] } : { value: m[2] };
  }
  return out;
}

// Mounts that hold no disk space of their own.
const PSEUDO_FS = new Set([
  "proc", "sysfs", "devpts", "cgroup", "cgroup2", "mqueue", "debugfs", "tracefs", "securityfs", "pstore",
  "bpf", "configfs", "fusectl", "hugetlbfs", "autofs", "binfmt_misc", "rpc_pipefs", "nsfs", "devtmpfs", "efivarfs",
]);

/**
 * Return total and available bytes of each mounted filesystem, or of the given paths:
 * {path: {total, available}}. A path that does not exist is an error.
 *
 * CLI example: natrium run '*' status.diskusage
 * CLI example: natrium run '*' status.diskusage / /var
 */
export async function diskusage(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<Record<string, { total: number; available: number }>> {
  onlyKwargs(ctx.fun, kwargs, []);
  let paths = args.map((a) => asString(ctx.fun, "path", a));
  if (!paths.length) {
    const mounts = readProc("/proc/mounts");
    paths = mounts
      ? [...new Set(mounts.split("\n").map((l) => l.split(" ")).filter((f) => f.length > 2 && !PSEUDO_FS.has(f[2])).map((f) => f[1].replace(/\\040/g, " ")))]
      : ["/"];
  }
  const out: Record<string, { total: number; available: number }> = {};
  for (const p of paths) {
    try {
      const s = statfsSync(p);
      out[p] = { total: s.blocks * s.bsize, available: s.bavail * s.bsize };
    } catch (err) {
      // A mount listed but unreadable (a stale network mount, no permission) is skipped when
      // listing them all; a path the caller named must answer.
      if (args.length) throw new ExecError("not_found", `${ctx.fun}: cannot read ${p}: ${(err as Error).message}`);
    }
  }
  return out;
}

/**
 * Return the CPU description from /proc/cpuinfo (the fields of the last processor listed,
 * `flags` as a list, plus `processors`: how many); without /proc, model and speed from the OS.
 *
 * CLI example: natrium run '*' status.cpuinfo
 */
export async function cpuinfo(ctx: ExecContext, _args: unknown[], kwargs: Record<string, unknown>): Promise<Record<string, unknown>> {
  onlyKwargs(ctx.fun, kwargs, []);
  const list = cpus();
  const text = readProc("/proc/cpuinfo");
  if (!text) return { processors: list.length, "model name": list[0]?.model ?? "", "cpu MHz": list[0]?.speed ?? 0 };
  const out: Record<string, unknown> = {};
  for (const line of text.split("\n")) {
    const i = line.indexOf(":");
    if (i < 0) continue;
    const k = line.slice(0, i).trim();
    const v = line.slice(i + 1).trim();
    if (!k) continue;
    out[k] = k === "flags" || k === "bugs" ? v.split(/\s+/).filter(Boolean) : v;
  }
  out.processors = list.length;
  return out;
}
