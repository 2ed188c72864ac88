import { Flags } from "../../lib/oclif.js";
import { StackCommand } from "../../lib/base.js";
import { isoTime, table } from "../../lib/output.js";
import { historyFlags, historyQuery } from "../../lib/history.js";
import type { JobsReply, JobSummary } from "../../../contracts/api.js";

export function jobRows(jobs: JobSummary[]): string {
  return table(
    ["JID", "FUNCTION", "TARGET", "USER", "RETURNED", "STARTED"],
    jobs.map((j) => [
      j.jid,
      j.fun,
      `${Array.isArray(j.tgt) ? j.tgt.join(",") : j.tgt}${j.tgt_type === "glob" ? "" : ` (${j.tgt_type})`}`,
      j.user,
      `${j.returned}/${j.expected}${j.failed ? ` (${j.failed} failed)` : ""}`,
      isoTime(j.created),
    ]),
  );
}

export default class JobsList extends StackCommand {
  static summary = "List jobs from the job cache, newest first (a user sees the jobs they ran, unless allowed every job)";
  static enableJsonFlag = true;
  static examples = [
    "<%= config.bin %> jobs list",
    "<%= config.bin %> jobs list --fun 'cmd.*' --since 2h",
    "<%= config.bin %> jobs list --minion web1 --failed --limit 5 --json",
    "<%= config.bin %> jobs list --target 'web*' --user alice --since 2026-11-01 --until 2026-11-02",
  ];
  static flags = {
    ...historyFlags,
    target: Flags.string({ description: "only jobs whose target (or a member of a list target) matches this glob" }),
    minion: Flags.string({ description: "only jobs this minion returned for" }),
    user: Flags.string({ description: "only jobs this user ran (users without jobs: true see only their own anyway)" }),
  };

  async run(): Promise<JobsReply> {
    const { flags } = await this.parse(JobsList);
    const q = historyQuery(flags);
    if (flags.target) q.target = flags.target;
    if (flags.minion) q.minion = flags.minion;
    if (flags.user) q.user = flags.user;
    const c = await this.connect(flags);
    // Through the master, signed: it shows a user only the jobs they may see.
    const reply = await c.api<JobsReply>("jobs", q);
    if (!this.jsonEnabled()) this.log(reply.jobs.length ? jobRows(reply.jobs) : "No jobs match.");
    return reply;
  }
}
