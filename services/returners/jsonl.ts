// jsonl — append every return to a JSON-lines file (Salt's `rawfile_json` returner).
//
// One line per return: the return's fields as Salt has them (jid, id, fun, fun_args, return,
// retcode, success) plus start/end/duration_ms, eid, seq and `"kind": "ret"`. With `save_load`
// a line per job command (`"kind": "load"`), with `events` a line per event of the bus
// (`"kind": "event"`). Delivery is at least once: after a crash or a retry a line can appear
// twice, with the same `eid`; readers dedupe on it.
//
// The file is rotated by size, like logrotate's `size`: when a write would take it past
// `max_bytes`, it becomes `<path>.1` (`.1` becomes `.2` …, the oldest beyond `backups` is
// deleted) and a new file is started.
//
// Config keys (`--config key=value`, or under `config:` in the returner's YAML):
//
//   path        file to append to                         (required)
//   max_bytes   rotate when the file would exceed this     default 104857600 (100 MiB); 0 = never
//   backups     rotated files kept (path.1 … path.N)       default 5
//   save_load   also write job commands ("kind": "load")   default false
//   events      also write every event ("kind": "event")   default false
//   fsync       fsync after each batch of writes           default false
//
// Example:
//
//   natrium returner start --module jsonl --name audit-sink \
//       --config path=/var/log/natrium/returns.jsonl --config max_bytes=10485760 --config backups=3
//   natrium run '*' test.ping --return audit-sink     # with --mode requested

import { closeSync, existsSync, fstatSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { NatriumError } from "../../contracts/errors.js";
import type { EventRecord, JobRecord, ReturnerContext, ReturnerModule, ReturnRecord } from "./sdk.js";

export interface JsonlConfig {
  path: string;
  max_bytes: number;
  backups: number;
  save_load: boolean;
  events: boolean;
  fsync: boolean;
}

export class JsonlConfigError extends NatriumError {
  constructor(key: string, message: string) {
    super("bad_config", `jsonl returner: config key "${key}" ${message}`);
  }
}

function int(cfg: Record<string, unknown>, key: string, dflt: number): number {
  const v = cfg[key];
  if (v === undefined || v === "") return dflt;
  const n = typeof v === "number" ? v : Number(v);
  if (!Number.isInteger(n) || n < 0) throw new JsonlConfigError(key, `must be a whole number ≥ 0 (got ${JSON.stringify(v)})`);
  return n;
}

function bool(cfg: Record<string, unknown>, key: string, dflt: boolean): boolean {
  const v = cfg[key];
  if (v === undefined || v === "") return dflt;
  if (v === true || v === "true" || v === "yes" || v === "1") return true;
  if (v === false || v === "false" || v === "no" || v === "0") return false;
  throw new JsonlConfigError(key, `must be true or false (got ${JSON.stringify(v)})`);
}

const KNOWN = ["path", "max_bytes", "backups", "save_load", "events", "fsync"];

export function parseJsonlConfig(cfg: Record<string, unknown>): JsonlConfig {
  for (const k of Object.keys(cfg)) if (!KNOWN.includes(k)) throw new JsonlConfigError(k, `is unknown; known keys: ${KNOWN.join(", ")}`);
  const path = cfg.path;
  if (typeof path !== "string" || !path) throw new JsonlConfigError("path", "is required: the file to append returns to");
  return {
    path,
    max_bytes: int(cfg, "max_bytes", 100 * 1024 * 1024),
    backups: int(cfg, "backups", 5),
    save_load: bool(cfg, "save_load", false),
    events: bool(cfg, "events", false),
    fsync: bool(cfg, "fsync", false),
  };
}

/** An append-only file that rotates by size. Writes are synchronous: a resolved call is on disk (in the page cache). */
export class RotatingFile {
  private fd = -1;
  private size = 0;

  constructor(private readonly c: Pick<JsonlConfig, "path" | "max_bytes" | "backups" | "fsync">) {}

  open(): void {
    mkdirSync(dirname(this.c.path), { recursive: true });
    this.fd = openSync(this.c.path, "a", 0o640);
    this.size = fstatSync(this.fd).size;
  }

  write(text: string): void {
    const buf = Buffer.from(text, "utf8");
    if (this.c.max_bytes > 0 && this.size > 0 && this.size + buf.length > this.c.max_bytes) this.rotate();
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off);
    this.size += buf.length;
    if (this.c.fsync) fsyncSync(this.fd);
  }

  private rotate(): void {
    closeSync(this.fd);
    const p = this.c.path;
    if (this.c.backups === 0) rmSync(p, { force: true });
    else {
      rmSync(`${p}.${this.c.backups}`, { force: true });
      for (let i = this.c.backups - 1; i >= 1; i--) if (existsSync(`${p}.${i}`)) renameSync(`${p}.${i}`, `${p}.${i + 1}`);
      renameSync(p, `${p}.1`);
    }
    this.open();
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}

let cfg: JsonlConfig | undefined;
let file: RotatingFile | undefined;

function out(): RotatingFile {
  if (!file) throw new NatriumError("not_set_up", "jsonl returner: setup() was not called");
  return file;
}

const jsonl: ReturnerModule = {
  description: "append returns to a JSON-lines file, rotated by size",
  setup(ctx: ReturnerContext) {
    cfg = parseJsonlConfig(ctx.config);
    file = new RotatingFile(cfg);
    file.open();
    ctx.log.info("jsonl returner writing", { path: cfg.path, max_bytes: cfg.max_bytes, backups: cfg.backups });
  },
  returner(ret: ReturnRecord) {
    const { v: _v, type: _t, ...fields } = ret;
    out().write(JSON.stringify({ kind: "ret", ...fields }) + "\n");
  },
  saveLoad(job: JobRecord) {
    if (!cfg?.save_load) return;
    const { v: _v, type: _t, ...fields } = job;
    out().write(JSON.stringify({ kind: "load", ...fields }) + "\n");
  },
  eventReturn(events: EventRecord[]) {
    if (!cfg?.events) return;
    out().write(events.map((e) => JSON.stringify({ kind: "event", ...e }) + "\n").join(""));
  },
  close() {
    file?.close();
    file = undefined;
  },
};

export default jsonl;
