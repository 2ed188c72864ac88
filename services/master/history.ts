// Job history through the master: a user's signed `jobs`/`job` request is admitted by the gate,
// narrowed to what the user may see, and answered by the job cache on `{ns}.cache.*`. On a
// locked-down NATS server only the master and the admin key may query the job cache directly,
// so this is the one door to history for users, audited like every other refusal.

import type { NatsConnection } from "@nats-io/transport-node";
import { auditQuery, jobQuery, jobsQuery, type AuditReply, type JobReply, type JobsReply } from "../../contracts/api.js";
import { NatriumError, RemoteError } from "../../contracts/errors.js";
import type { Subjects } from "../../contracts/subjects.js";
import { request } from "../common/bus.js";
import { checkJobVisible, DeniedError, historyScope, type Principal } from "./acl.js";

/** How long the master waits for the job cache; under the CLI's own 10 s. */
const CACHE_TIMEOUT_MS = 8000;

/** The job cache did not answer: not running, or not reachable. */
export class JobCacheUnavailableError extends NatriumError {
  constructor(cause: unknown) {
    super("unavailable", `the job cache did not answer (${(cause as Error)?.message ?? cause}); is \`natrium jobcache\` running?`);
  }
}

async function ask<T>(nc: NatsConnection, subject: string, body: unknown): Promise<T> {
  try {
    return await request<T>(nc, subject, body, CACHE_TIMEOUT_MS);
  } catch (err) {
    // The job cache's own typed errors (not_found, invalid) reach the user as they are.
    if (err instanceof RemoteError) throw err;
    throw new JobCacheUnavailableError(err);
  }
}

export async function handleJobs(nc: NatsConnection, s: Subjects, body: unknown, who: Principal): Promise<JobsReply> {
  const q = jobsQuery.parse(body);
  const only = historyScope(who);
  if (only !== undefined) {
    if (q.user !== undefined && q.user !== only) {
      throw new DeniedError(`user "${who.user}" may see only the jobs they ran, not "${q.user}"'s (set jobs: true for the user in the master's users config to see every job)`);
    }
    q.user = only;
  }
  return ask<JobsReply>(nc, s.cache("jobs"), q);
}

/** The audit trail names users and what they were refused: for the admin key and admin users only. */
export async function handleAudit(nc: NatsConnection, s: Subjects, body: unknown, who: Principal): Promise<AuditReply> {
  if (!who.admin) throw new DeniedError(`user "${who.user}" may not read the audit trail (admin only: set admin: true for the user in the master's users config)`);
  return ask<AuditReply>(nc, s.cache("audit"), auditQuery.parse(body));
}

export async function handleJob(nc: NatsConnection, s: Subjects, body: unknown, who: Principal): Promise<JobReply> {
  const q = jobQuery.parse(body);
  const r = await ask<JobReply>(nc, s.cache("job"), q);
  checkJobVisible(who, q.jid, r.job.user);
  return r;
}
