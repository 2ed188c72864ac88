import { StackCommand } from "../../lib/base.js";
import { changeFlags, keysRequest } from "../../lib/keys.js";
import { NatriumError } from "../../../contracts/errors.js";
import type { KeysReply } from "../../../contracts/api.js";

export default class KeysAccept extends StackCommand {
  static summary = "Accept minion keys by id or glob (salt-key -a / -A)";
  static enableJsonFlag = true;
  static strict = false;
  static examples = ["<%= config.bin %> keys accept web1", "<%= config.bin %> keys accept 'web*'", "<%= config.bin %> keys accept --all"];
  static flags = changeFlags("accept");

  async run(): Promise<KeysReply> {
    const { flags, argv } = await this.parse(KeysAccept);
    const match = argv as string[];
    if (!match.length && !flags.all) throw new NatriumError("usage", "name the minion ids or globs to accept, or pass --all");
    if (match.length && flags.all) throw new NatriumError("usage", "give minion ids or --all, not both");
    const c = await this.connect(flags);
    const r = await keysRequest(c, "accept", match, flags["include-rejected"] ? ["rejected"] : undefined);
    if (!this.jsonEnabled()) {
      if (!r.keys.length) this.log("No keys changed.");
      for (const k of r.keys) this.log(`Key for minion ${k.id} accepted.`);
    }
    return r;
  }
}
