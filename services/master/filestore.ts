// `{ns}.api.files`: the master's file store (Salt's file_roots served as salt://). The CLI
// sends a file in chunks of signed requests; the master assembles it, stores it in the object
// store `{ns}_files` and signs its record (contracts/files.ts), so minions can check what they
// fetch. Only the master writes the store.

import { createHash } from "node:crypto";
import type { ObjectStore } from "@nats-io/obj";
import { filesRequest, type FilesReply } from "../../contracts/api.js";
import { checkFilePath, fileDescription, fileSigPayload, fileSigSubject, type FileRecord } from "../../contracts/files.js";
import { NatriumError } from "../../contracts/errors.js";
import { sign, type SigningKey } from "../../contracts/sign.js";
import { globMatch } from "../common/target.js";
import { DeniedError, type Principal } from "./acl.js";
import type { Logger } from "../common/log.js";

/** An upload not finished within this long is dropped (the client gave up or died). */
const UPLOAD_IDLE_MS = 60_000;

interface Upload {
  user: string;
  path: string;
  chunks: Uint8Array[];
  size: number;
  next: number;
  timer: NodeJS.Timeout;
}

export function checkFiles(who: Principal): void {
  if (who.admin || who.files) return;
  throw new DeniedError(`user "${who.user}" may not change the file store (set files: true for the user in the master's users config)`);
}

export class FileStore {
  private uploads = new Map<string, Upload>();

  constructor(
    private readonly os: ObjectStore,
    private readonly ns: string,
    private readonly key: SigningKey,
    private readonly maxBytes: number,
    private readonly log: Logger,
  ) {}

  async handle(raw: unknown, who: Principal): Promise<FilesReply> {
    const req = filesRequest.parse(raw);
    switch (req.op) {
      case "list": {
        const files = await this.list();
        return { files: req.match ? files.filter((f) => globMatch(req.match!.replace(/^salt:\/\//, ""), f.path)) : files };
      }
      case "remove": {
        checkFiles(who);
        const path = checkFilePath(req.path);
        const rec = await this.record(path);
        if (!rec) throw new NatriumError("not_found", `salt://${path} is not in the file store (natrium files list)`);
        await this.os.delete(path);
        this.log.info("file removed from the store", { path, by: who.user });
        return { files: [rec] };
      }
      case "put": {
        checkFiles(who);
        const path = checkFilePath(req.path);
        const id = `${who.user}\u0000${req.upload}`;
        let up = this.uploads.get(id);
        if (req.index === 0) {
          if (up) this.drop(id);
          up = { user: who.user, path, chunks: [], size: 0, next: 0, timer: this.expiry(id) };
          this.uploads.set(id, up);
        }
        if (!up || up.path !== path) throw new NatriumError("bad_request", `upload ${req.upload} of ${path} is not open (start again from chunk 0)`);
        if (req.index !== up.next) {
          this.drop(id);
          throw new NatriumError("bad_request", `upload ${req.upload} of ${path}: chunk ${req.index} arrived, ${up.next} was expected; the upload is dropped, start again`);
        }
        up.size += req.data.length;
        if (up.size > this.maxBytes) {
          this.drop(id);
          throw new NatriumError("too_large", `salt://${path} is larger than file_max_bytes (${this.maxBytes} bytes) in the master's config`);
        }
        up.chunks.push(req.data);
        up.next++;
        up.timer.refresh();
        if (!req.last) return { files: [], received: up.size };
        this.drop(id);
        const rec = await this.store(path, Buffer.concat(up.chunks), who.user, req.mode);
        return { files: [rec], received: rec.size };
      }
    }
  }

  private expiry(id: string): NodeJS.Timeout {
    const t = setTimeout(() => this.drop(id), UPLOAD_IDLE_MS);
    t.unref();
    return t;
  }

  private drop(id: string): void {
    const up = this.uploads.get(id);
    if (up) clearTimeout(up.timer);
    this.uploads.delete(id);
  }

  /** Store `data` at `path` with the master's signed record in the object's description. */
  async store(path: string, data: Uint8Array, by: string, mode?: string): Promise<FileRecord> {
    const record: FileRecord = { path, sha256: createHash("sha256").update(data).digest("hex"), size: data.length, ts: Date.now(), by, ...(mode ? { mode } : {}) };
    const sig = sign(this.key, fileSigSubject(this.ns, path), fileSigPayload(record));
    await this.os.putBlob({ name: path, description: JSON.stringify({ record, sig }) }, data);
    this.log.info("file stored", { path, size: record.size, sha256: record.sha256, by });
    return record;
  }

  /** The stored file's record, if there is one with a description this master wrote. */
  async record(path: string): Promise<FileRecord | undefined> {
    const info = await this.os.info(path);
    if (!info || info.deleted) return undefined;
    return parseRecord(info.description);
  }

  async list(): Promise<FileRecord[]> {
    const infos = await this.os.list();
    const out: FileRecord[] = [];
    for (const i of infos) {
      if (i.deleted) continue;
      const r = parseRecord(i.description);
      if (r) out.push(r);
    }
    return out.sort((a, b) => a.path.localeCompare(b.path));
  }
}

function parseRecord(description: string | undefined): FileRecord | undefined {
  try {
    return fileDescription.parse(JSON.parse(description ?? "")).record;
  } catch {
    return undefined;
  }
}
