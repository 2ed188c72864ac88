// What the minion identities of one process share on one connection: the subscription to job
// commands, the watch on the keys bucket, the JetStream publisher and the audit budget.
//
// A standalone minion has one identity on its host; a swarm has thousands. Either way each
// identity runs the same code (minion.ts); the host only does once what would otherwise be
// done per identity for the same bytes: decoding a command, checking its signature, logging
// a refusal. That is what makes 10,000 identities in one process practical: one subscription,
// one or two KV watches, one timer, no per-identity polling.

import type { NatsConnection, Msg, Subscription } from "@nats-io/transport-node";
import { jetstream, type JetStreamClient, type PubAck } from "@nats-io/jetstream";
import { Kvm, type KV, type KvWatchEntry } from "@nats-io/kv";
import { subjects, type Subjects } from "../../contracts/subjects.js";
import { openAs, verifyAs, seal, type Opened, type Sealed } from "../../contracts/message.js";
import { decode } from "../../contracts/codec.js";
import { eventIds } from "../../contracts/ids.js";
import { registryKeys, masterKeyRecord, minionKeyRecord, type MasterKeyRecord, type MinionKeyRecord } from "../../contracts/registry.js";
import type { JobPublished, MinionHeartbeat } from "../../contracts/events/index.js";
import { publishDurable, sleep, toHeaders } from "../common/bus.js";
import { auditEvent } from "../common/audit.js";
import type { Logger } from "../common/log.js";
import { RateLimit, Semaphore } from "./guards.js";
import type { SigningKey } from "../../contracts/sign.js";

/** One job.new message as the host received it, with the work shared across identities memoised. */
export class Command {
  opened?: Opened<JobPublished>;
  error?: Error;
  private verified = new Map<string, Error | null>();
  /** Refusals already reported (logged and audited) for this message by this host. */
  readonly reported = new Set<string>();

  constructor(readonly subject: string, readonly payload: Uint8Array, headers: Msg["headers"]) {
    try {
      this.opened = openAs("job.new", subject, payload, headers);
    } catch (err) {
      this.error = err as Error;
    }
  }

  /** null if signed by `pub`, else the SignatureError; checked once per key per message. */
  verify(pub: string): Error | null {
    let r = this.verified.get(pub);
    if (r === undefined) {
      try {
        verifyAs(this.opened!, pub, "the master");
        r = null;
      } catch (err) {
        r = err as Error;
      }
      this.verified.set(pub, r);
    }
    return r;
  }
}

/** What the host needs of an identity. */
export interface HostedMinion {
  readonly id: string;
  readonly token: string;
  readonly sign: SigningKey;
  readonly accepted: boolean;
  readonly keyState: string;
  readonly finger: string;
  onCommand(cmd: Command): void;
  onKeyRecord(rec: MinionKeyRecord | null): void;
  onMasterRecord(rec: MasterKeyRecord | null): void;
}

export interface HostOptions {
  /**
   * Watch every minion key with one consumer instead of one consumer per identity. Right for a
   * swarm; wrong for a lone minion in a large installation, which would then receive every
   * other minion's key changes.
   */
  sharedKeyWatch?: boolean;
  /** Durable publishes in flight at once on this connection. */
  maxInFlight?: number;
  /** Seconds between heartbeats of every accepted identity (heartbeat_interval); 0: none. Default 30. */
  heartbeatIntervalSec?: number;
}

const hosts = new WeakMap<NatsConnection, Map<string, MinionHost>>();

export class MinionHost {
  readonly s: Subjects;
  readonly js: JetStreamClient;
  private minions = new Map<string, HostedMinion>();
  private sub?: Subscription;
  private master: MasterKeyRecord | null = null;
  private closed = new AbortController();
  private watchStops = new Map<string, () => void>();
  private bucketFound = false;
  private waitTimer?: NodeJS.Timeout;
  private heartbeatTimer?: NodeJS.Timeout;
  private readonly heartbeatSec: number;
  private slots: Semaphore;
  private auditBudget = new RateLimit(5, 20);
  private logBudget = new RateLimit(10, 30);
  private readonly sharedKeyWatch: boolean;

  /** The host of `nc` for namespace `ns`, made on first use: identities on one connection share it. */
  static for(nc: NatsConnection, ns: string, log: Logger, opts: HostOptions = {}): MinionHost {
    let byNs = hosts.get(nc);
    if (!byNs) hosts.set(nc, (byNs = new Map()));
    let h = byNs.get(ns);
    if (!h || h.closed.signal.aborted) byNs.set(ns, (h = new MinionHost(nc, ns, log, opts)));
    return h;
  }

