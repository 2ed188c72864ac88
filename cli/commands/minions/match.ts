import { Args } from "../../lib/oclif.js";
import { StackCommand } from "../../lib/base.js";
import { targetFlags, targetOf } from "../../lib/target.js";
import type { MatchReply, MatchRequest } from "../../../contracts/api.js";

export default class MinionsMatch extends StackCommand {
  static summary = "Show which minions a target selects, without running anything";
  static description = `The master resolves TARGET exactly as it would for \`natrium run\` (nodegroups expanded, the same matchers, its minion data cache of accepted minions and their grains) and answers with the minions; nothing is published.
Exit status: 0 when at least one minion matches, 1 when none does, 2 on an error (e.g. a bad_target with the position of a parse error).`;
  static enableJsonFlag = true;
  static args = {
    target: Args.string({ required: true, description: "glob on the minion id (default), or a target of the type a flag names" }),
  };
  static examples = [
    "<%= config.bin %> minions match 'web*'",
    "<%= config.bin %> minions match -C 'web* and G@os:Debian or L@db1,db2 and not E@test.*'",
    "<%= config.bin %> minions match -S 10.0.0.0/8 --json",
    "<%= config.bin %> minions match -N webservers",
  ];
  static flags = { ...targetFlags };

  async run(): Promise<MatchReply> {
    const { args, flags } = await this.parse(MinionsMatch);
    const c = await this.connect(flags);
    const req: MatchRequest = { v: 1, ...targetOf(args.target, flags) };
    const reply = await c.api<MatchReply>("match", req);
    if (!this.jsonEnabled()) {
      if (reply.minions.length === 0) this.logToStderr("No minions matched the target.");
      for (const id of reply.minions) this.log(id);
    }
    if (reply.minions.length === 0) process.exitCode = 1;
    return reply;
  }
}
