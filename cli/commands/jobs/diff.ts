import { Args } from "../../lib/oclif.js";
import { isDeepStrictEqual } from "node:util";
import { StackCommand } from "../../lib/base.js";
import { formatAnswer } from "../../lib/output.js";
import type { JobReply, ReturnRow } from "../../../contracts/api.js";

export type MinionDiff =
  | { minion: string; state: "same"; success: boolean; retcode: number }
  | { minion: string; state: "differs"; a: Pick<ReturnRow, "success" | "retcode" | "return">; b: Pick<ReturnRow, "success" | "retcode" | "return"> }
  | { minion: string; state: "only_a" | "only_b"; ret: Pick<ReturnRow, "success" | "retcode" | "return"> };

export interface JobsDiff {
  a: { jid: string; fun: string };
  b: { jid: string; fun: string };
  minions: MinionDiff[];
  same: number;
  differs: number;
  only_a: number;
  only_b: number;
}

const pick = (r: ReturnRow) => ({ success: r.success, retcode: r.retcode, return: r.return });

/** Compare two jobs' returns minion by minion (what changed between two runs of a check). */
export function diffJobs(a: JobReply, b: JobReply): JobsDiff {
  const ra = new Map(a.returns.map((r) => [r.minion, r]));
  const rb = new Map(b.returns.map((r) => [r.minion, r]));
  const minions: MinionDiff[] = [];
  for (const m of [...new Set([...ra.keys(), ...rb.keys()])].sort()) {
    const x = ra.get(m);
    const y = rb.get(m);
    if (x && y) {
      minions.push(x.success === y.success && x.retcode === y.retcode && isDeepStrictEqual(x.return, y.return)
        ? { minion: m, state: "same", success: x.success, retcode: x.retcode }
        : { minion: m, state: "differs", a: pick(x), b: pick(y) });
    } else if (x) minions.push({ minion: m, state: "only_a", ret: pick(x) });
    else if (y) minions.push({ minion: m, state: "only_b", ret: pick(y) });
  }
  const n = (s: MinionDiff["state"]) => minions.filter((d) => d.state === s).length;
  return { a: { jid: a.job.jid, fun: a.job.fun }, b: { jid: b.job.jid, fun: b.job.fun }, minions, same: n("same"), differs: n("differs"), only_a: n("only_a"), only_b: n("only_b") };
}

export default class JobsDiffCmd extends StackCommand {
  static summary = "Compare two jobs' returns minion by minion: same, differs, or returned in only one";
  static enableJsonFlag = true;
  static args = {
    a: Args.string({ required: true, description: "the first job id" }),
    b: Args.string({ required: true, description: "the second job id" }),
  };
  static examples = ["<%= config.bin %> jobs diff 20261127082615123456 20261127092615123456"];

  async run(): Promise<JobsDiff> {
    const { args, flags } = await this.parse(JobsDiffCmd);
    const c = await this.connect(flags);
    const [a, b] = await Promise.all([c.api<JobReply>("job", { jid: args.a }), c.api<JobReply>("job", { jid: args.b })]);
    const d = diffJobs(a, b);
    if (!this.jsonEnabled()) {
      this.log(`a: ${a.job.jid} ${a.job.fun}   b: ${b.job.jid} ${b.job.fun}`);
      for (const m of d.minions) {
        if (m.state === "same") this.log(`${m.minion}: same`);
        else if (m.state === "differs") {
          this.log(`${m.minion}: differs`);
          this.log(formatAnswer("nested", "    a", m.a.success ? m.a.return : { success: false, retcode: m.a.retcode, return: m.a.return }));
          this.log(formatAnswer("nested", "    b", m.b.success ? m.b.return : { success: false, retcode: m.b.retcode, return: m.b.return }));
        } else this.log(`${m.minion}: only in ${m.state === "only_a" ? "a" : "b"}`);
      }
      this.log(`${d.same} same, ${d.differs} differ, ${d.only_a} only in a, ${d.only_b} only in b`);
    }
    return d;
  }
}
