// History queries on `{ns}.cache.*` (request/reply, queue group "jobcache"). Replies are the
// types in contracts/api.ts, which are also the CLI's --json output.

import type { NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { and, asc, count, desc, eq, gt, inArray, sql, type SQL } from "drizzle-orm";
import {
  auditQuery,
  type AuditQuery,
  type AuditReply,
  jobQuery,
  jobsQuery,
  rebuildRequest,
  type JobReply,
  type JobSummary,
  type JobsQuery,
  type JobsReply,
  type RebuildReply,
  type ReturnRow,
  type StatusReply,
} from "../../contracts/api.js";
import { NatriumError } from "../../contracts/errors.js";
import type { Subjects } from "../../contracts/subjects.js";
import { serve } from "../common/bus.js";
import type { Logger } from "../common/log.js";
import { audit, events, jobReturns, jobs, minions, projection, type Job } from "../../migrations/schema.js";
import type { Db, Store } from "./store.js";
import type { OrderedHost } from "../returners/ordered.js";

export const QUEUE_GROUP = "jobcache";
const DEFAULT_LIMIT = 50;

/** The job is not in the job cache (never published, or expired from the stream before it was projected). */
export class NotFoundError extends NatriumError {
  constructor(readonly jid: string, why = "is not in the job cache") {
    super("not_found", `job ${jid} ${why}`);
  }
}

interface Counts {
  returned: number;
  failed: number;
}

async function returnCounts(db: Db, jids: string[]): Promise<Map<string, Counts>> {
  const out = new Map<string, Counts>();
  if (!jids.length) return out;
  const rows = await db
    .select({
      jid: jobReturns.jid,
      returned: count(),
      failed: sql<number>`count(*) filter (where ${jobReturns.success} = false)`.mapWith(Number),
    })
    .from(jobReturns)
    .where(inArray(jobReturns.jid, jids))
    .groupBy(jobReturns.jid);
  for (const r of rows) out.set(r.jid, { returned: r.returned, failed: r.failed });
  return out;
}

function summary(j: Job, c: Counts | undefined): JobSummary {
  return {
    jid: j.jid,
    fun: j.fun,
    arg: j.arg,
    tgt: j.tgt,
    tgt_type: j.tgtType,
    user: j.user,
    expected: j.expected.length,
    returned: c?.returned ?? 0,
    failed: c?.failed ?? 0,
    created: j.created.getTime(),
    finished: j.finished ? j.finished.getTime() : null,
  };
}

/** A glob (`*`, `?`) as a LIKE pattern; everything else literal. */
export function globToLike(glob: string): string {
  return glob.replace(/[\\%_]/g, (c) => `\\${c}`).replace(/\*/g, "%").replace(/\?/g, "_");
}

/** Jobs newest first, narrowed by function, target, user, minion, time and failures. */
export async function listJobs(db: Db, q: JobsQuery): Promise<JobsReply> {
  const where: SQL[] = [];
  if (q.fun) where.push(/[*?]/.test(q.fun) ? sql`${jobs.fun} like ${globToLike(q.fun)}` : eq(jobs.fun, q.fun));
  if (q.target) {
    const like = globToLike(q.target);
    where.push(sql`(case jsonb_typeof(${jobs.tgt}) when 'string' then (${jobs.tgt} #>> '{}') like ${like}
      else exists (select 1 from jsonb_array_elements_text(${jobs.tgt}) t(v) where t.v like ${like}) end)`);
  }
  if (q.since !== undefined) where.push(sql`${jobs.created} >= ${new Date(q.since).toISOString()}`);
  if (q.until !== undefined) where.push(sql`${jobs.created} < ${new Date(q.until).toISOString()}`);
  if (q.user) where.push(eq(jobs.user, q.user));
  if (q.minion) {
    where.push(sql`exists (select 1 from ${jobReturns} r where r.jid = ${jobs.jid} and r.minion = ${q.minion})`);
  }
  if (q.failed) {
    where.push(sql`exists (select 1 from ${jobReturns} r where r.jid = ${jobs.jid} and r.success = false)`);
  }
  if (q.before) {
    // The cursor may be a scheduled run (no jobs row): its start stands in for created.
    where.push(sql`(${jobs.created}, ${jobs.jid}) < (coalesce((select b.created from ${jobs} b where b.jid = ${q.before}),
      (select r.start from ${jobReturns} r where r.jid = ${q.before} limit 1)), ${q.before})`);
  }
  const rows = await db
    .select()
    .from(jobs)
    .where(where.length ? and(...where) : undefined)
    .orderBy(desc(jobs.created), desc(jobs.jid))
    .limit(q.limit ?? DEFAULT_LIMIT);
  const counts = await returnCounts(db, rows.map((r) => r.jid));
  const own = new Map<string, NonNullable<JobSummary["minion"]>>();
  if (q.minion && rows.length) {
    const rets = await db
      .select({ jid: jobReturns.jid, success: jobReturns.success, retcode: jobReturns.retcode, durationMs: jobReturns.durationMs })
      .from(jobReturns)
      .where(and(eq(jobReturns.minion, q.minion), inArray(jobReturns.jid, rows.map((r) => r.jid))));
    for (const r of rets) own.set(r.jid, { id: q.minion, success: r.success, retcode: r.retcode, duration_ms: r.durationMs });
  }
  const listed = rows.map((r) => ({ ...summary(r, counts.get(r.jid)), ...(own.has(r.jid) ? { minion: own.get(r.jid) } : {}) }));
  // One minion's history also holds its scheduled runs, which have no jobs row and so no
  // user or target: a filter on either leaves them out (a user's own history never shows them).
  if (!q.minion || q.user || q.target) return { jobs: listed };
  const runs = await scheduledRuns(db, q);
  const limit = q.limit ?? DEFAULT_LIMIT;
  const merged = [...listed, ...runs].sort((a, b) => b.created - a.created || (a.jid < b.jid ? 1 : a.jid > b.jid ? -1 : 0));
  return { jobs: merged.slice(0, limit) };
}

/** A minion's scheduled runs as job summaries, newest first, narrowed as listJobs narrows jobs. */
async function scheduledRuns(db: Db, q: JobsQuery): Promise<JobSummary[]> {
  const r = jobReturns;
  const where: SQL[] = [eq(r.minion, q.minion!), sql`${r.schedule} is not null`];
  if (q.fun) where.push(/[*?]/.test(q.fun) ? sql`${r.fun} like ${globToLike(q.fun)}` : eq(r.fun, q.fun));
  if (q.since !== undefined) where.push(sql`${r.start} >= ${new Date(q.since).toISOString()}`);
  if (q.until !== undefined) where.push(sql`${r.start} < ${new Date(q.until).toISOString()}`);
  if (q.failed) where.push(eq(r.success, false));
  if (q.before) where.push(sql`${r.jid} < ${q.before}`);
  const rows = await db
    .select()
    .from(r)
    .where(and(...where))
    .orderBy(desc(r.jid))
    .limit(q.limit ?? DEFAULT_LIMIT);
  return rows.map((x) => ({
    jid: x.jid,
    fun: x.fun,
    arg: x.funArgs,
    tgt: [x.minion],
    tgt_type: "list",
    user: "",
    expected: 0,
    returned: 1,
    failed: x.success ? 0 : 1,
    created: x.start.getTime(),
    finished: x.end.getTime(),
    minion: { id: x.minion, success: x.success, retcode: x.retcode, duration_ms: x.durationMs },
    schedule: x.schedule!,
  }));
}

/** One job with every minion's return; `missing` is from job.done, or who has not returned yet. */
export async function showJob(db: Db, jid: string): Promise<JobReply> {
  const [j] = await db.select().from(jobs).where(eq(jobs.jid, jid));
  if (!j) {
    // A scheduled run is a return without a job (no job.new): say where it is rather than
    // make up a job for it.
    const [run] = await db.select({ minion: jobReturns.minion, schedule: jobReturns.schedule }).from(jobReturns).where(and(eq(jobReturns.jid, jid), sql`${jobReturns.schedule} is not null`)).limit(1);
    if (run) throw new NotFoundError(jid, `is a run of minion ${run.minion}'s schedule entry "${run.schedule}", not a job: it has no job.new; natrium jobs minion ${run.minion} lists it with its result`);
    throw new NotFoundError(jid);
  }
  const rets = await db.select().from(jobReturns).where(eq(jobReturns.jid, jid)).orderBy(asc(jobReturns.minion));
  const returned = new Set(rets.map((r) => r.minion));
  const returns: ReturnRow[] = rets.map((r) => ({
    minion: r.minion,
    success: r.success,
    retcode: r.retcode,
    return: r.return,
    start: r.start.getTime(),
    end: r.end.getTime(),
    duration_ms: r.durationMs,
    ...(r.error ? { error: r.error } : {}),
  }));
  const counts = { returned: rets.length, failed: rets.filter((r) => !r.success).length };
  return {
    job: summary(j, counts),
    minions: j.expected,
    missing: j.missing ?? j.expected.filter((m) => !returned.has(m)),
    done_reason: j.doneReason,
    ...(j.running?.length ? { running: j.running } : {}),
    returns,
  };
}

const DEFAULT_AUDIT_LIMIT = 20;

/** Audit rows oldest first: the newest `limit`, or (following) the first `limit` after `after`. */
export async function listAudit(db: Db, q: AuditQuery): Promise<AuditReply> {
  const where: SQL[] = [];
  if (q.kind) where.push(eq(audit.kind, q.kind));
  if (q.after !== undefined) where.push(gt(audit.seq, q.after));
  const rows = await db
    .select()
    .from(audit)
    .where(where.length ? and(...where) : undefined)
    .orderBy(q.after !== undefined ? asc(audit.seq) : desc(audit.seq))
    .limit(q.limit ?? DEFAULT_AUDIT_LIMIT);
  if (q.after === undefined) rows.reverse();
  return {
    rows: rows.map((r) => ({ seq: r.seq, ts: r.ts.getTime(), kind: r.kind, origin: r.origin, subject: r.subject, reason: r.reason, detail: r.detail ?? null })),
  };
}

export interface TableCounts {
  jobs: number;
  returns: number;
  events: number;
  minions: number;
  audit: number;
}

export async function tableCounts(db: Db): Promise<TableCounts> {
  const n = async (t: typeof jobs | typeof jobReturns | typeof events | typeof minions | typeof audit) =>
    (await db.select({ n: count() }).from(t))[0]?.n ?? 0;
  return { jobs: await n(jobs), returns: await n(jobReturns), events: await n(events), minions: await n(minions), audit: await n(audit) };
}

async function streamLastSeq(nc: NatsConnection, s: Subjects): Promise<number> {
  try {
    return (await (await jetstreamManager(nc)).streams.info(s.stream)).state.last_seq;
  } catch {
    return 0;
  }
}

export async function status(db: Db, store: Store, nc: NatsConnection, s: Subjects, projector?: OrderedHost): Promise<StatusReply> {
  // The cursor is read before the counts, so the counts cover at least what last_seq says.
  let lastSeq = projector?.lastSeq;
  if (lastSeq === undefined) {
    const [p] = await db.select().from(projection).where(eq(projection.stream, s.stream));
    lastSeq = p?.lastSeq ?? 0;
  }
  const c = await tableCounts(db);
  const [span] = await db.select({ oldest: sql<string | null>`min(${jobs.created})`, newest: sql<string | null>`max(${jobs.created})` }).from(jobs);
  const ms = (v: string | Date | null | undefined) => (v ? new Date(v).getTime() : null);
  return {
    store: store.kind,
    jobs: c.jobs,
    returns: c.returns,
    events: c.events,
    minions: c.minions,
    audit: c.audit,
    last_seq: lastSeq,
    stream_last_seq: await streamLastSeq(nc, s),
    oldest_job: ms(span?.oldest),
    newest_job: ms(span?.newest),
  };
}

export async function rebuild(db: Db, projector: OrderedHost | undefined, fromSeq?: number): Promise<RebuildReply> {
  if (!projector) throw new NatriumError("not_ready", "the job cache is still starting (waiting for the master key or the stream)");
  const t0 = performance.now();
  const r = await projector.rebuild(fromSeq);
  const c = await tableCounts(db);
  return {
    from_seq: fromSeq ?? 1,
    events: c.events,
    stream_last_seq: r.streamLastSeq,
    took_ms: Math.round(performance.now() - t0),
    jobs: c.jobs,
    returns: c.returns,
    minions: c.minions,
    audit: c.audit,
  };
}

/** Answer `{ns}.cache.{jobs,job,status,rebuild}`. `projector()` is undefined until consuming starts. */
export function serveQueries(nc: NatsConnection, s: Subjects, store: Store, projector: () => OrderedHost | undefined, log: Logger): void {
  const db = store.db;
  serve(nc, s.cache("jobs"), QUEUE_GROUP, async (req) => listJobs(db, jobsQuery.parse(req)), log);
  serve(nc, s.cache("job"), QUEUE_GROUP, async (req) => showJob(db, jobQuery.parse(req).jid), log);
  serve(nc, s.cache("audit"), QUEUE_GROUP, async (req) => listAudit(db, auditQuery.parse(req)), log);
  serve(nc, s.cache("status"), QUEUE_GROUP, async () => status(db, store, nc, s, projector()), log);
  serve(
    nc,
    s.cache("rebuild"),
    QUEUE_GROUP,
    async (req) => {
      const { from_seq } = rebuildRequest.parse(req);
      log.info("rebuild requested", { from_seq: from_seq ?? 1 });
      return rebuild(db, projector(), from_seq);
    },
    log,
  );
}
