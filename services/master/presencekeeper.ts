// Presence on the master: heartbeats in (core NATS), verified against the accepted key; other
// verified messages (starts, returns) count as sightings too; the book (presence.ts) turns
// them and the clock into up/down verdicts, published as signed presence events in the stream.
//
// At start the master reads the last presence event of every minion from the stream, so a
// restart neither repeats "up" for everyone nor forgets who was down; then it waits one
// presence_timeout (the grace period) before it declares anyone down.

import type { Msg, NatsConnection, Subscription } from "@nats-io/transport-node";
import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { openAs, seal, verifyAs } from "../../contracts/message.js";
import { eventIds } from "../../contracts/ids.js";
import { parseSubject, type Subjects } from "../../contracts/subjects.js";
import type { SigningKey } from "../../contracts/sign.js";
import type { MinionPresence, PresenceVia } from "../../contracts/events/minion.js";
import { NatriumError } from "../../contracts/errors.js";
import { publishDurable } from "../common/bus.js";
import { RateLimit } from "../common/ratelimit.js";
import type { Auditor } from "../common/audit.js";
import type { Logger } from "../common/log.js";
import type { MinionRegistry } from "./registry.js";
import { PresenceBook, type PresenceEntry, type Verdict } from "./presence.js";
import { readAll } from "./recovery.js";

export interface PresenceOptions {
  masterId: string;
  /** Seconds without a sighting after which an up minion is down (presence_timeout). */
  timeoutSec: number;
  /** For tests: the clock. */
  now?: () => number;
}

