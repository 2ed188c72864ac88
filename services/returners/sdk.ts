// The returner contract: what a returner module exports, and what the host (services/returners/
// host.ts) hands it. A returner is one module, built-in (services/returners/<name>.ts) or a
// user's file (`natrium returner start --module ./mine.js`); its default export is a
// `ReturnerModule`. The module's header comment documents its config keys and their defaults.
//
// Delivery is at least once: the host acknowledges a stream message only after the call that
// delivers it resolved, so after a crash or a thrown error the same return comes again, with
// the same `eid`. A returner that must not store duplicates keys its writes by `eid` (or by
// jid + minion id, which is unique per return).
//
// An ordered returner (`OrderedReturnerModule`, `ordered: true`) is delivered exactly once
// instead: it keeps its own cursor, the stream sequence of the last message it applied,
// committed together with what it writes, and the host (ordered.ts) hands it every message of
// the stream in order after that cursor. The job cache itself is one (services/jobcache/
// returner.ts).
import type { JobDone, JobPublished, JobReturned } from "../../contracts/events/job.js";
import type { HeaderSource } from "../../contracts/message.js";

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

/** One message of the events stream as stored, for ordered returners: nothing checked yet. */
export interface StreamMessage {
  /** Stream sequence. */
  seq: number;
  subject: string;
  /** The msgpack body, as signed. */
  data: Uint8Array;
  /** Natrium-Type, Natrium-Signer, Natrium-Sig, Nats-Msg-Id (contracts/message.ts). */
  headers?: HeaderSource;
  /** The stream's timestamp for the message, ms since the epoch. */
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
  /**
   * Ordered returners only (the other host verifies before it delivers): is a stream message
   * genuine? Decoded, valid against its schema, on the subject its body names, and signed by
   * the key it must be: the master's, or the minion's accepted key as the keys bucket holds it
   * now. Throws while that cannot be decided (no master key yet): let apply() throw, and the
   * host tries the batch again.
   */
  verify?(m: StreamMessage): Promise<Checked>;
}

/** The context a host hands to setup(): the module logs through the host's logger. */
export function returnerContext(
  o: { name: string; ns: string; config: Record<string, unknown>; log: ReturnerContext["log"] },
  signal: AbortSignal,
  verify?: ReturnerContext["verify"],
): ReturnerContext {
  const log = o.log;
  return {
    name: o.name,
    ns: o.ns,
    config: o.config,
    log: { debug: (m, f) => log.debug(m, f), info: (m, f) => log.info(m, f), warn: (m, f) => log.warn(m, f), error: (m, f) => log.error(m, f) },
    signal,
    ...(verify ? { verify } : {}),
  };
}

/** What ctx.verify() says of a message: the verified event, or why it is refused (an audit kind and a reason). */
export type Checked = { ok: true; event: EventRecord } | { ok: false; kind: string; reason: string };

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

/** The job-cache queries an ordered returner may implement, as in ReturnerModule. */
type JobQueries = Pick<ReturnerModule, "getJid" | "getJids" | "getLoad" | "getMinions">;

/**
 * An exactly-once returner. Every message of the events stream reaches `apply` once, in stream
 * order, unverified (trust is the module's: the job cache trusts a minion's key from the key
 * events before its returns, so only stream order gives the same answer twice). Where a
 * module applies a batch, it must commit what the batch makes and the batch's last sequence in
 * one transaction; `position()` reads that sequence back. After a crash, a throw or a
 * redelivery out of order, the host asks `position()` again and goes on after it, so nothing
 * is applied twice and nothing is skipped. The host acknowledges a batch only after `apply`
 * resolved. There is no dead-lettering: a message the module cannot store is the module's to
 * record (the job cache writes it to its audit table) and to count as applied.
 */
export interface OrderedReturnerModule extends JobQueries {
  ordered: true;
  description?: string;
  setup?(ctx: ReturnerContext): void | Promise<void>;
  /** The stream sequence of the last message applied (0: none). A throw at the host's start stops the host. */
  position(): number | Promise<number>;
  /**
   * Work on a batch that needs no earlier batch applied (checking signatures): the host starts
   * it as soon as the batch is read, while the batch before is still being applied, and hands
   * its result to `apply`.
   */
  prepare?(batch: StreamMessage[]): unknown;
  /**
   * Apply messages after position(), in order, and commit the last one's sequence with them.
   * After a throw the host waits (250 ms, doubling up to 5 s), asks position() again and
   * resumes after it: a commit whose reply was lost (the connection dropped) is not applied
   * twice, and one that never happened is applied again.
   */
  apply(batch: StreamMessage[], prepared: unknown): void | Promise<void>;
  /**
   * Forget what the messages from sequence `fromSeq` on made (1: everything), and move the
   * position to `fromSeq - 1`: the host then delivers them again (`natrium cache rebuild`).
   */
  rewind?(fromSeq: number): void | Promise<void>;
  close?(): void | Promise<void>;
}

export type AnyReturnerModule = ReturnerModule | OrderedReturnerModule;

export function isOrdered(m: AnyReturnerModule): m is OrderedReturnerModule {
  return (m as OrderedReturnerModule).ordered === true;
}
