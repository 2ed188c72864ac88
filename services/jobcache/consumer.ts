// The projector: a durable JetStream pull consumer over the whole events stream, read in
// batches; each batch is projected (projection.ts), written in one transaction with the cursor
// (writer.ts), and only then acknowledged.
//
// Ordering matters: whether a return is trusted depends on the key events before it. A plain
// durable consumer re-delivers unacknowledged messages only after ack_wait, *behind* newer
// ones, e.g. after a crash. So the database's cursor, committed with the rows, is the authority:
// at every (re)start the consumer is reused only if it stands exactly at the cursor, otherwise
// it is recreated to start at cursor + 1. Within a session delivery is in stream order; a
// redelivered message beyond the cursor means order broke, and the session restarts the same way.

import type { NatsConnection } from "@nats-io/transport-node";
import {
  AckPolicy,
  DeliverPolicy,
  ReplayPolicy,
  jetstream,
  jetstreamManager,
  type ConsumerConfig,
  type ConsumerInfo,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { H } from "../../contracts/message.js";
import type { Subjects } from "../../contracts/subjects.js";
import { NatriumError } from "../../contracts/errors.js";
import { deleteConsumer, isJsNotFound, sleep, stopConsuming, whenConsumerGone } from "../common/bus.js";
import type { Logger } from "../common/log.js";
import { emptyState, needsEidLookup, preverify, project, refusalRow, AuditKinds, emptyRows, type ProjectionState, type RawMessage, type Trust } from "./projection.js";
import { alreadyProjected, loadState, rewindTo, truncateAll, writeRows } from "./writer.js";
import { describe, isDataError, type Store } from "./store.js";
import { VerifyPool } from "../common/verifypool.js";
import type { MasterKey } from "./trust.js";

export interface ProjectorOptions {
  nc: NatsConnection;
  subjects: Subjects;
  store: Store;
  master: MasterKey;
  log: Logger;
  batchSize: number;
  batchWaitMs: number;
  ackWaitSec: number;
}

/** The database already holds another namespace's projection. */
export class ForeignDatabaseError extends NatriumError {
  constructor(readonly stream: string, readonly others: string[]) {
    super(
      "foreign_database",
      `the job cache database already holds the projection of stream ${others.join(", ")}, not ${stream}; give each namespace its own database`,
    );
  }
}

/** A batch also ends at this many payload bytes: events may be up to 8 MiB each. */
const MAX_BATCH_BYTES = 32 * 1024 * 1024;

/** Order broke within a session: restart it from the database cursor. */
class ResyncNeeded extends Error {}

/** A write failed for a reason other than the batch's values: resume from the database cursor. */
class DatabaseInterrupted extends NatriumError {
  constructor(where: string, cause: unknown) {
    // describe() appends the cause's own message.
    super("database_unavailable", `cannot write to the job cache database at ${where} (resuming from its cursor once it answers)`, { cause });
  }
}

export interface CaughtUp {
  lastSeq: number;
  streamLastSeq: number;
}

export class Projector {
  private readonly js: JetStreamClient;
  private jsm?: JetStreamManager;
  private state: ProjectionState = emptyState();
  private cursor = 0;
  /** Highest sequence in the tables at session start; above the cursor only if it was wound back. */
  private maxRowSeq = 0;
  private msgs?: ConsumerMessages;
  private running?: Promise<void>;
  private halted = true;
  private stopped = false;
  private forceRecreate = false;
  private wake = new AbortController();
  private rebuilding?: Promise<CaughtUp>;
  private readonly pool = new VerifyPool();

  constructor(private readonly o: ProjectorOptions) {
    this.js = jetstream(o.nc);
  }

  /** Stream sequence of the last event committed to the database. */
  get lastSeq(): number {
    return this.cursor;
  }

  private async manager(): Promise<JetStreamManager> {
    return (this.jsm ??= await jetstreamManager(this.o.nc));
  }

  /** Check the database belongs to this namespace, then consume until stop(). */
  async start(): Promise<void> {
    const loaded = await loadState(this.o.store.db, this.o.subjects.stream);
    if (loaded.otherStreams.length) throw new ForeignDatabaseError(this.o.subjects.stream, loaded.otherStreams);
    this.cursor = loaded.lastSeq;
    this.resume();
  }

  private resume(): void {
    this.halted = false;
    this.wake = new AbortController();
    this.running = this.loop();
  }

  /** Stop consuming; the batch being written is finished and acknowledged first. */
  private async halt(): Promise<void> {
    this.halted = true;
    this.wake.abort();
    await stopConsuming(this.msgs);
    await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.rebuilding?.catch(() => {});
    await this.halt();
    await this.pool.close();
  }

  private async loop(): Promise<void> {
    let backoff = 250;
    let failures = 0;
    while (!this.halted) {
      try {
        await this.session();
        backoff = 250;
        failures = 0;
      } catch (err) {
        if (this.halted) break;
        if (err instanceof ResyncNeeded) {
          this.o.log.info("restarting the consumer at the database cursor", { reason: err.message, last_seq: this.cursor });
          this.forceRecreate = true;
          continue;
        }
        // A database or NATS outage fails every attempt: say so at the first and every tenth.
        if (failures++ % 10 === 0) this.o.log.warn("consuming failed; retrying", { error: describe(err), attempt: failures, retry_ms: backoff });
        await sleep(backoff, this.wake.signal);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  private async session(): Promise<void> {
    const { store, subjects: s } = this.o;
    const loaded = await loadState(store.db, s.stream);
    this.state = loaded.state;
    this.cursor = loaded.lastSeq;
    this.maxRowSeq = loaded.maxRowSeq;
    await this.position();
    if (this.halted) return;
    const c = await this.js.consumers.get(s.stream, s.jobcacheConsumer);
    const msgs = await c.consume({ max_messages: Math.min(this.o.batchSize * 2, 4000) });
    this.msgs = msgs;
    if (this.halted) {
      await stopConsuming(msgs);
      return;
    }
    whenConsumerGone(msgs, async (status) => {
      this.o.log.warn("the job cache consumer went away; recreating it", { status });
      this.forceRecreate = true;
      await msgs.close();
    });
    this.o.log.info("consuming events", { stream: s.stream, consumer: s.jobcacheConsumer, from_seq: this.cursor + 1 });
    try {
      await this.pump(msgs);
    } finally {
      // A session that ends on an error must not leave its reader pulling beside the next one's.
      await stopConsuming(msgs);
    }
  }

  private consumerConfig(): Partial<ConsumerConfig> {
    const s = this.o.subjects;
    return {
      durable_name: s.jobcacheConsumer,
      // One ack per batch: acknowledging its last event acknowledges every event before it,
      // which in-order delivery makes exactly the batch (ResyncNeeded guards the order).
      ack_policy: AckPolicy.All,
      ...(this.cursor > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.cursor + 1 } : { deliver_policy: DeliverPolicy.All }),
      filter_subject: s.all,
      replay_policy: ReplayPolicy.Instant,
      ack_wait: this.o.ackWaitSec * 1_000_000_000,
      max_ack_pending: this.o.batchSize * 4,
      max_deliver: -1,
      description: "Natrium job cache: projects every event into the job cache database",
    };
  }

  /** Make the durable consumer's next delivery be the event after the database cursor. */
  private async position(): Promise<void> {
    const s = this.o.subjects;
    const jsm = await this.manager();
    await this.waitForStream(jsm);
    let info: ConsumerInfo | undefined;
    try {
      info = await jsm.consumers.info(s.stream, s.jobcacheConsumer);
    } catch (err) {
      if (!isJsNotFound(err)) throw err;
    }
    const atCursor =
      info &&
      !this.forceRecreate &&
      info.num_ack_pending === 0 &&
      info.ack_floor.stream_seq === this.cursor &&
      info.delivered.stream_seq === this.cursor &&
      info.config.filter_subject === s.all &&
      info.config.ack_policy === AckPolicy.All;
    if (atCursor) return;
    if (info) {
      this.o.log.info("recreating the job cache consumer at the database cursor", {
        last_seq: this.cursor,
        consumer_ack_floor: info.ack_floor.stream_seq,
        unacked: info.num_ack_pending,
      });
      await deleteConsumer(jsm, s.stream, s.jobcacheConsumer);
    }
    await jsm.consumers.add(s.stream, this.consumerConfig());
    this.forceRecreate = false;
  }

  private async waitForStream(jsm: JetStreamManager): Promise<void> {
    const s = this.o.subjects;
    for (let attempt = 1; !this.halted; attempt++) {
      try {
        const si = await jsm.streams.info(s.stream);
        if (si.state.last_seq < this.cursor) {
          this.o.log.warn("the stream is behind the job cache cursor (was it recreated?); run `natrium cache rebuild`", {
            stream: s.stream,
            stream_last_seq: si.state.last_seq,
            last_seq: this.cursor,
          });
        }
        return;
      } catch (err) {
        if (!isJsNotFound(err)) throw err;
      }
      if (attempt === 1 || attempt % 60 === 0) this.o.log.info("waiting for the events stream (start the master)", { stream: s.stream });
      await sleep(500, this.wake.signal);
    }
  }

  /**
   * Read messages into batches: up to batch_size, or what arrived within batch_wait_ms. Batch
   * N+1 is gathered and its signatures checked (VerifyPool's workers) while batch N is
   * written: commits stay strictly in order, one at a time.
   */
  private async pump(msgs: ConsumerMessages): Promise<void> {
    let writing: Promise<void> = Promise.resolve();
    try {
      await this.gather(msgs, async (batch) => {
        // Batches come in stream order, so what is past the cursor now still is at commit time.
        const fresh = batch.filter((m) => m.seq > this.cursor);
        const raws = fresh.map(toRaw);
        const verified = preverify(this.pool, raws);
        await writing;
        writing = this.commit(batch, fresh, raws, verified);
        // A failed commit must surface at the next batch, not as an unhandled rejection.
        writing.catch(() => {});
      });
    } finally {
      await writing;
    }
  }

  private async gather(msgs: ConsumerMessages, onBatch: (batch: JsMsg[]) => Promise<void>): Promise<void> {
    const it = msgs[Symbol.asyncIterator]();
    let next: Promise<IteratorResult<JsMsg>> | undefined;
    while (!this.halted) {
      const first = await (next ?? it.next());
      next = undefined;
      if (first.done) return;
      const batch: JsMsg[] = [first.value];
      let bytes = first.value.data.length;
      let ended = false;
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), this.o.batchWaitMs)));
      while (batch.length < this.o.batchSize && bytes < MAX_BATCH_BYTES) {
        next = it.next();
        // `next` may outlive this loop (halt, timeout); it must never become an unhandled rejection.
        next.catch(() => {});
        const r = await Promise.race([next, deadline]);
        if (r === "timeout") break; // `next` stays pending and opens the following batch
        next = undefined;
        if (r.done) {
          ended = true;
          break;
        }
        batch.push(r.value);
        bytes += r.value.data.length;
      }
      clearTimeout(timer);
      await onBatch(batch);
      if (ended) return;
    }
  }

  private async commit(batch: JsMsg[], fresh: JsMsg[], raws: RawMessage[], verified: Promise<Set<number>>): Promise<void> {
    const late = fresh.find((m) => m.redelivered);
    if (late) throw new ResyncNeeded(`event ${late.seq} was delivered again after later ones`);
    const t0 = performance.now();
    if (raws.length) await this.writeBatch(raws, verified);
    this.o.log.trace("batch committed", { messages: batch.length, projected: fresh.length, last_seq: this.cursor, ms: Math.round(performance.now() - t0) });
    // After the commit: a crash before this line means redelivery, which the cursor absorbs.
    batch[batch.length - 1].ack();
  }

  private async writeBatch(raws: RawMessage[], verified: Promise<Set<number>>): Promise<void> {
    let oneByOne = false;
    for (;;) {
      const pending = raws.filter((r) => r.seq > this.cursor);
      if (!pending.length) return;
      try {
        if (oneByOne) {
          for (const r of pending) await this.writeOne(r);
        } else {
          await this.write(pending, verified);
        }
        return;
      } catch (err) {
        if (isDataError(err) && !oneByOne) {
          // Some event in the batch has values the database refuses; find it by going one by one.
          oneByOne = true;
          continue;
        }
        if (this.halted) throw err;
        // Not the batch's fault: the database failed (connection lost, server restarting). A
        // server that crashed may have lost its last commits (synchronous_commit is off, see
        // store.ts), acknowledged already: only the database's own cursor can say where to
        // resume, so the session starts again from it once the database answers.
        throw new DatabaseInterrupted(this.o.store.where, err);
      }
    }
  }

  private trust(): Trust {
    return { ns: this.o.subjects.ns, masterPub: this.o.master.pub };
  }

  private async write(raws: RawMessage[], verifiedP: Promise<Set<number>>): Promise<void> {
    const db = this.o.store.db;
    const eids = raws
      .filter((r) => needsEidLookup(r.headers?.get(H.type)))
      .map((r) => r.headers?.get(H.msgId))
      .filter((e): e is string => !!e);
    // Rows beyond the cursor exist only if the cursor was wound back; otherwise skip that query.
    const maybeDone = raws.filter((r) => r.seq <= this.maxRowSeq).map((r) => r.seq);
    const [known, verified] = await Promise.all([alreadyProjected(db, maybeDone, eids), verifiedP]);
    const p = project(this.trust(), this.state, raws, known, verified);
    await writeRows(db, this.o.subjects.stream, p.rows, p.lastSeq);
    this.state = p.state;
    this.cursor = Math.max(this.cursor, p.lastSeq);
    for (const a of p.rows.audit) {
      if (a.origin === "jobcache") this.o.log.warn("event refused", { seq: a.seq, subject: a.subject, kind: a.kind, reason: a.reason });
    }
  }

  private async writeOne(r: RawMessage): Promise<void> {
    try {
      await this.write([r], preverify(this.pool, [r]));
    } catch (err) {
      if (!isDataError(err)) throw err;
      const rows = emptyRows();
      rows.audit.push(refusalRow(r, AuditKinds.unstorable, `the database refused the event: ${describe(err)}`, { type: r.headers?.get(H.type) }));
      await writeRows(this.o.store.db, this.o.subjects.stream, rows, r.seq);
      this.cursor = Math.max(this.cursor, r.seq);
      this.o.log.warn("event refused", { seq: r.seq, subject: r.subject, kind: AuditKinds.unstorable, error: describe(err) });
    }
  }

  /**
   * Empty the tables, recreate the consumer at the start of the stream and replay it; or, with
   * `fromSeq`, wind the tables back to just before that stream sequence and replay from there
   * (rows before it are kept: the stream may no longer hold what made them). Resolves when the
   * projection has caught up with the stream's last event at the time of the call; consumption
   * then simply continues. Concurrent calls share one rebuild.
   */
  rebuild(fromSeq?: number): Promise<CaughtUp> {
    this.rebuilding ??= this.doRebuild(fromSeq).finally(() => (this.rebuilding = undefined));
    return this.rebuilding;
  }

  private async doRebuild(fromSeq?: number): Promise<CaughtUp> {
    const s = this.o.subjects;
    const jsm = await this.manager();
    const before = (await jsm.streams.info(s.stream)).state;
    if (fromSeq !== undefined && fromSeq > 1) {
      // Rows made by events the stream has dropped (max age) could not come back.
      if (fromSeq < before.first_seq) {
        throw new NatriumError(
          "bad_request",
          `the stream ${s.stream} holds sequences ${before.first_seq}..${before.last_seq}: rebuilding from ${fromSeq} would drop rows it cannot replay; use --from ${before.first_seq} or later`,
        );
      }
      if (fromSeq > before.last_seq + 1) {
        throw new NatriumError("bad_request", `the stream ${s.stream} ends at sequence ${before.last_seq}: nothing to rebuild from ${fromSeq}`);
      }
    }
    this.o.log.info("rebuild: stopping consumption", { from_seq: fromSeq ?? 1 });
    await this.halt();
    try {
      if (fromSeq !== undefined && fromSeq > 1) {
        await rewindTo(this.o.store.db, s.stream, fromSeq);
        this.forceRecreate = true;
        this.o.log.info("rebuild: tables wound back; replaying the stream", { from_seq: fromSeq });
      } else {
        await truncateAll(this.o.store.db);
        await deleteConsumer(jsm, s.stream, s.jobcacheConsumer);
        this.o.log.info("rebuild: tables emptied; replaying the stream");
      }
      this.state = emptyState();
      this.cursor = 0;
      this.maxRowSeq = 0;
    } finally {
      if (!this.stopped) this.resume();
    }
    const target = (await jsm.streams.info(s.stream)).state.last_seq;
    await this.waitCaughtUp(target);
    this.o.log.info("rebuild: caught up", { last_seq: this.cursor, stream_last_seq: target });
    return { lastSeq: this.cursor, streamLastSeq: target };
  }

  /** Until the cursor reaches `target`, or the consumer has nothing left (gaps at the end). */
  async waitCaughtUp(target: number): Promise<void> {
    const s = this.o.subjects;
    const jsm = await this.manager();
    for (let i = 0; !this.stopped; i++) {
      if (this.cursor >= target) return;
      if (i % 5 === 4) {
        const info = await jsm.consumers.info(s.stream, s.jobcacheConsumer).catch(() => undefined);
        if (info && info.num_pending === 0 && info.num_ack_pending === 0 && info.ack_floor.stream_seq === this.cursor) return;
      }
      await sleep(50);
    }
    throw new NatriumError("stopping", "the job cache is stopping");
  }
}

function toRaw(m: JsMsg): RawMessage {
  return { seq: m.seq, subject: m.subject, data: m.data, headers: m.headers, time: Math.floor(Number(m.info.timestampNanos) / 1_000_000) };
}

