import { Flags } from "@oclif/core";
import { StackCommand } from "../../lib/base.js";
import { isoTime, table } from "../../lib/output.js";
import type { JobsQuery, JobsReply } from "../../../contracts/api.js";

export default class JobsList extends StackCommand {
  static summary = "List jobs from the job cache, newest first (a user sees the jobs they ran, unless allowed every job)";
  static enableJsonFlag = true;
  static examples = ["<%= config.bin %> jobs list", "<%= config.bin %> jobs list --limit 5 --json"];
  static flags = {
    limit: Flags.integer({ description: "how many jobs", default: 50, min: 1, max: 10_000 }),
  };

  async run(): Promise<JobsReply> {
    const { flags } = await this.parse(JobsList);
    const c = await this.connect(flags);
    const q: JobsQuery = { limit: flags.limit };
    // Through the master, signed: it shows a user only the jobs they may see.
    const reply = await c.api<JobsReply>("jobs", q);
    if (!this.jsonEnabled()) {
      if (reply.jobs.length === 0) this.log("No jobs in the job cache.");
      else {
        this.log(table(
          ["JID", "FUNCTION", "TARGET", "USER", "RETURNED", "STARTED"],
          reply.jobs.map((j) => [
            j.jid,
            j.fun,
            `${Array.isArray(j.tgt) ? j.tgt.join(",") : j.tgt}${j.tgt_type === "glob" ? "" : ` (${j.tgt_type})`}`,
            j.user,
            `${j.returned}/${j.expected}${j.failed ? ` (${j.failed} failed)` : ""}`,
            isoTime(j.created),
          ]),
        ));
      }
    }
    return reply;
  }
}