export class PresenceKeeper {
  readonly book: PresenceBook;
  private sub?: Subscription;
  private timer?: NodeJS.Timeout;
  private readonly now: () => number;
  // A forged-heartbeat flood must not fill the audit trail: a few a second at most, and the
  // next audit that passes says how many were dropped before it.
  private readonly auditBudget = new RateLimit(1, 10);
  /** Heartbeats that arrived while the stream was read: handled after, so restore() sees them as newer. */
  private early: Msg[] | undefined = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly s: Subjects,
    private readonly key: SigningKey,
    private readonly registry: MinionRegistry,
    private readonly audit: Auditor,
    private readonly log: Logger,
    private readonly o: PresenceOptions,
  ) {
    this.now = o.now ?? Date.now;
    this.book = new PresenceBook(o.timeoutSec * 1000, this.now());
  }

  async start(): Promise<void> {
    // Subscribe first, so no heartbeat is missed while the stream is read; they wait in `early`.
    this.sub = this.nc.subscribe(this.s.allHeartbeat, { callback: (_e, m) => this.onHeartbeat(m) });
    const restored = await this.restore();
    const early = this.early ?? [];
    this.early = undefined;
    for (const m of early) this.onHeartbeat(m);
    const timeoutMs = this.o.timeoutSec * 1000;
    // Often enough that "down" is late by a small part of the timeout, never busy.
    const every = Math.min(5000, Math.max(200, Math.floor(timeoutMs / 5)));
    this.timer = setInterval(() => this.sweep(), every);
    this.timer.unref();
    this.log.info("presence: following heartbeats", { presence_timeout: this.o.timeoutSec, restored, grace_until: new Date(this.book.startedAt + timeoutMs).toISOString() });
  }

  stop(): void {
    this.sub?.unsubscribe();
    clearInterval(this.timer);
  }

  /** The current verdict on `id` (undefined: none yet). */
  entry(id: string): Readonly<PresenceEntry> | undefined {
    return this.book.get(id);
  }

  inGrace(): boolean {
    return this.book.inGrace(this.now());
  }

  /** A verified message from an accepted minion (a return, a start): it is up. */
  seen(id: string, eid: string, via: PresenceVia, at = this.now()): void {
    // A message older than the timeout (a lifecycle event redelivered late) proves nothing now.
    if (this.now() - at > this.o.timeoutSec * 1000) return;
    const v = this.book.seen(id, { at, eid, via });
    if (v) this.publish(v);
  }

  private onHeartbeat(m: Msg): void {
    if (this.early) {
      if (this.early.length < 100_000) this.early.push(m);
      return;
    }
    const p = parseSubject(this.s.ns, m.subject);
    if (!p || p.kind !== "minion.heartbeat") return;
    let eid: string;
    try {
      const k = this.registry.accepted(p.minion);
      if (!k) throw new NatriumError("unknown_signer", `heartbeat on ${m.subject}: minion "${p.minion}" has no accepted key`);
      const o = openAs("minion.heartbeat", m.subject, m.data, m.headers);
      if (o.body.id !== p.minion) throw new NatriumError("invalid", `heartbeat on ${m.subject} names minion "${o.body.id}"`);
      verifyAs(o, k.pub, `minion ${p.minion}`);
      eid = o.body.eid;
      this.checkInterval(p.minion, o.body.interval);
    } catch (err) {
      this.refuse(m, p.minion, err as NatriumError);
      return;
    }
    this.seen(p.minion, eid, "heartbeat");
  }

  /** Minions already warned about a heartbeat interval too long for presence_timeout. */
  private warned = new Set<string>();

  private checkInterval(minion: string, interval: number): void {
    if (interval * 2 <= this.o.timeoutSec || this.warned.has(minion) || this.warned.size >= 10_000) return;
    this.warned.add(minion);
    this.log.warn("a minion's heartbeat_interval is too long for this master's presence_timeout: it will show down between heartbeats", {
      minion,
      heartbeat_interval: interval,
      presence_timeout: this.o.timeoutSec,
      fix: "set presence_timeout to at least 3 × heartbeat_interval, or shorten the minion's heartbeat_interval",
    });
  }

  private refuse(m: Msg, minion: string, e: NatriumError): void {
    if (!this.auditBudget.take()) return;
    const suppressed = this.auditBudget.takeDropped();
    const kind = e.code === "bad_signature" || e.code === "unknown_signer" ? e.code : "bad_heartbeat";
    this.audit.record({
      kind,
      reason: `heartbeat refused: ${e.message}`,
      subject: m.subject,
      actor: minion,
      detail: { signer: m.headers?.get("Natrium-Signer")?.slice(0, 64) ?? null, ...(suppressed ? { suppressed } : {}) },
    });
  }

  private sweep(): void {
    const tracked = [...this.registry.keys.values()].filter((k) => k.state === "accepted").map((k) => ({ id: k.id, acceptedAt: k.ts }));
    for (const v of this.book.sweep(this.now(), tracked)) this.publish(v);
  }

  private publish(v: Verdict): void {
    const ev: MinionPresence = {
      v: 1,
      type: "minion.presence",
      eid: eventIds.presence(v.id, v.state, v.cause),
      ts: this.now(),
      id: v.id,
      state: v.state,
      reason: v.reason,
      ...(v.via ? { via: v.via } : {}),
      ...(v.lastSeen !== undefined ? { last_seen: v.lastSeen } : {}),
      timeout: this.o.timeoutSec,
      master: this.o.masterId,
    };
    this.log.info(`minion ${v.state}`, { minion: v.id, reason: v.reason, via: v.via, last_seen: v.lastSeen });
    publishDurable(this.js, seal(this.s.minionPresence(v.id), ev, this.key), { log: this.log, timeoutMs: 5000 }).catch((err) =>
      this.log.error("presence event could not be published", { minion: v.id, error: err as Error }),
    );
  }

  /** The last presence event of each minion, signed by this master's key: the state to continue from. */
  private async restore(): Promise<number> {
    let n = 0;
    // An empty filter would make readAll wait for its idle timeout: ask first whether there is anything.
    const si = await this.jsm.streams.info(this.s.stream, { subjects_filter: this.s.allPresence });
    if (!Object.keys(si.state.subjects ?? {}).length) return 0;
    await readAll(this.js, this.s.stream, { filter_subjects: this.s.allPresence, deliver_policy: DeliverPolicy.LastPerSubject }, (m) => {
      try {
        const o = openAs("minion.presence", m.subject, m.data, m.headers);
        verifyAs(o, this.key.pub, "the master");
        const b = o.body;
        this.book.restore(b.id, b.state, b.last_seen, b.eid, b.ts);
        n++;
      } catch (err) {
        // The job cache audits invalid events; here one only costs its minion a fresh verdict.
        this.log.warn("presence event ignored at start", { subject: m.subject, error: String((err as Error).message) });
      }
    });
    return n;
  }
}
