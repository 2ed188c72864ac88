// The returner host: runs one returner module over its own durable consumer on the events
// stream. Every process started with the same name pulls from the same durable, so they share
// the work; a returner that is slow, broken or stopped holds up nobody else.
//
// Per message: verify it (a return against its minion's accepted key, job.new/job.done against
// the master key); route it (route.ts: mode, filters, what the module implements); call the
// module; acknowledge only after the call resolved. A failure is retried with a growing delay
// (nak with delay); after `max_deliver` attempts, or at once for an error with `permanent:
// true`, the message becomes a dead letter (deadletter.ts) and is then acknowledged. A message
// that does not verify is never delivered: it is dead-lettered as `refused`.

import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Subjects } from "../../contracts/subjects.js";
import type { ReturnerMode } from "../../contracts/returners.js";
import { returnerDurable } from "../../contracts/permissions.js";
import { consumeDurable, isJsNotFound, sleep, stopConsuming } from "../common/bus.js";
import { gatherBatches } from "../common/batches.js";
import type { Logger } from "../common/log.js";
import { toStreamMessage } from "./ordered.js";
import { publishDeadLetter } from "./deadletter.js";
import { durableConfig, ensureDurable, ensureReturnerStores } from "./registry.js";
import { StatusRecorder } from "./status.js";
import { capabilities, filters, isEmpty, needsJobFacts, route, type Capabilities, type Delivery, type Filters, type JobFacts } from "./route.js";
import { returnerContext, type EventRecord, type ReturnerModule, type StreamMessage } from "./sdk.js";
import { KeyBook } from "./trust.js";
import { check } from "./verify.js";
import { queryModule, serveJobQueries } from "./queries.js";

export interface HostOptions {
  nc: NatsConnection;
  s: Subjects;
  name: string;
  module: ReturnerModule;
  /** The module's own config keys, handed to setup(). */
  config: Record<string, unknown>;
  mode: ReturnerMode;
  filterFun?: string;
  filterMinion?: string;
  /** Where a new durable starts: now, start, or an ISO time. */
  from: string;
  maxDeliver: number;
  /** Answer `{ns}.cache.jobs|job` from the module's queries (serve_queries). */
  serveQueries?: boolean;
  ackWaitSec: number;
  retryBackoffMs: number;
  retryBackoffMaxMs: number;
  batchSize: number;
  batchWaitMs: number;
  log: Logger;
}

/** An error a returner marks as not worth retrying (services/returners/errors.ts PermanentDeliveryError, duck-typed). */
export function isPermanent(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { permanent?: unknown }).permanent === true;
}

/** Delay before attempt `attempt + 1`, after `attempt` failed ones: base, 2·base, 4·base … up to max. */
export function backoffMs(attempt: number, base: number, max: number): number {
  return Math.min(max, base * 2 ** Math.min(Math.max(attempt - 1, 0), 30));
}

function describe(err: unknown): string {
  const e = err as Error;
  return e?.message ? `${e.name && e.name !== "Error" ? `${e.name}: ` : ""}${e.message}` : String(err);
}

interface Item {
  m: JsMsg;
  raw: StreamMessage;
  d: Delivery;
  error?: unknown;
}

const FACTS_CACHE = 20_000;

/** How long a host waits before making its deleted durable again (see ensureDurable). */
const RECREATE_AFTER_MS = 2000;

export class ReturnerHost {
  private readonly js: JetStreamClient;
  private jsm?: JetStreamManager;
  private book?: KeyBook;
  private kv?: KV;
  private msgs?: ConsumerMessages;
  private running?: Promise<void>;
  private halted = false;
  private readonly abort = new AbortController();
  private readonly f: Filters;
  /** What the module implements, read after setup(): a module may drop methods its config turns off. */
  private caps: Capabilities;
  private readonly facts = new Map<string, JobFacts | null>();
  private status?: StatusRecorder;
  /** Counters for this process, for logs and tests. */
  readonly stats = { delivered: 0, failed: 0, deadFailed: 0, deadRefused: 0, skipped: 0 };

  constructor(private readonly o: HostOptions) {
    this.js = jetstream(o.nc);
    this.f = filters(o.name, o.mode, o.filterFun, o.filterMinion);
    this.caps = capabilities(o.module);
  }

  get durable(): string {
    return returnerDurable(this.o.name);
  }

  /** Set the module up, make sure the durable exists, and start consuming. */
  async start(): Promise<void> {
    const { o } = this;
    this.jsm = await jetstreamManager(o.nc);
    this.kv = await ensureReturnerStores(o.nc, this.jsm, o.s);
    this.book = await KeyBook.open(o.nc, o.s, o.log, this.abort.signal);
    await this.waitForMasterKey();
    await this.waitForStream();
    await this.ensureDurable();
    await o.module.setup?.(returnerContext({ name: o.name, ns: o.s.ns, config: o.config, log: o.log }, this.abort.signal));
    this.caps = capabilities(o.module);
    if (o.serveQueries) serveJobQueries(o.nc, o.s, o.name, queryModule(o.name, o.module), o.log);
    this.status = new StatusRecorder(this.kv, o.name, o.log);
    await this.status.start();
    this.running = this.loop();
  }

