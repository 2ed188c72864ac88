// A running returner's status record in the returners bucket (`natrium returners list`): when
// and where it started, and its last error. Both hosts (host.ts, ordered.ts) keep it this way.

import { hostname } from "node:os";
import type { KV } from "@nats-io/kv";
import type { Logger } from "../common/log.js";
import { describe } from "../common/describe.js";
import { readStatus, writeStatus } from "./registry.js";

export class StatusRecorder {
  private started = Date.now();
  private errorAt = 0;

  constructor(private readonly kv: KV, private readonly name: string, private readonly log: Logger) {}

  /** A new start, keeping the last error an earlier process recorded. */
  async start(): Promise<void> {
    const prev = await readStatus(this.kv, this.name).catch(() => undefined);
    this.started = Date.now();
    await writeStatus(this.kv, {
      ...(prev?.last_error ? { last_error: prev.last_error, last_error_ts: prev.last_error_ts, last_error_eid: prev.last_error_eid } : {}),
      name: this.name, started: this.started, host: hostname(), pid: process.pid, ts: this.started,
    }).catch((err) => this.log.warn("cannot write the returner status", { error: describe(err) }));
  }

  /** The last error, at most once a second (a returner's processes share the record). */
  error(error: string, eid?: string): void {
    const now = Date.now();
    if (now - this.errorAt < 1000) return;
    this.errorAt = now;
    writeStatus(this.kv, {
      name: this.name, last_error: error.slice(0, 2000), last_error_ts: now, ...(eid ? { last_error_eid: eid } : {}),
      started: this.started, host: hostname(), pid: process.pid, ts: now,
    }).catch((err) => this.log.warn("cannot write the returner status", { error: describe(err) }));
  }
}
