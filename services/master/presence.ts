// The master's presence book, pure: sightings and the clock in, up/down verdicts out. No I/O;
// time arrives as arguments, so the rules below are tested without waiting (test/unit/presence).
//
// Rules:
//  * A sighting (a verified heartbeat, start or return) of a minion that is not up makes it up:
//    first sight, or back after being down.
//  * An up minion with no sighting for `timeoutMs` goes down.
//  * Grace: nobody is declared down until `timeoutMs` after the master started (it has not
//    heard the heartbeats yet), nor until `timeoutMs` after the minion's key was accepted.
//  * An accepted minion that has no presence record and is not seen once the grace is over is
//    declared down once (never_seen), so `minions list --down` and the job cache know it.
// Verdicts carry the eid of the message that caused them, so every master watching the same
// heartbeats names a verdict alike and the stream keeps one (contracts/ids.ts presence).

import type { PresenceReason, PresenceState, PresenceVia } from "../../contracts/events/minion.js";

export interface Sighting {
  /** When the master saw it (its clock, ms). */
  at: number;
  /** The eid of the message seen. */
  eid: string;
  via: PresenceVia;
}

export interface PresenceEntry {
  state: PresenceState;
  /** When the master last saw a verified message from the minion; undefined: never. */
  lastSeen?: number;
  /** The eid of that message (or of the presence event it was restored from). */
  lastEid?: string;
  /** When the current state began, per the verdict that set it. */
  since?: number;
}

export interface Verdict {
  id: string;
  state: PresenceState;
  reason: PresenceReason;
  via?: PresenceVia;
  lastSeen?: number;
  /** What caused it (an eid, or `never_seen.<key ts>`): the presence event's id is derived from it. */
  cause: string;
}

/** An accepted minion, and since when its key is accepted (ms). */
export interface Tracked {
  id: string;
  acceptedAt: number;
}

export class PresenceBook {
  private readonly entries = new Map<string, PresenceEntry>();

  constructor(
    readonly timeoutMs: number,
    /** When this master started: the grace period runs from here. */
    readonly startedAt: number,
  ) {}

  /** Whether the start-up grace period still runs at `now`. */
  inGrace(now: number): boolean {
    return now - this.startedAt < this.timeoutMs;
  }

  get(id: string): Readonly<PresenceEntry> | undefined {
    return this.entries.get(id);
  }

  /**
   * What the last presence event in the stream said (at start-up): no verdict is made for it, it
   * is the state that later verdicts change. A sighting already made since start wins.
   */
  restore(id: string, state: PresenceState, lastSeen: number | undefined, eid: string, since: number): void {
    const e = this.entries.get(id);
    if (e && e.lastSeen !== undefined && (lastSeen === undefined || e.lastSeen >= lastSeen)) return;
    this.entries.set(id, { state, lastSeen, lastEid: eid, since });
  }

  /** A verified message from `id`: a verdict when it makes the minion up. */
  seen(id: string, s: Sighting): Verdict | undefined {
    const e = this.entries.get(id);
    if (e && e.lastSeen !== undefined && s.at < e.lastSeen) return undefined; // an old message (redelivered) proves nothing new
    if (e?.state === "up") {
      e.lastSeen = s.at;
      e.lastEid = s.eid;
      return undefined;
    }
    this.entries.set(id, { state: "up", lastSeen: s.at, lastEid: s.eid, since: s.at });
    return { id, state: "up", reason: "seen", via: s.via, lastSeen: s.at, cause: s.eid };
  }

  /**
   * The verdicts due at `now` for the accepted minions `tracked`. Entries of minions no longer
   * accepted are dropped: if one is accepted again, its first sighting is a first sight.
   */
  sweep(now: number, tracked: Iterable<Tracked>): Verdict[] {
    const out: Verdict[] = [];
    const keep = new Set<string>();
    const grace = this.inGrace(now);
    for (const t of tracked) {
      keep.add(t.id);
      if (grace || now - t.acceptedAt < this.timeoutMs) continue;
      const e = this.entries.get(t.id);
      if (!e) {
        this.entries.set(t.id, { state: "down", since: now });
        out.push({ id: t.id, state: "down", reason: "never_seen", cause: `never_seen.${t.acceptedAt}` });
      } else if (e.state === "up" && (e.lastSeen === undefined || now - e.lastSeen > this.timeoutMs)) {
        e.state = "down";
        e.since = now;
        out.push({ id: t.id, state: "down", reason: "timeout", lastSeen: e.lastSeen, cause: e.lastEid ?? `timeout.${e.lastSeen ?? 0}` });
      }
    }
    for (const id of this.entries.keys()) if (!keep.has(id)) this.entries.delete(id);
    return out;
  }
}