  /** Stop pulling, finish (and acknowledge) the batch in hand, then close the module. */
  async stop(): Promise<void> {
    this.halted = true;
    this.abort.abort();
    await stopConsuming(this.msgs);
    await this.running;
    this.book?.stop();
    try {
      await this.o.module.close?.();
    } catch (err) {
      this.o.log.error("the returner's close() failed", { error: describe(err) });
    }
  }

  /**
   * Nothing can be verified before the master key is known: consuming earlier would only burn
   * delivery attempts (and dead-letter good messages once max_deliver is reached).
   */
  private async waitForMasterKey(): Promise<void> {
    for (let attempt = 1; !(await this.book!.master().catch(() => undefined)); attempt++) {
      if (this.abort.signal.aborted) throw new Error("stopped while waiting for the master key");
      if (attempt === 1 || attempt % 60 === 0) this.o.log.info("waiting for the master key (start the master)", { bucket: this.o.s.keysBucket });
      await sleep(500, this.abort.signal);
    }
  }

  private async waitForStream(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.jsm!.streams.info(this.o.s.stream);
        return;
      } catch (err) {
        if (this.abort.signal.aborted) throw err;
        if (attempt === 1 || attempt % 60 === 0) this.o.log.info("waiting for the events stream (start the master)", { stream: this.o.s.stream });
        await sleep(500, this.abort.signal);
      }
    }
  }

  private async ensureDurable(again = false): Promise<void> {
    const o = this.o;
    if (again) {
      const exists = await this.jsm!.consumers.info(o.s.stream, this.durable).then(
        () => true,
        (err) => {
          if (isJsNotFound(err)) return false;
          throw err;
        },
      );
      // Gone under a running host. `returners reset` deletes the durable and adds it again at
      // its new start point: give it the time to, rather than race it back in at ours.
      if (!exists) await sleep(RECREATE_AFTER_MS, this.abort.signal);
      if (this.halted) return;
    }
    const { created, info } = await ensureDurable(this.jsm!, o.s, durableConfig(o.s, o.name, o.from, o.ackWaitSec, Math.max(o.batchSize * 4, 1000)));
    o.log.info(created ? "durable consumer created" : "durable consumer found", { consumer: this.durable, pending: info.num_pending, from: created ? o.from : undefined });
  }

  private async loop(): Promise<void> {
    let backoff = 250;
    let first = true;
    while (!this.halted) {
      try {
        // Deleted under a running host (`returners remove`, or by hand): made again at `from`.
        if (!first) await this.ensureDurable(true);
        first = false;
        const msgs = await consumeDurable(this.js, this.o.s.stream, this.durable, Math.max(this.o.batchSize * 2, 200), async (status, gone) => {
          this.o.log.warn("the returner's consumer went away; making it again", { status, consumer: this.durable, from: this.o.from });
          await gone.close();
        });
        this.msgs = msgs;
        if (this.halted) {
          await stopConsuming(msgs);
          break;
        }
        this.o.log.info("consuming", { stream: this.o.s.stream, consumer: this.durable, mode: this.o.mode });
        await this.gather(msgs);
        backoff = 250;
      } catch (err) {
        if (this.halted) break;
        this.o.log.warn("consuming failed; retrying", { error: describe(err), retry_ms: backoff });
        await sleep(backoff, this.abort.signal);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  /** Batches of up to batch_size messages, or what arrived within batch_wait_ms. */
  private gather(msgs: ConsumerMessages): Promise<void> {
    const o = this.o;
    return gatherBatches(msgs, { batchSize: o.batchSize, batchWaitMs: o.batchWaitMs, halted: () => this.halted, signal: this.abort.signal }, (b) => this.process(b));
  }

  /** Keep JetStream from handing the batch to another process while the module works on it. */
  private keepAlive(batch: JsMsg[]): () => void {
    const t = setInterval(() => {
      for (const m of batch) m.working();
    }, Math.max(500, (this.o.ackWaitSec * 1000) / 2));
    return () => clearInterval(t);
  }

  private async process(batch: JsMsg[]): Promise<void> {
    const done = this.keepAlive(batch);
    try {
      const items: Item[] = [];
      for (const m of batch) {
        const item = await this.prepare(m);
        if (item) items.push(item);
      }
      for (const it of items) {
        try {
          if (it.d.saveLoad) await this.o.module.saveLoad!(it.d.saveLoad);
          if (it.d.returner) await this.o.module.returner(it.d.returner);
          if (it.d.jobDone) await this.o.module.jobDone!(it.d.jobDone);
        } catch (err) {
          it.error = err ?? new Error("the returner threw a falsy value");
        }
      }
      const events = items.filter((it) => !it.error && it.d.event);
      if (events.length) {
        try {
          await this.o.module.eventReturn!(events.map((it) => it.d.event as EventRecord));
        } catch (err) {
          for (const it of events) it.error = err ?? new Error("eventReturn threw a falsy value");
        }
      }
      for (const it of items) {
        if (!it.error) {
          if (it.d.returner) this.stats.delivered++;
          it.m.ack();
        } else await this.failed(it);
      }
    } finally {
      done();
    }
  }

  /** Verify and route one message; undefined when it is settled already (acked, refused, or retried). */
  private async prepare(m: JsMsg): Promise<Item | undefined> {
    const raw = toStreamMessage(m);
    const attempts = m.info.deliveryCount;
    if (attempts > this.o.maxDeliver) {
      // Earlier attempts never came back (the process died on it, or outlived ack_wait): do not try again.
      await this.dead(m, raw, "failed", `delivered ${attempts - 1} times without being acknowledged (the returner crashed or hung on it)`, attempts - 1);
      return undefined;
    }
    let verdict;
    let facts: JobFacts | undefined;
    try {
      verdict = await check(this.o.s.ns, raw, this.book!);
      if (verdict.ok) {
        const b = verdict.event.body;
        if (b.type === "job.new") this.remember(b.jid, { fun: b.fun, ret: b.ret });
        const jid = needsJobFacts(verdict.event, this.f, this.caps);
        if (jid) facts = await this.jobFacts(jid);
      }
    } catch (err) {
      // Trust or the job lookup is unavailable (NATS trouble, no master yet): not the message's fault.
      this.o.log.warn("cannot check a message yet; retrying it", { seq: m.seq, subject: m.subject, error: describe(err) });
      m.nak(backoffMs(attempts, this.o.retryBackoffMs, this.o.retryBackoffMaxMs));
      return undefined;
    }
    if (!verdict.ok) {
      this.o.log.warn(`refused: ${verdict.reason}`, { audit: verdict.kind, seq: m.seq, subject: m.subject, returner: this.o.name });
      await this.dead(m, raw, "refused", `${verdict.kind}: ${verdict.reason}`, attempts);
      return undefined;
    }
    const o = verdict.event;
    const signer = await this.book!.signerOf(o.body, o.signer);
    const d = route(o, { seq: m.seq, time: raw.time, signer }, this.f, this.caps, facts);
    if (isEmpty(d)) {
      this.stats.skipped++;
      m.ack();
      return undefined;
    }
    return { m, raw, d };
  }

  private remember(jid: string, f: JobFacts | null): void {
    if (this.facts.size >= FACTS_CACHE) this.facts.delete(this.facts.keys().next().value as string);
    this.facts.set(jid, f);
  }

  /**
   * A job's job.new, for routing its returns: seen earlier by this process, or read from the
   * stream (another process of this returner may have had it, or it was acked before a restart).
   */
  private async jobFacts(jid: string): Promise<JobFacts | undefined> {
    const known = this.facts.get(jid);
    if (known !== undefined) return known ?? undefined;
    let sm;
    try {
      sm = await this.jsm!.streams.getMessage(this.o.s.stream, { last_by_subj: this.o.s.jobNew(jid) });
    } catch (err) {
      if (!/not found|no message/i.test(String((err as Error).message))) throw err;
      sm = null;
    }
    let facts: JobFacts | null = null;
    if (sm) {
      const v = await check(this.o.s.ns, { seq: sm.seq, subject: sm.subject, data: sm.data, headers: sm.header, time: sm.time.getTime() }, this.book!);
      if (v.ok && v.event.body.type === "job.new") facts = { fun: v.event.body.fun, ret: v.event.body.ret };
    }
    this.remember(jid, facts);
    return facts ?? undefined;
  }

  private async failed(it: Item): Promise<void> {
    const attempts = it.m.info.deliveryCount;
    const err = it.error;
    const msg = describe(err);
    this.stats.failed++;
    this.status?.error(msg, it.raw.headers?.get("Nats-Msg-Id"));
    if (isPermanent(err) || attempts >= this.o.maxDeliver) {
      this.o.log.warn("delivery failed; dead-lettering it", { seq: it.m.seq, subject: it.m.subject, attempts, permanent: isPermanent(err), error: msg });
      await this.dead(it.m, it.raw, "failed", msg, attempts);
      return;
    }
    const delay = backoffMs(attempts, this.o.retryBackoffMs, this.o.retryBackoffMaxMs);
    this.o.log.info("delivery failed; will retry", { seq: it.m.seq, subject: it.m.subject, attempt: attempts, retry_ms: delay, error: msg });
    it.m.nak(delay);
  }

  private async dead(m: JsMsg, raw: StreamMessage, why: "failed" | "refused", error: string, attempts: number): Promise<void> {
    try {
      await publishDeadLetter(this.js, this.o.s, { name: this.o.name, why, msg: raw, error, attempts, now: Date.now() });
    } catch (err) {
      // Not stored as a dead letter: keep the original and try again later.
      this.o.log.error("cannot store a dead letter; the message will come again", { seq: m.seq, error: describe(err) });
      m.nak(this.o.retryBackoffMaxMs || 1000);
      return;
    }
    if (why === "failed") this.stats.deadFailed++;
    else this.stats.deadRefused++;
    m.ack();
  }
}
