import { Args, Flags } from "../../lib/oclif.js";
import { StackCommand } from "../../lib/base.js";
import { formatAnswer, isoTime, OutFormats, type OutFormat } from "../../lib/output.js";
import type { JobQuery, JobReply } from "../../../contracts/api.js";

export default class JobsShow extends StackCommand {
  static summary = "Show one job and every minion's return, from the job cache";
  static enableJsonFlag = true;
  static args = { jid: Args.string({ required: true, description: "the job id (20 digits)" }) };
  static examples = ["<%= config.bin %> jobs show 20261127082615123456"];
  static flags = {
    out: Flags.string({ description: "output format of the returns", options: [...OutFormats], default: "nested" }),
  };

  async run(): Promise<JobReply> {
    const { args, flags } = await this.parse(JobsShow);
    const c = await this.connect(flags);
    const q: JobQuery = { jid: args.jid };
    const r = await c.api<JobReply>("job", q);
    if (!this.jsonEnabled()) {
      const j = r.job;
      this.log(`jid:      ${j.jid}`);
      this.log(`function: ${j.fun} ${j.arg.map((a) => JSON.stringify(a)).join(" ")}`.trimEnd());
      this.log(`target:   ${Array.isArray(j.tgt) ? j.tgt.join(",") : j.tgt} (${j.tgt_type})`);
      this.log(`user:     ${j.user}`);
      this.log(`started:  ${isoTime(j.created)}   finished: ${isoTime(j.finished)}${r.done_reason ? ` (${r.done_reason})` : ""}`);
      const running = new Set(r.running ?? []);
      const silent = r.missing.filter((m) => !running.has(m));
      this.log(`minions:  ${j.returned}/${j.expected} returned${j.failed ? `, ${j.failed} failed` : ""}${running.size ? `; still running: ${[...running].join(", ")}` : ""}${silent.length ? `; ${r.done_reason ? "not responding" : "missing"}: ${silent.join(", ")}` : ""}`);
      this.log("");
      for (const ret of r.returns) {
        this.log(`# ${ret.minion}  success=${ret.success ? "True" : "False"}  retcode=${ret.retcode}  duration=${ret.duration_ms.toFixed(1)}ms`);
        this.log(formatAnswer(flags.out as OutFormat, ret.minion, ret.return));
      }
      for (const m of r.missing) this.log(formatAnswer(flags.out as OutFormat, m, running.has(m) ? "Minion did not return. [Still running]" : "Minion did not return. [No response]"));
    }
    return r;
  }
}
