import { Args } from "../../lib/oclif.js";
import { StackCommand } from "../../lib/base.js";
import type { FilesReply } from "../../../contracts/api.js";

export default class FilesRm extends StackCommand {
  static summary = "Remove a file from the master's file store";
  static description = "Needs files: true in the master's users config (or the admin key).";
  static enableJsonFlag = true;
  static args = { path: Args.string({ required: true, description: "salt://PATH or PATH" }) };
  static examples = ["<%= config.bin %> files rm scripts/old.sh"];

  async run(): Promise<FilesReply> {
    const { args, flags } = await this.parse(FilesRm);
    const c = await this.connect(flags);
    const reply = await c.api<FilesReply>("files", { op: "remove", path: args.path });
    if (!this.jsonEnabled()) for (const f of reply.files) this.log(`removed salt://${f.path}`);
    return reply;
  }
}
