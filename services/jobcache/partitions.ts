// job_returns is partitioned by range of jid (migration 0005). A Salt jid begins with the UTC
// date the master made it (YYYYMMDDhhmmssffffff), so one partition per day holds that day's
// returns with every return of a job in the same partition, the (jid, minion) key still
// decides "first return wins", and retention drops a whole day with one DROP TABLE instead of
// deleting its rows one by one. Returns whose day has no partition land in job_returns_default.
//
// Partitions are made by the job cache just before it writes the first return of a day (and
// for today and tomorrow at start), never inside the projection's own statement. Creating a
// partition checks that the default partition holds no row of its range: the default is
// normally empty (jids are validated by their schema and signed by the master), so that check
// is instant; a day whose rows already went to the default stays there.

import { sql } from "drizzle-orm";
import type { Db } from "./store.js";

const PREFIX = "job_returns_p";
export const DEFAULT_PARTITION = "job_returns_default";

/** The UTC day a jid was made on, as YYYYMMDD, or undefined when its first 8 digits are not a date. */
export function dayOfJid(jid: string): string | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})/.exec(jid);
  if (!m) return undefined;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  return Number.isFinite(t) && dayOf(t) === m[0] ? m[0] : undefined;
}

/** YYYYMMDD of a time (UTC). */
export function dayOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10).replace(/-/g, "");
}

function nextDay(day: string): string {
  return dayOf(Date.UTC(Number(day.slice(0, 4)), Number(day.slice(4, 6)) - 1, Number(day.slice(6, 8))) + 86_400_000);
}

export function partitionName(day: string): string {
  return PREFIX + day;
}

/** Days with a partition, per database handle (one job cache process writes through one). */
const known = new WeakMap<Db, Set<string>>();

/** The day partitions job_returns has now, oldest first. */
export async function listPartitions(db: Db): Promise<string[]> {
  const list = rowsOf<{ name: string }>(
    await db.execute(sql`
    select c.relname as name from pg_inherits i
      join pg_class c on c.oid = i.inhrelid
      join pg_class p on p.oid = i.inhparent
    where p.relname = 'job_returns' and c.relname like ${PREFIX + "%"}
    order by c.relname`),
  );
  const days = list.map((r) => r.name.slice(PREFIX.length)).filter((d) => dayOfJid(d) === d);
  known.set(db, new Set(days));
  return days;
}

/**
 * Make sure the day of each jid has its partition. A day whose rows are already in the default
 * partition (written before this process knew better) is left there: moving them would lock
 * the table for as long as the copy takes.
 */
export async function ensurePartitions(db: Db, jids: Iterable<string>): Promise<void> {
  let have = known.get(db);
  if (!have) {
    await listPartitions(db);
    have = known.get(db)!;
  }
  const want = new Set<string>();
  // Per return on the projection's hot path: one slice and one set lookup when the day is known.
  for (const jid of jids) {
    const prefix = jid.slice(0, 8);
    if (have.has(prefix)) continue;
    if (dayOfJid(jid)) want.add(prefix);
    else have.add(prefix); // not a date: the default partition takes it, no need to ask again
  }
  for (const day of want) {
    const next = nextDay(day);
    const inDefault = rowsOf(await db.execute(sql`select 1 as one from ${sql.identifier(DEFAULT_PARTITION)} where jid >= ${day} and jid < ${next} limit 1`));
    if (inDefault.length === 0) {
      await db.execute(
        sql`create table if not exists ${sql.identifier(partitionName(day))} partition of job_returns for values from (${sql.raw(`'${day}'`)}) to (${sql.raw(`'${next}'`)})`,
      );
    }
    // Known either way: the default keeps that day, and asking again per batch would cost a query each.
    have.add(day);
  }
}

/** Rows of db.execute: postgres.js gives an array, PGlite an object with `rows`. */
function rowsOf<T>(r: unknown): T[] {
  return (Array.isArray(r) ? r : (r as { rows: T[] }).rows) as T[];
}

/** Today's and tomorrow's partitions (UTC), so the day's first returns do not wait for one. */
export function ensureCurrentPartitions(db: Db, now = Date.now()): Promise<void> {
  const today = dayOf(now);
  return ensurePartitions(db, [today + "000000000000", nextDay(today) + "000000000000"]);
}

/**
 * Drop the partitions of days that ended at or before `cutoff`; returns how many partitions
 * and rows went. Each drop waits at most a second for its lock, so a long query on the table
 * does not hold the projection up behind it; what could not be dropped now goes next time.
 */
export async function dropPartitionsBefore(db: Db, cutoff: Date, signal?: AbortSignal): Promise<{ partitions: number; returns: number }> {
  const out = { partitions: 0, returns: 0 };
  const cutDay = dayOf(cutoff.getTime());
  for (const day of await listPartitions(db)) {
    if (signal?.aborted || day >= cutDay) break;
    const name = sql.identifier(partitionName(day));
    try {
      await db.transaction(async (tx) => {
        await tx.execute(sql`set local lock_timeout = '1s'`);
        const n = rowsOf<{ n: number }>(await tx.execute(sql`select count(*)::int as n from ${name}`))[0]?.n ?? 0;
        await tx.execute(sql`drop table ${name}`);
        out.returns += n;
      });
      out.partitions++;
      known.get(db)?.delete(day);
    } catch (err) {
      if (isLockTimeout(err)) break;
      throw err;
    }
  }
  return out;
}

function isLockTimeout(err: unknown): boolean {
  const e = err as { code?: string; cause?: { code?: string } };
  return e?.code === "55P03" || e?.cause?.code === "55P03";
}

/** Today's and tomorrow's partitions now and every hour, until `signal` aborts. */
export function schedulePartitions(db: Db, log: { warn(msg: string, fields?: Record<string, unknown>): void }, signal: AbortSignal): Promise<void> {
  const tick = () =>
    ensureCurrentPartitions(db).catch((err) => log.warn("making the job_returns partitions for today and tomorrow failed; trying again in an hour", { error: String((err as Error)?.message ?? err) }));
  const timer = setInterval(tick, 3_600_000);
  timer.unref();
  signal.addEventListener("abort", () => clearInterval(timer), { once: true });
  return tick();
}
