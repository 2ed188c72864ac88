import { Flags } from "../../lib/oclif.js";
import { StackCommand } from "../../lib/base.js";
import { keyGroups, keysRequest } from "../../lib/keys.js";
import type { KeysReply } from "../../../contracts/api.js";

export default class KeysList extends StackCommand {
  static summary = "List minion keys: accepted, pending and rejected (salt-key -L)";
  static enableJsonFlag = true;
  static strict = false;
  static args = {};
  static examples = ["<%= config.bin %> keys list", "<%= config.bin %> keys list -F", "<%= config.bin %> keys list --state pending", "<%= config.bin %> keys list 'web*' --json"];
  static flags = {
    state: Flags.string({ description: "only keys in this state", options: ["accepted", "pending", "rejected"], multiple: true }),
    finger: Flags.boolean({ char: "F", description: "show each key's fingerprint (salt-key -F)" }),
  };

  async run(): Promise<KeysReply> {
    const { flags, argv } = await this.parse(KeysList);
    const c = await this.connect(flags);
    const r = await keysRequest(c, "list", argv as string[], flags.state as ("accepted" | "pending" | "rejected")[] | undefined);
    if (!this.jsonEnabled()) for (const l of keyGroups(r.keys, flags.finger)) this.log(l);
    return r;
  }
}