  private constructor(readonly nc: NatsConnection, ns: string, readonly log: Logger, opts: HostOptions) {
    this.s = subjects(ns);
    this.js = jetstream(nc);
    this.sharedKeyWatch = opts.sharedKeyWatch ?? false;
    this.slots = new Semaphore(opts.maxInFlight ?? 512);
    this.heartbeatSec = opts.heartbeatIntervalSec ?? 30;
  }

  get size(): number {
    return this.minions.size;
  }

  get signal(): AbortSignal {
    return this.closed.signal;
  }

  /** Start routing commands and key changes to `m`. The first identity starts the host's watches. */
  add(m: HostedMinion): void {
    if (this.closed.signal.aborted) throw new Error("minion host is closed");
    if (this.minions.has(m.token)) throw new Error(`minion id "${m.id}" is already running in this process`);
    const first = this.minions.size === 0;
    this.minions.set(m.token, m);
    if (first) this.open();
    else if (this.master) m.onMasterRecord(this.master);
    if (!this.sharedKeyWatch) {
      this.watchKeys(registryKeys.minionKey(m.id), `id:${m.token}`);
    } else if (this.sharedCache.has(m.token)) {
      m.onKeyRecord(this.sharedCache.get(m.token)!);
    }
  }

  /** Stop routing to `m`. The last one out closes the host (the connection stays the caller's). */
  remove(m: HostedMinion): void {
    if (this.minions.get(m.token) !== m) return;
    this.minions.delete(m.token);
    this.watchStops.get(`id:${m.token}`)?.();
    this.watchStops.delete(`id:${m.token}`);
    if (this.minions.size === 0) this.close();
  }

  private open(): void {
    // A core subscription, not a consumer: a command is for whoever is listening now, as in
    // Salt; the master's job tracking covers minions that were away.
    this.sub = this.nc.subscribe(this.s.allJobNew, {
      callback: (err, msg) => {
        if (err) {
          this.log.error("job subscription failed", { error: err });
          return;
        }
        this.dispatch(msg);
      },
    });
    this.watchKeys(registryKeys.master, "#master");
    if (this.sharedKeyWatch) this.watchKeys(registryKeys.minionKey("x").replace(/x$/, "*"), "#shared");
    this.scheduleWaitLog(5_000);
    if (this.heartbeatSec > 0) {
      // One timer for every identity of the process, not one each: a swarm of 10,000 wakes
      // once per interval.
      this.heartbeatTimer = setInterval(() => this.heartbeat(), this.heartbeatSec * 1000);
      this.heartbeatTimer.unref();
    }
  }

  /**
   * A signed heartbeat from every accepted identity, on core NATS: lost ones are simply late,
   * and the events stream never sees them (contracts/subjects.ts heartbeat).
   */
  heartbeat(): void {
    if (this.closed.signal.aborted || this.nc.isClosed()) return;
    const now = Date.now();
    for (const m of this.minions.values()) {
      if (!m.accepted) continue;
      const ev: MinionHeartbeat = { v: 1, type: "minion.heartbeat", eid: eventIds.unique("hb"), ts: now, id: m.id, interval: this.heartbeatSec };
      const sealed = seal(this.s.heartbeat(m.id), ev, m.sign);
      try {
        this.nc.publish(sealed.subject, sealed.payload, { headers: toHeaders(sealed.headers) });
      } catch (err) {
        this.log.debug("heartbeat not sent", { id: m.id, error: String((err as Error).message) });
      }
    }
  }

  close(): void {
    if (this.closed.signal.aborted) return;
    this.closed.abort();
    this.sub?.unsubscribe();
    for (const stop of this.watchStops.values()) stop();
    this.watchStops.clear();
    clearTimeout(this.waitTimer);
    clearInterval(this.heartbeatTimer);
    for (const m of this.minions.values()) this.minions.delete(m.token);
  }

  private dispatch(msg: Msg): void {
    const cmd = new Command(msg.subject, msg.data, msg.headers);
    for (const m of this.minions.values()) {
      try {
        m.onCommand(cmd);
      } catch (err) {
        this.log.error("command handling failed", { id: m.id, subject: msg.subject, error: err as Error });
      }
    }
  }

  // ---- keys bucket -------------------------------------------------------------------------

  private sharedCache = new Map<string, MinionKeyRecord | null>();

  /** Watch `key` (may end in '*') until the host closes or `tag`'s watch is stopped; retries until the bucket exists. */
  private watchKeys(key: string, tag: string): void {
    const stop = new AbortController();
    this.watchStops.set(tag, () => stop.abort());
    const signal = AbortSignal.any([stop.signal, this.closed.signal]);
    (async () => {
      let wait = 100;
      while (!signal.aborted) {
        try {
          const kv: KV = await new Kvm(this.nc).open(this.s.keysBucket);
          await kv.status(); // open() does not check that the bucket exists; this does
          this.bucketFound = true;
          const iter = await kv.watch({ key });
          const onAbort = () => iter.stop();
          signal.addEventListener("abort", onAbort, { once: true });
          wait = 100;
          for await (const e of iter) this.onEntry(e);
          signal.removeEventListener("abort", onAbort);
        } catch (err) {
          if (signal.aborted) break;
          this.log.debug("keys bucket not readable yet; retrying", { bucket: this.s.keysBucket, error: String((err as Error).message) });
        }
        await sleep(wait, signal);
        wait = Math.min(wait * 2, 5_000);
      }
    })().catch((err) => this.log.error("key watch failed", { error: err as Error }));
  }

