// salt:// on the minion: fetch a file from the master's file store and check it is what the
// master signed (contracts/files.ts) before a module runs or installs it. A file whose record
// does not verify against the pinned master key, or whose bytes do not match the record, is
// refused: where NATS is not locked down anyone could write the object store.

import { createHash } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import { Objm, type ObjectStore } from "@nats-io/obj";
import { NatriumError } from "../../contracts/errors.js";
import { checkFilePath, fileDescription, fileSigPayload, fileSigSubject, type FileRecord } from "../../contracts/files.js";
import { verify } from "../../contracts/sign.js";
import type { Subjects } from "../../contracts/subjects.js";

export class FileStoreError extends NatriumError {}

export interface FileSource {
  /** The content of `salt://path` (or `path`), verified. */
  get(source: string): Promise<{ record: FileRecord; data: Buffer }>;
  /** Every file in the store whose record verifies. */
  list(): Promise<FileRecord[]>;
}

export class MasterFiles implements FileSource {
  private os?: Promise<ObjectStore>;

  constructor(
    private readonly nc: NatsConnection,
    private readonly s: Subjects,
    /** The master key this minion trusts now; undefined until it knows one. */
    private readonly masterPub: () => string | undefined,
  ) {}

  private store(): Promise<ObjectStore> {
    this.os ??= new Objm(this.nc).open(this.s.filesBucket).catch((err) => {
      this.os = undefined;
      throw new FileStoreError("file_store_unavailable", `the master's file store (${this.s.filesBucket}) cannot be opened: ${(err as Error).message}`, { cause: err });
    });
    return this.os;
  }

  async get(source: string): Promise<{ record: FileRecord; data: Buffer }> {
    const path = checkFilePath(source);
    const os = await this.store();
    const info = await os.info(path);
    if (!info || info.deleted) throw new FileStoreError("file_not_found", `salt://${path} is not in the master's file store (put it there with natrium files put)`);
    const record = this.verified(path, info.description);
    const blob = await os.getBlob(path);
    if (!blob) throw new FileStoreError("file_not_found", `salt://${path} was removed from the master's file store while it was being read`);
    const data = Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength);
    const sha = createHash("sha256").update(data).digest("hex");
    if (data.length !== record.size || sha !== record.sha256) {
      throw new FileStoreError("file_untrusted", `salt://${path}: the stored bytes (sha256 ${sha}, ${data.length} bytes) are not the ones the master signed (sha256 ${record.sha256}, ${record.size} bytes)`);
    }
    return { record, data };
  }

  async list(): Promise<FileRecord[]> {
    const os = await this.store();
    const out: FileRecord[] = [];
    for (const i of await os.list()) {
      if (i.deleted) continue;
      try {
        out.push(this.verified(i.name, i.description));
      } catch {
        // not signed by the master this minion trusts: not part of the store for it
      }
    }
    return out.sort((a, b) => a.path.localeCompare(b.path));
  }

  private verified(path: string, description: string | undefined): FileRecord {
    const pub = this.masterPub();
    if (!pub) throw new FileStoreError("file_untrusted", `salt://${path}: this minion does not know the master's key yet`);
    let d;
    try {
      d = fileDescription.parse(JSON.parse(description ?? ""));
    } catch (err) {
      throw new FileStoreError("file_untrusted", `salt://${path} has no valid master record in the file store: ${(err as Error).message}`);
    }
    if (d.record.path !== path) throw new FileStoreError("file_untrusted", `salt://${path} carries the record of ${d.record.path}`);
    try {
      verify(pub, fileSigSubject(this.s.ns, path), fileSigPayload(d.record), d.sig);
    } catch {
      throw new FileStoreError("file_untrusted", `salt://${path}: its record is not signed by the master this minion trusts`);
    }
    return d.record;
  }
}
