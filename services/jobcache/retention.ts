// Retention (Salt's keep_jobs): jobs older than keep_jobs hours leave the Postgres history, with
// their returns and their events rows, and so do jobs that never got a return. job_returns is
// partitioned by day (partitions.ts): the days that ended before the cutoff are dropped whole;
// the rest is deleted in small batches, each its own short statement, so projection (which
// writes the same tables) is never held up behind one long delete. The stream keeps its own, separate max age (the master's
// stream_max_age); a rebuild may bring back what the stream still holds until the next prune.

import { and, inArray, lt, notExists, sql } from "drizzle-orm";
import { events, jobReturns, jobs } from "../../migrations/schema.js";
import type { Db } from "./store.js";
import type { Logger } from "../common/log.js";
import { describe } from "../common/describe.js";
import { dropPartitionsBefore } from "./partitions.js";

export interface Pruned {
  jobs: number;
  returns: number;
  events: number;
  /** Whole days of job_returns dropped (their rows are counted in `returns`). */
  partitions: number;
}

/** Delete what is older than `cutoff`, `batch` jobs at a time; stops early when `signal` aborts. */
export async function pruneOnce(db: Db, cutoff: Date, batch = 500, signal?: AbortSignal): Promise<Pruned> {
  const total: Pruned = { jobs: 0, returns: 0, events: 0, partitions: 0 };
  // Days of returns that ended before the cutoff go whole; the rows of the rest one by one.
  const dropped = await dropPartitionsBefore(db, cutoff, signal);
  total.partitions = dropped.partitions;
  total.returns = dropped.returns;
  for (;;) {
    if (signal?.aborted) break;
    const old = await db.select({ jid: jobs.jid }).from(jobs).where(lt(jobs.created, cutoff)).orderBy(jobs.created).limit(batch);
    if (!old.length) break;
    const jids = old.map((r) => r.jid);
    total.returns += (await db.delete(jobReturns).where(inArray(jobReturns.jid, jids)).returning({ jid: jobReturns.jid })).length;
    total.events += (await db.delete(events).where(inArray(events.jid, jids)).returning({ seq: events.seq })).length;
    total.jobs += (await db.delete(jobs).where(inArray(jobs.jid, jids)).returning({ jid: jobs.jid })).length;
    if (old.length < batch) break;
  }
  // Returns whose job.new never reached the history (it had left the stream) age out too.
  for (;;) {
    if (signal?.aborted) break;
    const orphans = await db
      .select({ jid: jobReturns.jid })
      .from(jobReturns)
      .where(and(lt(jobReturns.end, cutoff), notExists(db.select({ one: sql`1` }).from(jobs).where(sql`${jobs.jid} = ${jobReturns.jid}`))))
      .limit(batch);
    if (!orphans.length) break;
    const jids = [...new Set(orphans.map((r) => r.jid))];
    total.returns += (await db.delete(jobReturns).where(and(inArray(jobReturns.jid, jids), lt(jobReturns.end, cutoff))).returning({ jid: jobReturns.jid })).length;
    total.events += (await db.delete(events).where(and(inArray(events.jid, jids), lt(events.ts, cutoff))).returning({ seq: events.seq })).length;
    if (orphans.length < batch) break;
  }
  return total;
}

/** Prune every `intervalSec` until `signal` aborts; `keepHours` 0 keeps everything. */
export function scheduleRetention(db: Db, keepHours: number, intervalSec: number, log: Logger, signal: AbortSignal): void {
  if (keepHours <= 0) return;
  let running = false;
  const tick = async () => {
    if (running || signal.aborted) return;
    running = true;
    try {
      const cutoff = new Date(Date.now() - keepHours * 3_600_000);
      const p = await pruneOnce(db, cutoff, 500, signal);
      if (p.jobs || p.returns || p.events) log.info("pruned old jobs", { keep_jobs: keepHours, cutoff: cutoff.toISOString(), ...p });
    } catch (err) {
      log.warn("pruning old jobs failed; trying again next time", { error: describe(err) });
    } finally {
      running = false;
    }
  };
  const timer = setInterval(tick, intervalSec * 1000);
  timer.unref();
  signal.addEventListener("abort", () => clearInterval(timer), { once: true });
  void tick();
}
