import { Args } from "../../lib/oclif.js";
import { StackCommand } from "../../lib/base.js";
import type { FilesReply } from "../../../contracts/api.js";

export default class FilesList extends StackCommand {
  static summary = "List the files in the master's file store";
  static description = "One line per file: its salt:// path, size, SHA-256, who put it and when. GLOB narrows the paths (shell-style, as minion globs: `*` also crosses /).";
  static enableJsonFlag = true;
  static args = { glob: Args.string({ required: false, description: "only paths matching this glob" }) };
  static examples = ["<%= config.bin %> files list", "<%= config.bin %> files list 'scripts/*'"];

  async run(): Promise<FilesReply> {
    const { args, flags } = await this.parse(FilesList);
    const c = await this.connect(flags);
    const reply = await c.api<FilesReply>("files", { op: "list", ...(args.glob ? { match: args.glob } : {}) });
    if (!this.jsonEnabled()) {
      if (!reply.files.length) this.logToStderr("No files in the store.");
      for (const f of reply.files) this.log(`salt://${f.path}\t${f.size}\t${f.sha256}\t${f.by}\t${new Date(f.ts).toISOString()}`);
    }
    return reply;
  }
}
