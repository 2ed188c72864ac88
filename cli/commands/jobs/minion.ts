import { Args } from "../../lib/oclif.js";
import { StackCommand } from "../../lib/base.js";
import { isoTime, table } from "../../lib/output.js";
import { historyFlags, historyQuery } from "../../lib/history.js";
import type { JobsReply } from "../../../contracts/api.js";

export default class JobsMinion extends StackCommand {
  static summary = "One minion's history: the jobs it returned for and its scheduled runs, newest first, with its own result";
  static enableJsonFlag = true;
  static args = { id: Args.string({ required: true, description: "the minion id" }) };
  static examples = ["<%= config.bin %> jobs minion web1", "<%= config.bin %> jobs minion web1 --failed --since 7d"];
  static flags = { ...historyFlags };

  async run(): Promise<JobsReply> {
    const { args, flags } = await this.parse(JobsMinion);
    const q = historyQuery(flags, { minion: args.id });
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
            // A scheduled run has no user: the entry it ran for says more.
            j.schedule !== undefined ? `schedule:${j.schedule}` : j.user,
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
