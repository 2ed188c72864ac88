import { Args, Flags } from "../../lib/oclif.js";
import { StackCommand } from "../../lib/base.js";
import { checkReturnerName } from "../../../contracts/subjects.js";
import { isoTime, table } from "../../lib/output.js";
import { readDeadLetters, type DeadLetter } from "../../../services/returners/deadletter.js";

export default class ReturnersDead extends StackCommand {
  static summary = "Show a returner's dead letters: what it gave up on (failed) or would not deliver (refused), and why";
  static description = `Each dead letter keeps the original message (payload and signature headers) with the error, the attempts and where it was in the events stream; --json prints them with the payload in base64. \`natrium returners remove NAME\` purges them.`;
  static enableJsonFlag = true;
  static args = { name: Args.string({ description: "returner name", required: true }) };
  static examples = ["<%= config.bin %> returners dead audit-sink", "<%= config.bin %> returners dead audit-sink --limit 500 --json"];
  static flags = { limit: Flags.integer({ default: 50, min: 1, description: "at most this many, oldest first" }) };

  async run(): Promise<{ name: string; dead: DeadLetter[] }> {
    const { args, flags } = await this.parse(ReturnersDead);
    const name = checkReturnerName(args.name);
    const c = await this.connect(flags);
    const dead = await readDeadLetters(c.nc, c.s, name, flags.limit);
    if (!this.jsonEnabled()) {
      if (!dead.length) this.log(`No dead letters for ${name}.`);
      else this.log(table(["WHEN", "WHY", "SEQ", "EID", "TRIES", "ERROR"], dead.map((d) => [isoTime(d.ts), d.why, String(d.seq), d.eid ?? "-", String(d.attempts), d.error.slice(0, 120)])));
    }
    return { name, dead };
  }
}
