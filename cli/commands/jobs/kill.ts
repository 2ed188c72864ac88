import { Args, Flags } from "../../lib/oclif.js";
import { StackCommand } from "../../lib/base.js";
import { signalJob, signalLines } from "../../lib/jobctl-cmd.js";
import type { SignalReply } from "../../lib/jobctl.js";

export default class JobsKill extends StackCommand {
  static summary = "Kill a running job on its minions (saltutil.kill_job: SIGKILL to its processes)";
  static description = "Asks the minions of the job (from the job cache; every minion when it does not know the job) to kill it. Each minion's line says whether the job was killed there or not running. --term sends SIGTERM instead (saltutil.term_job).";
  static enableJsonFlag = true;
  static args = { jid: Args.string({ required: true, description: "the job id (20 digits)" }) };
  static examples = ["<%= config.bin %> jobs kill 20261127082615123456", "<%= config.bin %> jobs kill 20261127082615123456 --term"];
  static flags = {
    term: Flags.boolean({ description: "SIGTERM (saltutil.term_job) instead of SIGKILL" }),
    timeout: Flags.integer({ char: "t", description: "seconds to wait for the minions' answers (default: the master's, 5)", min: 1 }),
  };

  async run(): Promise<SignalReply> {
    const { args, flags } = await this.parse(JobsKill);
    if (!/^\d{20}$/.test(args.jid)) this.error(`not a job id (20 digits): ${args.jid}`, { exit: 2 });
    const c = await this.connect(flags);
    const r = await signalJob(c, args.jid, flags.term ? "saltutil.term_job" : "saltutil.kill_job", [args.jid], flags.term ? "SIGTERM" : "SIGKILL", flags.timeout);
    if (!this.jsonEnabled()) for (const l of signalLines(r)) this.log(l);
    return r;
  }
}
