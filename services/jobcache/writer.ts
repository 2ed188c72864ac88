// Writing one projected batch: every table and the cursor in ONE transaction, each statement
// idempotent (ON CONFLICT DO NOTHING on the natural keys, upserts that cannot go backwards), so
// a batch that is delivered again after a crash changes nothing.

import { and, asc, eq, getTableColumns, gt, gte, inArray, isNotNull, isNull, lte, max, sql, type SQL } from "drizzle-orm";
import type { PgTable } from "drizzle-orm/pg-core";
import { audit, events, jobReturns, jobs, minions, projection } from "../../migrations/schema.js";
import type { Db } from "./store.js";
import { ensurePartitions } from "./partitions.js";
import { evolve, type MinionKey, type ProjectionState, type Rows } from "./projection.js";
import type { NatriumEvent } from "../../contracts/events/index.js";
import type { KeyState } from "../../contracts/subjects.js";

type Tx = Parameters<Parameters<Db["transaction"]>[0]>[0];

// Bulk statements are split so no statement comes near Postgres's 65,535 parameter limit.
const CHUNK = 1000;

function chunks<T>(xs: T[], n = CHUNK): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

/**
 * Write a projected batch and the cursor atomically. The inserts and the cursor are ONE
 * statement (data-modifying CTEs), so a batch of returns costs one round trip and needs no
 * explicit transaction; job.done updates and minion upserts, which must see rows inserted
 * before them, follow it in a transaction only when the batch has any.
 */
export async function writeRows(db: Db, stream: string, rows: Rows, lastSeq: number): Promise<void> {
  if (rows.returns.length) await ensurePartitions(db, rows.returns.map((r) => r.jid));
  const inserts = insertStatement(rows, stream, lastSeq);
  if (!rows.done.length && !rows.minions.length) {
    await db.execute(inserts);
    return;
  }
  await db.transaction(async (tx) => {
    await tx.execute(inserts);
    await applyUpdates(tx, rows);
  });
}

/**
 * INSERT … ON CONFLICT DO NOTHING of many rows as ONE json parameter expanded by the server
 * (json_populate_recordset). drizzle's insert().values() binds every field as its own
 * parameter and spent a quarter of the job cache's CPU building those statements (bench
 * profile); this form costs one JSON.stringify. Same SQL on Postgres and PGlite.
 */
function insertMany(table: PgTable, rows: object[]): SQL {
  const cols = Object.entries(getTableColumns(table)).map(([key, col]) => [key, col.name] as const);
  const json = rows.map((r) => {
    const o: Record<string, unknown> = {};
    for (const [key, name] of cols) {
      const v = (r as Record<string, unknown>)[key];
      if (v !== undefined && v !== null) o[name] = v;
    }
    return o;
  });
  const names = sql.join(cols.map(([, name]) => sql.identifier(name)), sql`, `);
  return sql`insert into ${table} (${names}) select ${names} from json_populate_recordset(null::${table}, ${JSON.stringify(json)}::json) on conflict do nothing`;
}

/**
 * Every insert of the batch as a CTE of the cursor upsert. The tables have no foreign keys
 * between them and each insert only adds rows, so seeing one snapshot is what we want.
 */
function insertStatement(rows: Rows, stream: string, lastSeq: number): SQL {
  const parts = (
    [
      ["e", events, rows.events],
      ["a", audit, rows.audit],
      ["j", jobs, rows.jobs],
      ["r", jobReturns, rows.returns],
    ] as const
  )
    .filter(([, , xs]) => xs.length > 0)
    .map(([name, table, xs]) => sql`${sql.raw(name)} as (${insertMany(table, xs)})`);
  const cursor = sql`insert into ${projection} (stream, last_seq) values (${stream}, ${lastSeq})
    on conflict (stream) do update set last_seq = greatest(${projection}.last_seq, excluded.last_seq)`;
  return parts.length ? sql`with ${sql.join(parts, sql`, `)} ${cursor}` : cursor;
}

async function applyUpdates(tx: Tx, rows: Rows): Promise<void> {
  // The first job.done for a job closes it; a second one (two masters) changes nothing.
  for (const d of rows.done) {
    await tx
      .update(jobs)
      .set({ finished: d.finished, doneReason: d.doneReason, missing: d.missing, unexpected: d.unexpected, running: d.running, doneSeq: d.doneSeq })
      .where(and(eq(jobs.jid, d.jid), isNull(jobs.finished)));
  }
  for (const c of chunks(rows.minions)) {
    await tx
      .insert(minions)
      .values(c)
      .onConflictDoUpdate({
        target: minions.id,
        set: {
          keyState: sql`coalesce(excluded.key_state, ${minions.keyState})`,
          pub: sql`coalesce(excluded.pub, ${minions.pub})`,
          boxPub: sql`coalesce(excluded.box_pub, ${minions.boxPub})`,
          finger: sql`coalesce(excluded.finger, ${minions.finger})`,
          keyChanged: sql`coalesce(excluded.key_changed, ${minions.keyChanged})`,
          grains: sql`coalesce(excluded.grains, ${minions.grains})`,
          version: sql`coalesce(excluded.version, ${minions.version})`,
          host: sql`coalesce(excluded.host, ${minions.host})`,
          firstSeen: sql`least(${minions.firstSeen}, excluded.first_seen)`,
          lastSeen: sql`greatest(${minions.lastSeen}, excluded.last_seen)`,
          up: sql`coalesce(excluded.up, ${minions.up})`,
          presenceChanged: sql`coalesce(excluded.presence_changed, ${minions.presenceChanged})`,
        },
      });
  }
}

