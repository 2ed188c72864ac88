// The ordered returner host: exactly-once delivery of the whole events stream, in order, to a
// module that keeps its own cursor (sdk.ts OrderedReturnerModule). The job cache runs on it
// (services/jobcache/main.ts), and so does any ordered module `natrium returner start` loads.
//
// Ordering matters: a plain durable consumer delivers an unacknowledged message again only
// after ack_wait, *behind* newer ones, e.g. after a crash. So the module's cursor, committed
// with its rows, is the authority: at every (re)start the durable is reused only if it stands
// exactly at the cursor, otherwise it is recreated to start at cursor + 1. Within a session
// delivery is in stream order; a message delivered again beyond the cursor means order broke,
// and the session restarts the same way. One ack per batch (ack policy `all`), after apply().

import type { NatsConnection } from "@nats-io/transport-node";
import type { KV } from "@nats-io/kv";
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
import type { Subjects } from "../../contracts/subjects.js";
import { NatriumError } from "../../contracts/errors.js";
import { consumeDurable, deleteConsumer, isJsNotFound, sleep, stopConsuming } from "../common/bus.js";
import { gatherBatches } from "../common/batches.js";
import type { Logger } from "../common/log.js";
import { describe } from "../common/describe.js";
import { returnerContext, type OrderedReturnerModule, type StreamMessage } from "./sdk.js";
import { KeyBook } from "./trust.js";
import { StatusRecorder } from "./status.js";
import { checkRecord } from "./verify.js";

export interface OrderedHostOptions {
  nc: NatsConnection;
  s: Subjects;
  /** The returner's name, for setup() and logs. */
  name: string;
  /** The durable consumer's name. */
  durable: string;
  module: OrderedReturnerModule;
  /** The module's own config keys, handed to setup(). */
  config?: Record<string, unknown>;
  /** What logs and errors call it: "the job cache", `returner "x"`. */
  label: string;
  log: Logger;
  batchSize: number;
  batchWaitMs: number;
  ackWaitSec: number;
  /**
   * The returners bucket, for a returner run by `natrium returner start`: its status record
   * (started, host, last error) is what `natrium returners list` shows. The job cache has none.
   */
  statusKv?: KV;
}

/** A batch also ends at this many payload bytes: events may be up to 8 MiB each. */
const MAX_BATCH_BYTES = 32 * 1024 * 1024;

/** Order broke within a session: restart it from the module's cursor. */
class ResyncNeeded extends Error {}

export interface CaughtUp {
  lastSeq: number;
  streamLastSeq: number;
}

export function toStreamMessage(m: JsMsg): StreamMessage {
  return { seq: m.seq, subject: m.subject, data: m.data, headers: m.headers, time: Math.floor(Number(m.info.timestampNanos) / 1_000_000) };
}

export class OrderedHost {
  private readonly js: JetStreamClient;
  private jsm?: JetStreamManager;
  private cursor = 0;
  private msgs?: ConsumerMessages;
  private running?: Promise<void>;
  private halted = true;
  private stopped = false;
  private forceRecreate = false;
  private wake = new AbortController();
  private readonly closing = new AbortController();
  private rebuilding?: Promise<CaughtUp>;
  /** Opened at the module's first ctx.verify(): the job cache takes its trust from the stream instead. */
  private book?: Promise<KeyBook>;
  private readonly status?: StatusRecorder;
  /** start() has just read position(): the first session need not read it again. */
  private positionRead = false;

  constructor(private readonly o: OrderedHostOptions) {
    this.js = jetstream(o.nc);
    if (o.statusKv) this.status = new StatusRecorder(o.statusKv, o.name, o.log);
  }

  /** Stream sequence of the last message the module committed. */
  get lastSeq(): number {
    return this.cursor;
  }

  get durable(): string {
    return this.o.durable;
  }

  private keyBook(): Promise<KeyBook> {
    if (!this.book) {
      const opening = KeyBook.open(this.o.nc, this.o.s, this.o.log, this.closing.signal);
      // A failed open (stopping) is tried again at the next call.
      opening.catch(() => {
        if (this.book === opening) this.book = undefined;
      });
      this.book = opening;
    }
    return this.book;
  }

  private async manager(): Promise<JetStreamManager> {
    return (this.jsm ??= await jetstreamManager(this.o.nc));
  }

  /** Set the module up and read its position (either may refuse to start), then consume until stop(). */
  async start(): Promise<void> {
    const o = this.o;
    const ctx = returnerContext({ name: o.name, ns: o.s.ns, config: o.config ?? {}, log: o.log }, this.closing.signal, async (m) =>
      checkRecord(o.s.ns, m, await this.keyBook()),
    );
    await o.module.setup?.(ctx);
    this.cursor = await o.module.position();
    this.positionRead = true;
    await this.status?.start();
    this.resume();
  }

