import { Args, Flags } from "../../lib/oclif.js";
import { StackCommand } from "../../lib/base.js";
import { signalJob, signalLines } from "../../lib/jobctl-cmd.js";
import type { SignalReply } from "../../lib/jobctl.js";

export default class JobsSignal extends StackCommand {
  static summary = "Send a signal to the processes of a running job on its minions (saltutil.signal_job)";
  static description = "SIGNAL is a name (SIGUSR1, HUP) or a number. The job goes on and returns what its processes do; SIGKILL ends it at once, and so does a signal that would end a process when the job started none.";
  static enableJsonFlag = true;
  static args = {
    jid: Args.string({ required: true, description: "the job id (20 digits)" }),
    signal: Args.string({ required: true, description: "signal name or number, e.g. SIGUSR1, HUP, 15" }),
  };
  static examples = ["<%= config.bin %> jobs signal 20261127082615123456 SIGUSR1", "<%= config.bin %> jobs signal 20261127082615123456 HUP"];
  static flags = {
    timeout: Flags.integer({ char: "t", description: "seconds to wait for the minions' answers (default: the master's, 5)", min: 1 }),
  };

  async run(): Promise<SignalReply> {
    const { args, flags } = await this.parse(JobsSignal);
    if (!/^\d{20}$/.test(args.jid)) this.error(`not a job id (20 digits): ${args.jid}`, { exit: 2 });
    const c = await this.connect(flags);
    const r = await signalJob(c, args.jid, "saltutil.signal_job", [args.jid, args.signal], args.signal, flags.timeout);
    if (!this.jsonEnabled()) for (const l of signalLines(r)) this.log(l);
    return r;
  }
}
