import { StackCommand } from "../../lib/base.js";
import { changeFlags, keysRequest } from "../../lib/keys.js";
import { NatriumError } from "../../../contracts/errors.js";
import type { KeysReply } from "../../../contracts/api.js";

export default class KeysReject extends StackCommand {
  static summary = "Reject minion keys by id or glob (salt-key -r / -R)";
  static enableJsonFlag = true;
  static strict = false;
  static examples = ["<%= config.bin %> keys reject web1", "<%= config.bin %> keys reject --all"];
  static flags = changeFlags("reject");

  async run(): Promise<KeysReply> {
    const { flags, argv } = await this.parse(KeysReject);
    const match = argv as string[];
    if (!match.length && !flags.all) throw new NatriumError("usage", "name the minion ids or globs to reject, or pass --all");
    if (match.length && flags.all) throw new NatriumError("usage", "give minion ids or --all, not both");
    const c = await this.connect(flags);
    const r = await keysRequest(c, "reject", match, flags["include-accepted"] ? ["accepted"] : undefined);
    if (!this.jsonEnabled()) {
      if (!r.keys.length) this.log("No keys changed.");
      for (const k of r.keys) this.log(`Key for minion ${k.id} rejected.`);
    }
    return r;
  }
}
