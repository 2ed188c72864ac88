// The filters `jobs list` and `jobs minion` share, and the JobsQuery they make.
import { Flags } from "./oclif.js";
import { parseWhen } from "./when.js";
import type { JobsQuery } from "../../contracts/api.js";

export const historyFlags = {
  limit: Flags.integer({ description: "how many jobs", default: 50, min: 1, max: 10_000 }),
  fun: Flags.string({ description: "only jobs of functions matching this glob (test.ping, 'cmd.*')" }),
  since: Flags.string({ description: "only jobs started at or after this time: ISO date/time or how long ago (30m, 2h, 7d)" }),
  until: Flags.string({ description: "only jobs started before this time: ISO date/time or how long ago" }),
  failed: Flags.boolean({ description: "only jobs with at least one failed return" }),
};

export function historyQuery(flags: { limit: number; fun?: string; since?: string; until?: string; failed?: boolean }, more: Partial<JobsQuery> = {}): JobsQuery {
  const q: JobsQuery = { limit: flags.limit, ...more };
  if (flags.fun) q.fun = flags.fun;
  if (flags.since) q.since = parseWhen("since", flags.since);
  if (flags.until) q.until = parseWhen("until", flags.until);
  if (flags.failed) q.failed = true;
  return q;
}
