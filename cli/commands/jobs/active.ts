import { Flags } from "../../lib/oclif.js";
import { StackCommand } from "../../lib/base.js";
import { isoTime, table } from "../../lib/output.js";
import { runJob } from "../../lib/run.js";
import { foldRunning, type ActiveReply } from "../../lib/jobctl.js";

export default class JobsActive extends StackCommand {
  static summary = "The jobs running on the minions now (saltutil.running on every minion), like salt-run jobs.active";
  static enableJsonFlag = true;
  static examples = ["<%= config.bin %> jobs active", "<%= config.bin %> jobs active --json"];
  static flags = {
    timeout: Flags.integer({ char: "t", description: "seconds to wait for the minions' answers (default: the master's, 5)", min: 1 }),
  };

  async run(): Promise<ActiveReply> {
    const { flags } = await this.parse(JobsActive);
    const c = await this.connect(flags);
    const r = await runJob(c, { tgt: "*", tgt_type: "glob", fun: "saltutil.running", arg: [], kwarg: {}, timeout: flags.timeout });
    const reply = foldRunning(r);
    if (!this.jsonEnabled()) {
      if (!reply.jobs.length) this.log("No jobs running.");
      else {
        this.log(table(
          ["JID", "FUNCTION", "USER", "MINIONS", "STARTED"],
          reply.jobs.map((j) => [j.jid, `${j.fun} ${j.arg.map((a) => JSON.stringify(a)).join(" ")}`.trimEnd(), j.user, j.minions.join(","), isoTime(j.start)]),
        ));
      }
      if (reply.missing.length) this.logToStderr(`Did not answer: ${reply.missing.join(", ")}`);
      for (const [id, why] of Object.entries(reply.failed)) this.logToStderr(`${id}: saltutil.running failed: ${why}`);
    }
    return reply;
  }
}
