import { Args } from "../../lib/oclif.js";
import { readFile, stat } from "node:fs/promises";
import { basename } from "node:path";
import { randomBytes } from "node:crypto";
import { StackCommand } from "../../lib/base.js";
import { FILE_CHUNK_MAX, type FilesReply } from "../../../contracts/api.js";
import { checkFilePath } from "../../../contracts/files.js";

export default class FilesPut extends StackCommand {
  static summary = "Put a file into the master's file store (salt://PATH)";
  static description = `The master stores the file and signs its record (path, SHA-256, size), so minions use it from salt://PATH (cmd.script, file.managed, cp.get_file) only if the bytes are the ones the master signed. PATH defaults to the file's name. Needs files: true in the master's users config (or the admin key). The file's permission bits are recorded (cp.get_file gives them back). The largest file is the master's file_max_bytes (64 MiB by default).`;
  static enableJsonFlag = true;
  static args = {
    file: Args.string({ required: true, description: "local file to store" }),
    path: Args.string({ required: false, description: "path in the store (salt://PATH); default: the file's name" }),
  };
  static examples = ["<%= config.bin %> files put ./deploy.sh scripts/deploy.sh", "<%= config.bin %> files put motd salt://motd"];

  async run(): Promise<FilesReply> {
    const { args, flags } = await this.parse(FilesPut);
    const path = checkFilePath(args.path ?? basename(args.file));
    const st = await stat(args.file).catch((err: Error) => this.error(`${args.file}: ${err.message}`, { exit: 2 }));
    if (!st.isFile()) this.error(`${args.file} is not a regular file`, { exit: 2 });
    const data = await readFile(args.file);
    const c = await this.connect(flags);
    const upload = randomBytes(12).toString("hex");
    const mode = "0" + (st.mode & 0o777).toString(8).padStart(3, "0");
    let reply: FilesReply = { files: [] };
    for (let index = 0, off = 0; index === 0 || off < data.length; index++, off += FILE_CHUNK_MAX) {
      const chunk = data.subarray(off, off + FILE_CHUNK_MAX);
      const last = off + FILE_CHUNK_MAX >= data.length;
      reply = await c.api<FilesReply>("files", { op: "put", path, upload, index, data: chunk, last, mode }, 60_000);
      if (last) break;
    }
    const rec = reply.files[0];
    if (!this.jsonEnabled() && rec) this.log(`salt://${rec.path}: ${rec.size} bytes, sha256 ${rec.sha256}`);
    return reply;
  }
}
