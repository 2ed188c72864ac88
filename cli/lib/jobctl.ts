// Job control from the CLI (`natrium jobs active|kill|signal`): saltutil jobs run through the
// master like any other (runJob), and their per-minion answers folded into one table.

import type { RunResult } from "./run.js";

/** One job running somewhere, as `natrium jobs active` shows it. */
export interface ActiveJob {
  jid: string;
  fun: string;
  arg: unknown[];
  user: string;
  /** Minions running it (or queuing it), sorted. */
  minions: string[];
  /** The earliest start among them (ms since the epoch). */
  start: number;
}

export interface ActiveReply {
  jobs: ActiveJob[];
  /** Minions that did not answer saltutil.running in time. */
  missing: string[];
  /** Minions whose saltutil.running failed, with what they said. */
  failed: Record<string, string>;
}

interface RunningEntry {
  jid: string;
  fun: string;
  arg?: unknown[];
  user?: string;
  start: number;
}

/** Fold the minions' saltutil.running returns into one entry per job, oldest first. */
export function foldRunning(r: RunResult): ActiveReply {
  const jobs = new Map<string, ActiveJob>();
  const failed: Record<string, string> = {};
  for (const [id, ret] of Object.entries(r.returns)) {
    if (!ret.success || !Array.isArray(ret.return)) {
      failed[id] = typeof ret.return === "string" ? ret.return : JSON.stringify(ret.return);
      continue;
    }
    for (const e of ret.return as RunningEntry[]) {
      if (!e || typeof e.jid !== "string") continue;
      const j = jobs.get(e.jid) ?? { jid: e.jid, fun: e.fun, arg: e.arg ?? [], user: e.user ?? "", minions: [], start: e.start };
      j.minions.push(id);
      j.start = Math.min(j.start, e.start);
      jobs.set(e.jid, j);
    }
  }
  for (const j of jobs.values()) j.minions.sort();
  return { jobs: [...jobs.values()].sort((a, b) => a.start - b.start || a.jid.localeCompare(b.jid)), missing: [...r.missing].sort(), failed };
}

/** What happened to the job on one minion. */
export type SignalState = "killed" | "signalled" | "not_running" | "failed" | "no_response";

export interface SignalRow {
  minion: string;
  state: SignalState;
  /** Process groups signalled there. */
  pids: number[];
  /** The error a failed saltutil call returned. */
  error?: string;
}

export interface SignalReply {
  jid: string;
  signal: string;
  /** The saltutil job that carried the signal. */
  via: string;
  minions: SignalRow[];
}

/** One row per minion asked, from the returns of saltutil.kill_job / signal_job. */
export function foldSignal(jid: string, signal: string, r: RunResult): SignalReply {
  const rows: SignalRow[] = [];
  for (const id of [...new Set([...r.minions, ...Object.keys(r.returns)])].sort()) {
    const ret = r.returns[id];
    if (!ret) rows.push({ minion: id, state: "no_response", pids: [] });
    else if (!ret.success) rows.push({ minion: id, state: "failed", pids: [], error: typeof ret.return === "string" ? ret.return : JSON.stringify(ret.return) });
    else {
      const v = (ret.return ?? {}) as { jid?: string; pids?: number[]; killed?: boolean };
      if (!v.jid) rows.push({ minion: id, state: "not_running", pids: [] });
      else rows.push({ minion: id, state: v.killed ? "killed" : "signalled", pids: v.pids ?? [] });
    }
  }
  return { jid, signal, via: r.jid, minions: rows };
}