/**
 * What the tables already hold of a batch: stream sequences projected before (into events or
 * audit) and event ids already mirrored. Both make a message a no-op, whatever the cursor says.
 */
export async function alreadyProjected(db: Db, seqs: number[], eids: string[]): Promise<{ seqs: Set<number>; eids: Set<string> }> {
  const out = { seqs: new Set<number>(), eids: new Set<string>() };
  for (const c of chunks([...new Set(eids)], 5000)) {
    const found = await db.select({ eid: events.eid }).from(events).where(inArray(events.eid, c));
    for (const r of found) out.eids.add(r.eid);
  }
  for (const c of chunks(seqs, 5000)) {
    const lo = Math.min(...c);
    const hi = Math.max(...c);
    const a = await db.select({ seq: events.seq }).from(events).where(and(gte(events.seq, lo), lte(events.seq, hi)));
    const b = await db.select({ seq: audit.seq }).from(audit).where(and(gte(audit.seq, lo), lte(audit.seq, hi)));
    for (const r of [...a, ...b]) out.seqs.add(r.seq);
  }
  return out;
}

/** The projection state and cursor as the database has them: where a (re)start resumes from. */
export async function loadState(
  db: Db,
  stream: string,
): Promise<{ state: ProjectionState; lastSeq: number; maxRowSeq: number; otherStreams: string[] }> {
  const cur = await db.select().from(projection);
  const mine = cur.find((r) => r.stream === stream);
  const rows = await db.select({ id: minions.id, state: minions.keyState, pub: minions.pub }).from(minions);
  const keys = new Map<string, MinionKey>();
  for (const r of rows) if (r.state && r.pub) keys.set(r.id, { state: r.state as KeyState, pub: r.pub });
  const [e] = await db.select({ n: max(events.seq) }).from(events);
  const [a] = await db.select({ n: max(audit.seq) }).from(audit);
  return {
    state: { keys },
    lastSeq: mine?.lastSeq ?? 0,
    maxRowSeq: Math.max(Number(e?.n ?? 0), Number(a?.n ?? 0)),
    otherStreams: cur.filter((r) => r.stream !== stream).map((r) => r.stream),
  };
}

/** Empty every projection table (rebuild). */
export async function truncateAll(db: Db): Promise<void> {
  await db.execute(sql`truncate table ${jobs}, ${jobReturns}, ${events}, ${minions}, ${audit}, ${projection}`);
}

/**
 * Wind the projection back to just before stream sequence `fromSeq` (a partial rebuild): rows
 * that events at or after it made are deleted, jobs they closed are open again, and the
 * minions table is derived afresh from the minion events before it (key, start, grains: they
 * are kept in `events` whatever retention prunes), so the key state that decides which returns
 * are trusted is exactly what it was at `fromSeq - 1`. Replaying from `fromSeq` then gives the
 * tables a full replay would. One transaction: a crash leaves the old projection.
 */
export async function rewindTo(db: Db, stream: string, fromSeq: number): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.delete(jobReturns).where(gte(jobReturns.seq, fromSeq));
    await tx.delete(jobs).where(gte(jobs.seq, fromSeq));
    await tx
      .update(jobs)
      .set({ finished: null, doneReason: null, missing: null, unexpected: null, running: null, doneSeq: null })
      .where(gte(jobs.doneSeq, fromSeq));
    await tx.delete(audit).where(gte(audit.seq, fromSeq));
    await tx.delete(events).where(gte(events.seq, fromSeq));
    await tx.delete(minions);
    let state: ProjectionState = { keys: new Map() };
    for (let after = 0; ; ) {
      const page = await tx
        .select({ seq: events.seq, subject: events.subject, signer: events.signer, body: events.body })
        .from(events)
        .where(and(gt(events.seq, after), isNull(events.jid), isNotNull(events.minion)))
        .orderBy(asc(events.seq))
        .limit(5000);
      if (!page.length) break;
      const rows: Rows = { events: [], audit: [], jobs: [], done: [], returns: [], minions: [] };
      for (const e of page) {
        state = evolve(rows, state, e.seq, { subject: e.subject, signer: e.signer, body: e.body as unknown as NatriumEvent, sig: "", payload: new Uint8Array() });
      }
      await applyUpdates(tx, { ...rows, events: [], done: [] });
      after = page[page.length - 1].seq;
    }
    // Never forward: a job cache still behind `fromSeq` must not skip what it has not projected.
    await tx
      .insert(projection)
      .values({ stream, lastSeq: 0 })
      .onConflictDoUpdate({ target: projection.stream, set: { lastSeq: sql`least(${projection.lastSeq}, ${fromSeq - 1})` } });
  });
}