  private resume(): void {
    this.halted = false;
    this.wake = new AbortController();
    this.running = this.loop();
  }

  /** Stop consuming; the batch being applied is finished and acknowledged first. */
  private async halt(): Promise<void> {
    this.halted = true;
    this.wake.abort();
    await stopConsuming(this.msgs);
    await this.running;
  }

  /** Stop consuming, then close the module. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.closing.abort();
    await this.rebuilding?.catch(() => {});
    await this.halt();
    (await this.book?.catch(() => undefined))?.stop();
    try {
      await this.o.module.close?.();
    } catch (err) {
      this.o.log.error("the returner's close() failed", { error: describe(err) });
    }
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
          this.o.log.info(`restarting the consumer of ${this.o.label} at its cursor`, { reason: err.message, last_seq: this.cursor });
          this.forceRecreate = true;
          continue;
        }
        // An outage fails every attempt: say so at the first and every tenth.
        if (failures++ % 10 === 0) this.o.log.warn("consuming failed; retrying", { error: describe(err), attempt: failures, retry_ms: backoff });
        this.status?.error(describe(err));
        await sleep(backoff, this.wake.signal);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  private async session(): Promise<void> {
    const { s } = this.o;
    // A failed apply() may have committed nothing, or (a lost connection at commit) everything:
    // only the module can say which. (The job cache's position() loads every minion key.)
    if (!this.positionRead) this.cursor = await this.o.module.position();
    this.positionRead = false;
    await this.position();
    if (this.halted) return;
    const msgs = await consumeDurable(this.js, s.stream, this.o.durable, Math.min(this.o.batchSize * 2, 4000), async (status, gone) => {
      this.o.log.warn(`the consumer of ${this.o.label} went away; recreating it`, { status, consumer: this.o.durable });
      this.forceRecreate = true;
      await gone.close();
    });
    this.msgs = msgs;
    if (this.halted) {
      await stopConsuming(msgs);
      return;
    }
    this.o.log.info("consuming events", { stream: s.stream, consumer: this.o.durable, from_seq: this.cursor + 1 });
    try {
      await this.pump(msgs);
    } finally {
      // A session that ends on an error must not leave its reader pulling beside the next one's.
      await stopConsuming(msgs);
    }
  }

  private consumerConfig(): Partial<ConsumerConfig> {
    const o = this.o;
    return {
      durable_name: o.durable,
      // One ack per batch: acknowledging its last message acknowledges every one before it,
      // which in-order delivery makes exactly the batch (ResyncNeeded guards the order).
      ack_policy: AckPolicy.All,
      ...(this.cursor > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.cursor + 1 } : { deliver_policy: DeliverPolicy.All }),
      filter_subject: o.s.all,
      replay_policy: ReplayPolicy.Instant,
      ack_wait: o.ackWaitSec * 1_000_000_000,
      max_ack_pending: o.batchSize * 4,
      max_deliver: -1,
      description: `Natrium ${o.label}: every event, in order, exactly once (ordered returner)`,
    };
  }

  /** Make the durable consumer's next delivery be the message after the module's cursor. */
  private async position(): Promise<void> {
    const o = this.o;
    const jsm = await this.manager();
    await this.waitForStream(jsm);
    let info: ConsumerInfo | undefined;
    try {
      info = await jsm.consumers.info(o.s.stream, o.durable);
    } catch (err) {
      if (!isJsNotFound(err)) throw err;
    }
    const atCursor =
      info &&
      !this.forceRecreate &&
      info.num_ack_pending === 0 &&
      info.ack_floor.stream_seq === this.cursor &&
      info.delivered.stream_seq === this.cursor &&
      info.config.filter_subject === o.s.all &&
      info.config.ack_policy === AckPolicy.All;
    if (atCursor) return;
    if (info) {
      o.log.info(`recreating the consumer of ${o.label} at its cursor`, {
        last_seq: this.cursor,
        consumer_ack_floor: info.ack_floor.stream_seq,
        unacked: info.num_ack_pending,
      });
      await deleteConsumer(jsm, o.s.stream, o.durable);
    }
    await jsm.consumers.add(o.s.stream, this.consumerConfig());
    this.forceRecreate = false;
  }

