import { Args, Flags } from "@oclif/core";
import { StackCommand } from "../../lib/base.js";
import { isoTime, table } from "../../lib/output.js";
import { parseWhen } from "../../lib/when.js";
import type { JobsQuery, JobsReply } from "../../../contracts/api.js";

export default class JobsMinion extends StackCommand {
  static summary = "One minion's history: the jobs it returned for, newest first, with its own result";
  static enableJsonFlag = true;
  static args = { id: Args.string({ required: true, description: "the minion id" }) };
  static examples = ["<%= config.bin %> jobs minion web1", "<%= config.bin %> jobs minion web1 --failed --since 7d"];
  static flags = {
    limit: Flags.integer({ description: "how many jobs", default: 50, min: 1, max: 10_000 }),
    fun: Flags.string({ description: "only jobs of functions matching this glob" }),
    since: Flags.string({ description: "only jobs started at or after this time: ISO date/time or how long ago (30m, 2h, 7d)" }),
    until: Flags.string({ description: "only jobs started before this time" }),
    failed: Flags.boolean({ description: "only jobs with at least one failed return" }),
  };

  async run(): Promise<JobsReply> {
    const { args, flags } = await this.parse(JobsMinion);
    const q: JobsQuery = { limit: flags.limit, minion: args.id };
    if (flags.fun) q.fun = flags.fun;
    if (flags.since) q.since = parseWhen("since", flags.since);
    if (flags.until) q.until = parseWhen("until", flags.until);
    if (flags.failed) q.failed = true;
    const c = await this.connect(flags);
    const reply = await c.api<JobsReply>("jobs", q);
    if (!this.jsonEnabled()) {
      if (!reply.jobs.length) this.log(`No jobs with a return from ${args.id}.`);
      else {
        this.log(table(
          ["JID", "FUNCTION", "USER", "SUCCESS", "RETCODE", "DURATION", "STARTED"],
          reply.jobs.map((j) => [
            j.jid,
            j.fun,
            j.user,
            j.minion ? (j.minion.success ? "True" : "False") : "-",
            j.minion ? String(j.minion.retcode) : "-",
            j.minion ? `${j.minion.duration_ms.toFixed(1)}ms` : "-",
            isoTime(j.created),
          ]),
        ));
      }
    }
    return reply;
  }
}