  private onEntry(e: KvWatchEntry): void {
    const deleted = e.operation !== "PUT" || e.value.length === 0;
    if (e.key === registryKeys.master) {
      let rec: MasterKeyRecord | null = null;
      if (!deleted) {
        try {
          rec = masterKeyRecord.parse(decode(e.value, e.key));
        } catch (err) {
          this.log.warn("unreadable master key record ignored", { error: err as Error });
          return;
        }
      }
      this.master = rec;
      for (const m of this.minions.values()) m.onMasterRecord(rec);
      return;
    }
    const token = e.key.slice(e.key.indexOf(".") + 1);
    let rec: MinionKeyRecord | null = null;
    if (!deleted) {
      try {
        rec = minionKeyRecord.parse(decode(e.value, e.key));
      } catch (err) {
        this.log.warn("unreadable minion key record ignored", { key: e.key, error: err as Error });
        return;
      }
    }
    // Kept for identities that join later (a swarm adds thousands while the watch runs).
    if (this.sharedKeyWatch) this.sharedCache.set(token, rec);
    this.minions.get(token)?.onKeyRecord(rec);
  }

  /** One line every so often about identities still waiting, never one per identity. */
  private scheduleWaitLog(ms: number): void {
    this.waitTimer = setTimeout(() => {
      if (this.closed.signal.aborted) return;
      const waiting = [...this.minions.values()].filter((m) => !m.accepted);
      if (!this.bucketFound) {
        this.log.info("waiting for the master: the keys bucket does not exist yet", { bucket: this.s.keysBucket });
      } else if (waiting.length === 1 && this.minions.size === 1) {
        const m = waiting[0];
        this.log.info("waiting for the master to accept this minion's key", { id: m.id, finger: m.finger, key_state: m.keyState });
      } else if (waiting.length > 0) {
        this.log.info("minion keys waiting for the master to accept them", {
          waiting: waiting.length,
          of: this.minions.size,
          ids: waiting.slice(0, 5).map((m) => m.id),
        });
      }
      if (!this.master && this.bucketFound) this.log.info("waiting for the master to publish its key", { bucket: this.s.keysBucket });
      this.scheduleWaitLog(30_000);
    }, ms);
    this.waitTimer.unref();
  }

  // ---- publishing --------------------------------------------------------------------------

  /** Publish until JetStream acknowledges (or `signal` aborts), a bounded number at a time. */
  publish(ev: Sealed, signal?: AbortSignal): Promise<PubAck> {
    return this.slots.run(() => publishDurable(this.js, ev, { signal, log: this.log }));
  }

  /**
   * Log a refusal and write it to the audit trail, signed by `by`. Once per message per host
   * (a swarm refuses one forged command once, not 10,000 times) and within a rate budget, so
   * a flood of garbage does not become a flood of audits.
   */
  refuse(
    by: HostedMinion,
    cmd: Command | undefined,
    kind: string,
    reason: string,
    detail: Record<string, unknown> = {},
    signal?: AbortSignal,
  ): void {
    if (cmd) {
      if (cmd.reported.has(kind)) return;
      cmd.reported.add(kind);
    }
    if (this.logBudget.take()) {
      const dropped = this.logBudget.takeDropped();
      this.log.warn(`command refused: ${reason}`, { kind, id: by.id, subject: cmd?.subject, ...detail, ...(dropped ? { suppressed: dropped } : {}) });
    }
    if (!this.auditBudget.take()) return;
    const suppressed = this.auditBudget.takeDropped();
    const ev = auditEvent({ kind, reason, subject: cmd?.subject, actor: by.id, detail: { ...detail, ...(suppressed ? { suppressed } : {}) } });
    this.publish(seal(this.s.audit(kind), ev, by.sign), signal ?? AbortSignal.timeout(60_000)).catch((err) => {
      this.log.warn("audit event not delivered", { kind, error: String((err as Error).message) });
    });
  }

  /** Log once per message per host (debug-level chatter that every identity would repeat). */
  noteOnce(cmd: Command, key: string, msg: string, fields: Record<string, unknown>): void {
    if (cmd.reported.has(key)) return;
    cmd.reported.add(key);
    this.log.debug(msg, fields);
  }
}
