// What `natrium jobs kill` and `natrium jobs signal` share: find the minions of the job, run the
// saltutil function on them, print one line per minion.

import type { Client } from "./client.js";
import { runJob } from "./run.js";
import { foldSignal, type SignalReply } from "./jobctl.js";
import type { JobReply } from "../../contracts/api.js";

/** The job's minions from the job cache; every minion ('*') when the cache does not know the job. */
export async function jobTarget(c: Client, jid: string): Promise<{ tgt: string | string[]; tgt_type: "glob" | "list" }> {
  try {
    const r = await c.api<JobReply>("job", { jid });
    const ids = [...new Set([...r.minions, ...r.returns.map((x) => x.minion)])];
    if (ids.length) return { tgt: ids.sort(), tgt_type: "list" };
  } catch {
    // not in the cache (yet), or no job cache: ask everyone
  }
  return { tgt: "*", tgt_type: "glob" };
}

export async function signalJob(c: Client, jid: string, fun: string, arg: unknown[], signal: string, timeout?: number): Promise<SignalReply> {
  const t = await jobTarget(c, jid);
  const r = await runJob(c, { ...t, fun, arg, kwarg: {}, timeout });
  return foldSignal(jid, signal, r);
}

export function signalLines(r: SignalReply): string[] {
  if (!r.minions.length) return [`No minion to ask about job ${r.jid}.`];
  return r.minions.map((m) => {
    switch (m.state) {
      case "killed": return `${m.minion}: killed (${r.signal}${m.pids.length ? ` to ${m.pids.join(",")}` : ""})`;
      case "signalled": return `${m.minion}: ${r.signal} sent to ${m.pids.length ? m.pids.join(",") : "no process"}`;
      case "not_running": return `${m.minion}: job not running`;
      case "failed": return `${m.minion}: failed: ${m.error}`;
      case "no_response": return `${m.minion}: did not answer`;
    }
  });
}
