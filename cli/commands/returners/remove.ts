import { Args, Flags } from "../../lib/oclif.js";
import { StackCommand } from "../../lib/base.js";
import { checkReturnerName } from "../../../contracts/subjects.js";
import { returnerAdmin } from "../../lib/returners.js";
import { removeReturner, UnknownReturnerError } from "../../../services/returners/registry.js";

export default class ReturnersRemove extends StackCommand {
  static summary = "Remove a returner: its durable consumer (its position), its settings and its dead letters";
  static description = `Stop the returner's processes first: a running one would recreate its consumer, starting at --from of its config. Events are not touched: adding the returner again with --from start backfills them.`;
  static enableJsonFlag = true;
  static args = { name: Args.string({ description: "returner name", required: true }) };
  static examples = ["<%= config.bin %> returners remove audit-sink", "<%= config.bin %> returners remove audit-sink --keep-dead"];
  static flags = {
    "keep-dead": Flags.boolean({ description: "keep its dead letters (natrium returners dead NAME)" }),
  };

  async run(): Promise<{ name: string; removed: boolean }> {
    const { args, flags } = await this.parse(ReturnersRemove);
    const name = checkReturnerName(args.name);
    const c = await this.connect(flags);
    const { jsm, kv } = await returnerAdmin(c);
    const removed = await removeReturner(jsm, kv, c.s, name, flags["keep-dead"]);
    if (!removed) throw new UnknownReturnerError(name);
    if (!this.jsonEnabled()) this.log(`Returner ${name} removed.`);
    return { name, removed };
  }
}
