// The returner contract: what a returner module exports, and what the host (services/returners/
// host.ts) hands it. A returner is one module, built-in (services/returners/<name>.ts) or a
// user's file (`natrium returner start --module ./mine.js`); its default export is a
// `ReturnerModule`. The module's header comment documents its config keys and their defaults.
//
// Delivery is at least once: the host acknowledges a stream message only after the call that
// delivers it resolved, so after a crash or a thrown error the same return comes again, with
// the same `eid`. A returner that must not store duplicates keys its writes by `eid` (or by
// jid + minion id, which is unique per return).
import type { JobDone, JobPublished, JobReturned } from "../../contracts/events/job.js";

/** A job return as a returner receives it: the verified `job.ret` body plus where it came from. */
export interface ReturnRecord extends JobReturned {
  /** The event id (stable across redeliveries and replays): the idempotence key. */
  eid: string;
  /** The stream sequence the return was read at. */
  seq: number;
  /** The subject it was published on. */
  subject: string;
}

/** A job command as a returner receives it (Salt's "load"): the verified `job.new` body. */
export interface JobRecord extends JobPublished {
  eid: string;
  seq: number;
}

/** Any verified event of the stream, for `eventReturn` (Salt's event returner). */
export interface EventRecord {
  eid: string;
  seq: number;
  subject: string;
  /** The event's type, e.g. "job.new", "job.ret", "job.done", "minion.start", "key". */
  type: string;
  /** Who signed it: "master" or "minion <id>". */
  signer: string;
  body: Record<string, unknown>;
  /** Milliseconds since the epoch at which the stream stored it. */
  time: number;
}

/** What `setup` gets: the returner's own config keys (strings from `--config k=v` or YAML values), and a logger. */
export interface ReturnerContext {
  /** The returner's name (its durable consumer is `returner_<name>`). */
  name: string;
  /** The namespace it serves. */
  ns: string;
  config: Record<string, unknown>;
  log: {
    debug(msg: string, fields?: Record<string, unknown>): void;
    info(msg: string, fields?: Record<string, unknown>): void;
    warn(msg: string, fields?: Record<string, unknown>): void;
    error(msg: string, fields?: Record<string, unknown>): void;
  };
  /** Aborted when the host stops: long waits (HTTP requests, reconnects) should end on it. */
  signal: AbortSignal;
}

/** One job as Salt's `get_jid`-family returns it: minion id → that minion's return record. */
export type JidReturns = Record<string, ReturnRecord>;

/**
 * A returner. Only `returner` is required. Every method may be async; a throw (or rejection)
 * means "not delivered": the host retries with backoff and, after `max_deliver` attempts,
 * dead-letters the message.
 */
export interface ReturnerModule {
  /** Short description for `natrium returners list`. */
  description?: string;
  /** Called once before any delivery; validates and keeps the config. Throw a clear error on a bad key. */
  setup?(ctx: ReturnerContext): void | Promise<void>;
  /** One minion's return (Salt's `returner(ret)`). */
  returner(ret: ReturnRecord): void | Promise<void>;
  /** A job command, before its returns (Salt's `save_load`). */
  saveLoad?(job: JobRecord): void | Promise<void>;
  /** A job closed: who returned, who did not. */
  jobDone?(done: JobDone & { eid: string; seq: number }): void | Promise<void>;
  /** Events in batches, in stream order (Salt's `event_return`). Implementing it subscribes the returner to every event type. */
  eventReturn?(events: EventRecord[]): void | Promise<void>;
  /** Stop: flush and close connections. */
  close?(): void | Promise<void>;

  // Job-cache queries: a returner implementing all four can serve `natrium jobs …` in place of
  // the built-in job cache (Salt's "replace the default job cache").
  /** Every minion's return for a job. */
  getJid?(jid: string): JidReturns | Promise<JidReturns>;
  /** Known jobs, newest first, at most `limit`. */
  getJids?(limit?: number): JobRecord[] | Promise<JobRecord[]>;
  /** The job command (load) of a job, if known. */
  getLoad?(jid: string): JobRecord | undefined | Promise<JobRecord | undefined>;
  /** Minions that have returned anything, sorted. */
  getMinions?(): string[] | Promise<string[]>;
}
