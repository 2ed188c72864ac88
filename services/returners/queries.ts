// Salt's "replace the default job cache": a returner that implements getJid, getJids, getLoad
// and getMinions can answer `natrium jobs list` and `natrium jobs show` (`{ns}.cache.jobs`,
// `{ns}.cache.job`) in the job cache's queue group, when its host runs with serve_queries.
// Filters are applied here, over the jobs the returner lists newest first. What a returner
// does not keep is not in the replies: a job's close (job.done: finished, done_reason) is
// unknown to the SDK's queries, so `finished` is null and `missing` is expected minus returned.

import type { NatsConnection } from "@nats-io/transport-node";
import { jobQuery, jobsQuery, type JobReply, type JobSummary, type JobsQuery, type JobsReply, type ReturnRow } from "../../contracts/api.js";
import { NatriumError } from "../../contracts/errors.js";
import type { Subjects } from "../../contracts/subjects.js";
import { serve } from "../common/bus.js";
import { globMatch } from "../common/target.js";
import type { Logger } from "../common/log.js";
import type { JidReturns, JobRecord, ReturnerModule } from "./sdk.js";

/** The job cache's queue group: a caller cannot tell which one answered. */
const QUEUE_GROUP = "jobcache";
const DEFAULT_LIMIT = 50;

export type QueryModule = Required<Pick<ReturnerModule, "getJid" | "getJids" | "getLoad" | "getMinions">>;

/** The module, if it implements all four queries; else an error naming what is missing. */
export function queryModule(name: string, m: Partial<QueryModule>): QueryModule {
  const missing = (["getJid", "getJids", "getLoad", "getMinions"] as const).filter((k) => typeof m[k] !== "function");
  if (missing.length) {
    throw new NatriumError("bad_config", `returner ${name}: serve_queries needs a module with getJid, getJids, getLoad and getMinions; it lacks ${missing.join(", ")}`);
  }
  return m as QueryModule;
}

function summary(job: JobRecord, rets: JidReturns, minion?: string): JobSummary {
  const all = Object.values(rets);
  const mine = minion ? rets[minion] : undefined;
  return {
    jid: job.jid,
    fun: job.fun,
    arg: job.arg,
    tgt: job.tgt,
    tgt_type: job.tgt_type,
    user: job.user,
    expected: job.minions.length,
    returned: all.length,
    failed: all.filter((r) => !r.success).length,
    created: job.ts,
    finished: null,
    ...(mine ? { minion: { id: mine.id, success: mine.success, retcode: mine.retcode, duration_ms: mine.duration_ms } } : {}),
  };
}

function targetMatches(glob: string, tgt: string | string[]): boolean {
  return Array.isArray(tgt) ? tgt.some((t) => globMatch(glob, t)) : globMatch(glob, tgt);
}

/** Jobs newest first, filtered as the job cache filters them. */
export async function listJobs(m: QueryModule, q: JobsQuery): Promise<JobsReply> {
  const limit = q.limit ?? DEFAULT_LIMIT;
  const out: JobSummary[] = [];
  for (const job of await m.getJids()) {
    if (out.length >= limit) break;
    if (q.before && job.jid >= q.before) continue;
    if (q.fun && !globMatch(q.fun, job.fun)) continue;
    if (q.target && !targetMatches(q.target, job.tgt)) continue;
    if (q.user && job.user !== q.user) continue;
    if (q.since !== undefined && job.ts < q.since) continue;
    if (q.until !== undefined && job.ts >= q.until) continue;
    const rets = await m.getJid(job.jid);
    if (q.minion && !rets[q.minion]) continue;
    if (q.failed && !Object.values(rets).some((r) => !r.success)) continue;
    out.push(summary(job, rets, q.minion));
  }
  return { jobs: out };
}

export async function showJob(m: QueryModule, name: string, jid: string): Promise<JobReply> {
  const job = await m.getLoad(jid);
  if (!job) throw new NatriumError("not_found", `job ${jid} is not in returner ${name}`);
  const rets = await m.getJid(jid);
  const returns: ReturnRow[] = Object.values(rets)
    .sort((a, b) => a.id.localeCompare(b.id))
    .map((r) => ({ minion: r.id, success: r.success, retcode: r.retcode, return: r.return ?? null, start: r.start, end: r.end, duration_ms: r.duration_ms, ...(r.error ? { error: r.error } : {}) }));
  return { job: summary(job, rets), minions: job.minions, missing: job.minions.filter((id) => !rets[id]), done_reason: null, returns };
}

/** Answer `{ns}.cache.jobs` and `{ns}.cache.job` from the module's queries. */
export function serveJobQueries(nc: NatsConnection, s: Subjects, name: string, m: QueryModule, log: Logger): void {
  serve(nc, s.cache("jobs"), QUEUE_GROUP, async (req) => listJobs(m, jobsQuery.parse(req)), log);
  serve(nc, s.cache("job"), QUEUE_GROUP, async (req) => showJob(m, name, jobQuery.parse(req).jid), log);
}
