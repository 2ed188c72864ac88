import { StackCommand } from "../../lib/base.js";
import { changeFlags, keysRequest } from "../../lib/keys.js";
import { NatriumError } from "../../../contracts/errors.js";
import type { KeysReply } from "../../../contracts/api.js";

export default class KeysDelete extends StackCommand {
  static summary = "Delete minion keys by id or glob (salt-key -d / -D)";
  static enableJsonFlag = true;
  static strict = false;
  static examples = ["<%= config.bin %> keys delete web1", "<%= config.bin %> keys delete --all"];
  static flags = changeFlags("delete");

  async run(): Promise<KeysReply> {
    const { flags, argv } = await this.parse(KeysDelete);
    const match = argv as string[];
    if (!match.length && !flags.all) throw new NatriumError("usage", "name the minion ids or globs to delete, or pass --all");
    if (match.length && flags.all) throw new NatriumError("usage", "give minion ids or --all, not both");
    const c = await this.connect(flags);
    const r = await keysRequest(c, "delete", match, undefined);
    if (!this.jsonEnabled()) {
      if (!r.keys.length) this.log("No keys changed.");
      for (const k of r.keys) this.log(`Key for minion ${k.id} deleted.`);
    }
    return r;
  }
}
