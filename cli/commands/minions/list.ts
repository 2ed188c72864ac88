import { Flags } from "../../lib/oclif.js";
import { StackCommand } from "../../lib/base.js";
import { minionsNote, minionsTable } from "../../lib/minions.js";
import type { MinionsReply, MinionsRequest } from "../../../contracts/api.js";

export default class MinionsList extends StackCommand {
  static summary = "List minions: up or down, last seen, key state and a grains summary (salt-run manage.status)";
  static description = `One line per minion the master knows a key for (accepted, pending and rejected). A minion is up while the master has seen its heartbeat, or another signed message from it, within the master's presence_timeout; only accepted minions have a presence (\`-\` for the others). Optional arguments are minion ids or globs.
Who may ask: the admin key, and users with keys: true or minions: true in the master's users config.`;
  static enableJsonFlag = true;
  static strict = false;
  static args = {};
  static examples = [
    "<%= config.bin %> minions list",
    "<%= config.bin %> minions list --down",
    "<%= config.bin %> minions list 'web*' --up --json",
  ];
  static flags = {
    up: Flags.boolean({ description: "only minions that are up (salt-run manage.up)", exclusive: ["down"] }),
    down: Flags.boolean({ description: "only accepted minions that are down (salt-run manage.down)", exclusive: ["up"] }),
  };

  async run(): Promise<MinionsReply> {
    const { flags, argv } = await this.parse(MinionsList);
    const match = argv as string[];
    const c = await this.connect(flags);
    const req: MinionsRequest = {
      v: 1,
      ...(flags.up ? { presence: "up" as const } : flags.down ? { presence: "down" as const } : {}),
      ...(match.length ? { match } : {}),
    };
    const reply = await c.api<MinionsReply>("minions", req);
    if (!this.jsonEnabled()) {
      if (reply.minions.length === 0) this.logToStderr("No minions.");
      else this.log(minionsTable(reply));
      const note = minionsNote(reply);
      if (note) this.logToStderr(note);
    }
    return reply;
  }
}