  private async waitForStream(jsm: JetStreamManager): Promise<void> {
    const s = this.o.s;
    for (let attempt = 1; !this.halted; attempt++) {
      try {
        const si = await jsm.streams.info(s.stream);
        if (si.state.last_seq < this.cursor) {
          this.o.log.warn(`the stream is behind the cursor of ${this.o.label} (was it recreated?); rebuild it`, {
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
   * Read messages into batches. Batch N+1 is read and prepared (the module's prepare(): the job
   * cache checks signatures in worker threads) while batch N is applied: commits stay strictly
   * in order, one at a time.
   */
  private async pump(msgs: ConsumerMessages): Promise<void> {
    let applying: Promise<void> = Promise.resolve();
    const o = this.o;
    try {
      await gatherBatches(msgs, { batchSize: o.batchSize, batchWaitMs: o.batchWaitMs, maxBytes: MAX_BATCH_BYTES, halted: () => this.halted }, async (batch) => {
        // Batches come in stream order, so what is past the cursor now still is at commit time.
        const fresh = batch.filter((m) => m.seq > this.cursor);
        const raws = fresh.map(toStreamMessage);
        const prepared = raws.length && o.module.prepare ? Promise.resolve(o.module.prepare(raws)) : Promise.resolve(undefined);
        // A failed prepare surfaces in commit(); until then it must not be an unhandled rejection.
        prepared.catch(() => {});
        await applying;
        applying = this.commit(batch, fresh, raws, prepared);
        // A failed commit must surface at the next batch, not as an unhandled rejection.
        applying.catch(() => {});
      });
    } finally {
      await applying;
    }
  }

  private async commit(batch: JsMsg[], fresh: JsMsg[], raws: StreamMessage[], prepared: Promise<unknown>): Promise<void> {
    const late = fresh.find((m) => m.redelivered);
    if (late) throw new ResyncNeeded(`event ${late.seq} was delivered again after later ones`);
    const t0 = performance.now();
    if (raws.length) {
      await this.o.module.apply(raws, await prepared);
      this.cursor = Math.max(this.cursor, raws[raws.length - 1].seq);
    }
    this.o.log.trace("batch committed", { messages: batch.length, projected: fresh.length, last_seq: this.cursor, ms: Math.round(performance.now() - t0) });
    // After the commit: a crash before this line means redelivery, which the cursor absorbs.
    batch[batch.length - 1].ack();
  }

  /**
   * Rewind the module to just before `fromSeq` (default: the start, everything) and replay the
   * stream from there. Resolves when the module has caught up with the stream's last message at
   * the time of the call; consumption then simply continues. Concurrent calls share one replay.
   */
  rebuild(fromSeq?: number): Promise<CaughtUp> {
    this.rebuilding ??= this.doRebuild(fromSeq).finally(() => (this.rebuilding = undefined));
    return this.rebuilding;
  }

  private async doRebuild(fromSeq?: number): Promise<CaughtUp> {
    const o = this.o;
    const rewind = o.module.rewind;
    if (!rewind) throw new NatriumError("bad_request", `${o.label} cannot be rebuilt: its module has no rewind()`);
    const jsm = await this.manager();
    const before = (await jsm.streams.info(o.s.stream)).state;
    const partial = fromSeq !== undefined && fromSeq > 1;
    if (partial) {
      // Rows made by events the stream has dropped (max age) could not come back.
      if (fromSeq < before.first_seq) {
        throw new NatriumError(
          "bad_request",
          `the stream ${o.s.stream} holds sequences ${before.first_seq}..${before.last_seq}: rebuilding from ${fromSeq} would drop rows it cannot replay; use --from ${before.first_seq} or later`,
        );
      }
      if (fromSeq > before.last_seq + 1) {
        throw new NatriumError("bad_request", `the stream ${o.s.stream} ends at sequence ${before.last_seq}: nothing to rebuild from ${fromSeq}`);
      }
    }
    o.log.info("rebuild: stopping consumption", { from_seq: fromSeq ?? 1 });
    await this.halt();
    try {
      await rewind.call(o.module, partial ? fromSeq : 1);
      if (partial) {
        this.forceRecreate = true;
        o.log.info("rebuild: wound back; replaying the stream", { from_seq: fromSeq });
      } else {
        await deleteConsumer(jsm, o.s.stream, o.durable);
        o.log.info("rebuild: emptied; replaying the stream");
      }
      this.cursor = 0;
    } finally {
      if (!this.stopped) this.resume();
    }
    const target = (await jsm.streams.info(o.s.stream)).state.last_seq;
    await this.waitCaughtUp(target);
    o.log.info("rebuild: caught up", { last_seq: this.cursor, stream_last_seq: target });
    return { lastSeq: this.cursor, streamLastSeq: target };
  }

  /** Until the cursor reaches `target`, or the consumer has nothing left (gaps at the end). */
  async waitCaughtUp(target: number): Promise<void> {
    const o = this.o;
    const jsm = await this.manager();
    for (let i = 0; !this.stopped; i++) {
      if (this.cursor >= target) return;
      if (i % 5 === 4) {
        const info = await jsm.consumers.info(o.s.stream, o.durable).catch(() => undefined);
        if (info && info.num_pending === 0 && info.num_ack_pending === 0 && info.ack_floor.stream_seq === this.cursor) return;
      }
      await sleep(50);
    }
    throw new NatriumError("stopping", `${o.label} is stopping`);
  }
}
