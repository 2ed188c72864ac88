import { StackCommand } from "../../lib/base.js";
import { keyGroups, keysRequest } from "../../lib/keys.js";
import type { KeysReply } from "../../../contracts/api.js";

export default class KeysFinger extends StackCommand {
  static summary = "Show key fingerprints: the master's and the minions' (salt-key -F)";
  static description = "Before accepting a key, compare its fingerprint with the one the minion logs when it starts (the \"minion starting\" line, field finger).";
  static enableJsonFlag = true;
  static strict = false;
  static examples = ["<%= config.bin %> keys finger", "<%= config.bin %> keys finger web1"];

  async run(): Promise<KeysReply> {
    const { flags, argv } = await this.parse(KeysFinger);
    const c = await this.connect(flags);
    const r = await keysRequest(c, "list", argv as string[], undefined);
    if (!this.jsonEnabled()) {
      this.log("Local Keys:");
      this.log(`master:  ${r.master.finger}`);
      for (const l of keyGroups(r.keys, true)) this.log(l);
    }
    return r;
  }
}
