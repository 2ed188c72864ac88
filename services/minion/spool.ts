// The offline spool: returns JetStream has not acknowledged, kept on disk in
// <data_dir>/spool so that they outlive the process. One file per return, named after its
// event id (a second write of the same return replaces the first), written atomically
// (temp file, fsync, rename, fsync of the directory) with mode 0600 in a 0700 directory. A
// file is removed only once JetStream has acknowledged the return; a file left by an earlier
// run is delivered at the next start. The event id travels as Nats-Msg-Id, so a return whose
// earlier publish did land is dropped by the stream as a duplicate: each lands once.

import { createHash } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { H, type Sealed } from "../../contracts/message.js";
import type { Logger } from "../common/log.js";

const SUFFIX = ".ret";

/** What a spool file holds: the sealed return exactly as it is published. */
interface SpoolFile {
  v: 1;
  /** For the operator reading the file, and for log lines. */
  jid: string;
  subject: string;
  headers: Record<string, string>;
  /** base64 */
  payload: string;
}

/** The file name of a return: from its event id, so one return is one file whatever happens. */
export function spoolName(ev: Sealed): string {
  const id = ev.headers[H.msgId] ?? `${ev.subject}\n${Buffer.from(ev.payload).toString("base64")}`;
  return createHash("sha256").update(id).digest("hex").slice(0, 40) + SUFFIX;
}

export function encodeSpooled(ev: Sealed, jid: string): string {
  const f: SpoolFile = { v: 1, jid, subject: ev.subject, headers: ev.headers, payload: Buffer.from(ev.payload).toString("base64") };
  return JSON.stringify(f) + "\n";
}

/** The sealed return a spool file holds; throws on anything else (a torn or foreign file). */
export function decodeSpooled(text: string): { ev: Sealed; jid: string } {
  const f = JSON.parse(text) as Partial<SpoolFile>;
  if (f?.v !== 1 || typeof f.subject !== "string" || typeof f.payload !== "string" || typeof f.headers !== "object" || f.headers === null) {
    throw new Error("not a spooled return");
  }
  for (const v of Object.values(f.headers)) if (typeof v !== "string") throw new Error("bad header in a spooled return");
  const ev = { subject: f.subject, headers: f.headers as Record<string, string>, payload: new Uint8Array(Buffer.from(f.payload, "base64")) };
  return { ev, jid: typeof f.jid === "string" ? f.jid : "?" };
}

export class Spool {
  constructor(readonly dir: string, private readonly log?: Logger) {}

  /** Write `ev` to disk (atomically, 0600); returns its path. */
  write(ev: Sealed, jid: string): string {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const name = spoolName(ev);
    const path = join(this.dir, name);
    const tmp = join(this.dir, `.${name}.${process.pid}.tmp`);
    const fd = openSync(tmp, "w", 0o600);
    try {
      writeSync(fd, encodeSpooled(ev, jid));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
    syncDir(this.dir);
    return path;
  }

  /** Forget a return JetStream has acknowledged. */
  remove(path: string): void {
    rmSync(path, { force: true });
  }

  /**
   * The returns left on disk, oldest name order. Temp files of a write that never finished are
   * removed (that write never completed, so its return was never counted as spooled); a file
   * that cannot be read is renamed `*.bad` and logged, never fatal.
   */
  list(): { path: string; ev: Sealed; jid: string }[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const out: { path: string; ev: Sealed; jid: string }[] = [];
    for (const name of names.sort()) {
      const path = join(this.dir, name);
      if (name.startsWith(".") && name.endsWith(".tmp")) {
        rmSync(path, { force: true });
        continue;
      }
      if (!name.endsWith(SUFFIX)) continue;
      try {
        out.push({ path, ...decodeSpooled(readFileSync(path, "utf8")) });
      } catch (err) {
        this.log?.error("unreadable spool file set aside", { file: path, error: String((err as Error).message) });
        renameSync(path, `${path}.bad`);
      }
    }
    return out;
  }
}

/**
 * One return on its way: written to the spool only if it is not acknowledged soon (or the
 * minion stops first), and removed from the spool once it is.
 */
export class SpoolEntry {
  private path?: string;
  private finished = false;
  constructor(
    private readonly spool: Spool,
    readonly ev: Sealed,
    readonly jid: string,
    /** Set for a return read back from the spool. */
    path?: string,
  ) {
    this.path = path;
  }

  get saved(): boolean {
    return this.path !== undefined;
  }

  /** Put the return on disk (once). */
  save(): void {
    if (this.path || this.finished) return;
    this.path = this.spool.write(this.ev, this.jid);
  }

  /** JetStream acknowledged it: the file goes. */
  acknowledged(): void {
    this.finished = true;
    if (this.path) this.spool.remove(this.path);
    this.path = undefined;
  }
}

function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch {
    // Not every file system lets a directory be fsynced; the rename is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
