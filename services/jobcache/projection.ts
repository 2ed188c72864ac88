// The pure heart of the job cache: stream messages in, table rows out. No I/O and no clock:
// everything a row holds comes from the message (body, subject, stream sequence, stream
// timestamp) and from the projection state, which is itself built from earlier messages. That
// is what makes a rebuild from the stream give identical tables.
//
//   decide(message, trust, state) -> accepted event, or the reason it is refused (audited)
//   evolve(rows, state, seq, event) -> the rows and key state the event adds
//   project(...) = both over a batch, in stream order

import { open, H, type Opened } from "../../contracts/message.js";
import type { StreamMessage } from "../returners/sdk.js";
import { parseSubject, type KeyState } from "../../contracts/subjects.js";
import { verify } from "../../contracts/sign.js";
import type { VerifyPool } from "../common/verifypool.js";
import { DecodeError, SignatureError, ValidationError } from "../../contracts/errors.js";
import type { NatriumEvent } from "../../contracts/events/index.js";
import type { NewAudit, NewEvent, NewJob, NewJobReturn, NewMinion } from "../../migrations/schema.js";

export const AuditKinds = {
  /** Not msgpack, no or unknown Natrium-Type header. */
  badPayload: "bad_payload",
  /** Decoded, but the body breaks its schema or disagrees with its subject or headers. */
  invalid: "invalid",
  /** Unsigned, or the signature does not verify. */
  badSignature: "bad_signature",
  /** Signed by a key that is not the one this event must be signed with. */
  unknownSigner: "unknown_signer",
  /** A minion start presenting a key other than the minion's accepted one. */
  keyConflict: "key_conflict",
  /** Valid, but the database refuses its values (e.g. a NUL character): kept out of history. */
  unstorable: "unstorable",
} as const;
export type AuditKind = (typeof AuditKinds)[keyof typeof AuditKinds];

/** One message as it came off the stream (the ordered returner SDK's StreamMessage). */
export type RawMessage = StreamMessage;

export interface MinionKey {
  state: KeyState;
  pub: string;
}

/** What the projection must remember between messages: minion keys, from key events. */
export interface ProjectionState {
  keys: ReadonlyMap<string, MinionKey>;
}

export const emptyState = (): ProjectionState => ({ keys: new Map() });

/** Who is trusted, from outside the stream. */
export interface Trust {
  ns: string;
  masterPub: string;
}

export interface DoneUpdate {
  jid: string;
  finished: Date;
  doneReason: string;
  missing: string[];
  unexpected: string[];
  running: string[] | null;
  doneSeq: number;
}

export interface Rows {
  events: NewEvent[];
  audit: NewAudit[];
  jobs: NewJob[];
  done: DoneUpdate[];
  returns: NewJobReturn[];
  /** At most one per minion; fields left undefined keep what the table has. */
  minions: NewMinion[];
}

export const emptyRows = (): Rows => ({ events: [], audit: [], jobs: [], done: [], returns: [], minions: [] });

export type Verdict =
  | { ok: true; event: Opened }
  | { ok: false; kind: AuditKind; reason: string; detail: Record<string, unknown> };

/** Decode, validate and check the signature of one message against the trust and key state. */
export function decide(m: RawMessage, trust: Trust, state: ProjectionState, preverified?: ReadonlySet<number>): Verdict {
  const detail: Record<string, unknown> = {};
  const type = m.headers?.get(H.type);
  const signer = m.headers?.get(H.signer);
  const eid = m.headers?.get(H.msgId);
  if (type) detail.type = type.slice(0, 64);
  if (signer) detail.signer = signer.slice(0, 64);
  if (eid) detail.eid = eid.slice(0, 300);
  const refuse = (kind: AuditKind, reason: string, more: Record<string, unknown> = {}): Verdict => ({
    ok: false,
    kind,
    reason,
    detail: { ...detail, ...more },
  });

  let o: Opened;
  try {
    o = open(m.subject, m.data, m.headers);
  } catch (err) {
    if (err instanceof ValidationError) return refuse(AuditKinds.invalid, err.message, { problems: err.problems.slice(0, 20) });
    if (err instanceof SignatureError) return refuse(AuditKinds.badSignature, err.message);
    if (err instanceof DecodeError) return refuse(AuditKinds.badPayload, err.message);
    return refuse(AuditKinds.badPayload, String((err as Error)?.message ?? err));
  }

  const mismatch = subjectMismatch(trust.ns, m.subject, o.body);
  if (mismatch) return refuse(AuditKinds.invalid, mismatch);

  let expected: string;
  let who: string;
  const b = o.body;
  switch (b.type) {
    case "job.new":
    case "job.done":
    case "key":
    case "minion.presence":
      expected = trust.masterPub;
      who = "the master";
      break;
    case "job.ret":
    case "minion.grains": {
      const k = state.keys.get(b.id);
      if (!k || k.state !== "accepted") {
        return refuse(AuditKinds.unknownSigner, `${b.type} event on ${m.subject}: minion "${b.id}" has no accepted key`);
      }
      expected = k.pub;
      who = `minion "${b.id}"`;
      break;
    }
    case "minion.start": {
      const k = state.keys.get(b.id);
      if (k && k.state === "accepted" && k.pub !== b.pub) {
        return refuse(AuditKinds.keyConflict, `minion "${b.id}" started with a key other than its accepted one`, { pub: b.pub });
      }
      // Self-signed: it proves the sender holds the key it presents.
      expected = b.pub;
      who = `minion "${b.id}" (self-signed)`;
      break;
    }
    case "audit": {
      // Whoever refused something signs the audit event: the master or an accepted minion.
      const ok = o.signer === trust.masterPub || [...state.keys.values()].some((k) => k.state === "accepted" && k.pub === o.signer);
      if (!ok) return refuse(AuditKinds.unknownSigner, `audit event on ${m.subject} is signed by neither the master nor an accepted minion`);
      expected = o.signer;
      who = "its signer";
      break;
    }
    case "job.prog":
      // The events stream does not capture progress subjects; a chunk here was put here by hand.
      return refuse(AuditKinds.invalid, `job.prog event on ${m.subject}: progress chunks belong in the progress stream, not the events stream`);
    case "minion.heartbeat":
      // Heartbeats travel on core NATS only, on a subject the stream does not capture.
      return refuse(AuditKinds.invalid, `minion.heartbeat event on ${m.subject}: heartbeats are not events of the stream`);
    default:
      return assertNever(b);
  }
  if (o.signer !== expected) {
    return refuse(AuditKinds.unknownSigner, `${b.type} event on ${m.subject} is signed by a key that is not ${who}'s`);
  }
  // `preverified` holds the sequences whose signature already verified (off the main thread)
  // under the key their Natrium-Signer header names; the signer equals `expected` here.
  if (preverified) {
    if (!preverified.has(m.seq)) return refuse(AuditKinds.badSignature, `${b.type} event on ${m.subject}: signature does not verify`);
    return { ok: true, event: o };
  }
  try {
    verify(expected, m.subject, m.data, o.sig);
  } catch (err) {
    return refuse(AuditKinds.badSignature, `${b.type} event on ${m.subject}: ${(err as Error).message}`);
  }
  return { ok: true, event: o };
}

/** The subject repeats facts the body states; a disagreement means a forged or misrouted event. */
function subjectMismatch(ns: string, subject: string, b: NatriumEvent): string | undefined {
  const p = parseSubject(ns, subject);
  if (!p) return `${subject} is not a subject a persisted event is published on`;
  const kind = p.kind === "key" ? "key" : p.kind === "audit" ? "audit" : p.kind;
  if (kind !== b.type) return `a ${b.type} event cannot be published on ${subject}`;
  if ("jid" in p && "jid" in b && p.jid !== b.jid) return `event on ${subject} names job ${b.jid}`;
  if ("minion" in p && "id" in b && p.minion !== b.id) return `event on ${subject} names minion "${b.id}"`;
  if (p.kind === "key" && b.type === "key" && p.state !== b.state) return `event on ${subject} says state "${b.state}"`;
  if (p.kind === "audit" && b.type === "audit" && p.auditKind !== b.kind) return `event on ${subject} says kind "${b.kind}"`;
  return undefined;
}

/**
 * Check every message's signature against the key its Natrium-Signer header names, off the
 * main thread (VerifyPool). decide() still checks that this key is the one the event needs.
 */
export async function preverify(pool: VerifyPool, msgs: readonly RawMessage[]): Promise<Set<number>> {
  const ok = await pool.verify(msgs.map((m) => ({ pub: m.headers?.get(H.signer), sig: m.headers?.get(H.sig), subject: m.subject, payload: m.data })));
  const out = new Set<number>();
  msgs.forEach((m, i) => ok[i] && out.add(m.seq));
  return out;
}

/**
 * Add one accepted event's rows to `rows` and return the key state after it. A key event
 * updates `state.keys` in place: call it with a state whose map the caller owns (project()
 * copies the map once per batch).
 */
export function evolve(rows: Rows, state: ProjectionState, seq: number, o: Opened): ProjectionState {
  const b = o.body;
  const ts = new Date(b.ts);
  rows.events.push({
    seq,
    eid: b.eid,
    subject: o.subject,
    type: b.type,
    jid: "jid" in b ? b.jid : null,
    minion: "id" in b ? b.id : null,
    signer: o.signer,
    ts,
    body: b as unknown as Record<string, unknown>,
  });
  switch (b.type) {
    case "job.new":
      if (!rows.jobs.some((j) => j.jid === b.jid)) {
        rows.jobs.push({
          jid: b.jid,
          fun: b.fun,
          arg: b.arg,
          kwarg: b.kwarg,
          tgt: b.tgt,
          tgtType: b.tgt_type,
          user: b.user,
          master: b.master,
          expected: b.minions,
          ret: b.ret,
          timeout: b.timeout,
          created: ts,
          expires: new Date(b.expires),
          seq,
        });
      }
      return state;
    case "job.ret":
      if (!rows.returns.some((r) => r.jid === b.jid && r.minion === b.id)) {
        rows.returns.push({
          jid: b.jid,
          minion: b.id,
          fun: b.fun,
          funArgs: b.fun_args,
          return: b.return === undefined ? null : b.return,
          retcode: b.retcode,
          success: b.success,
          error: b.error ?? null,
          start: new Date(b.start),
          end: new Date(b.end),
          durationMs: b.duration_ms,
          eid: b.eid,
          seq,
          schedule: b.schedule ?? null,
        });
      }
      return state;
    case "job.done":
      if (!rows.done.some((d) => d.jid === b.jid)) {
        rows.done.push({ jid: b.jid, finished: ts, doneReason: b.reason, missing: b.missing, unexpected: b.unexpected, running: b.running ?? null, doneSeq: seq });
      }
      return state;
    case "key": {
      mergeMinion(rows, { id: b.id, keyState: b.state, pub: b.pub, boxPub: b.box_pub, finger: b.finger, keyChanged: ts });
      // project() hands evolve a key map owned by the batch: updated in place, not copied per
      // key event (a copy each time was O(n^2) when thousands of minions joined in one batch).
      (state.keys as Map<string, MinionKey>).set(b.id, { state: b.state, pub: b.pub });
      return state;
    }
    case "minion.start":
      mergeMinion(rows, { id: b.id, version: b.version, host: b.host, firstSeen: ts, lastSeen: ts });
      return state;
    case "minion.grains":
      mergeMinion(rows, { id: b.id, grains: b.grains, firstSeen: ts, lastSeen: ts });
      return state;
    case "minion.presence":
      // last_seen is the master's clock for the minion's last sign of life; the verdict's own
      // time is when its state changed.
      mergeMinion(rows, { id: b.id, up: b.state === "up", presenceChanged: ts, ...(b.last_seen !== undefined ? { lastSeen: new Date(b.last_seen) } : {}) });
      return state;
    case "minion.heartbeat":
      return state;
    case "audit":
      rows.audit.push({
        seq,
        subject: o.subject,
        kind: b.kind,
        reason: b.reason,
        origin: "stream",
        detail: { signer: o.signer, eid: b.eid, actor: b.actor, subject: b.subject, detail: b.detail },
        ts,
      });
      return state;
    case "job.prog":
      return state;
    default:
      return assertNever(b);
  }
}

/**
 * Later facts win, except first/last seen which are the earliest and latest. The writer's
 * upsert applies the same rule against the table, so where batch boundaries fall does not
 * change the result.
 */
function mergeMinion(rows: Rows, patch: NewMinion): void {
  const i = rows.minions.findIndex((m) => m.id === patch.id);
  if (i < 0) {
    rows.minions.push(patch);
    return;
  }
  const prev = rows.minions[i];
  const merged: NewMinion = { ...prev };
  for (const [k, v] of Object.entries(patch)) if (v !== undefined) (merged as Record<string, unknown>)[k] = v;
  merged.firstSeen = minDate(prev.firstSeen, patch.firstSeen);
  merged.lastSeen = maxDate(prev.lastSeen, patch.lastSeen);
  rows.minions[i] = merged;
}

function minDate(a: Date | null | undefined, b: Date | null | undefined): Date | undefined {
  if (!a) return b ?? undefined;
  if (!b) return a;
  return a.getTime() <= b.getTime() ? a : b;
}
function maxDate(a: Date | null | undefined, b: Date | null | undefined): Date | undefined {
  if (!a) return b ?? undefined;
  if (!b) return a;
  return a.getTime() >= b.getTime() ? a : b;
}

/** The audit row for a message the job cache refuses. */
export function refusalRow(m: RawMessage, kind: AuditKind, reason: string, detail: Record<string, unknown>): NewAudit {
  return {
    seq: m.seq,
    subject: m.subject,
    kind,
    reason: clean(reason) as string,
    origin: "jobcache",
    detail: clean(detail) as Record<string, unknown>,
    ts: new Date(m.time),
  };
}

export interface Projected {
  rows: Rows;
  state: ProjectionState;
  /** Highest stream sequence among the messages, or 0 for none. */
  lastSeq: number;
}

/**
 * Event types whose rows the tables' own keys keep to the first occurrence (events.eid,
 * job_returns (jid, minion), jobs.jid, and the job.done update that only fills an open job):
 * a re-published one changes nothing, so the writer need not look their ids up. Key, minion
 * and audit events would overwrite or add rows, so theirs are looked up (Known.eids).
 */
const SELF_DEDUPING: ReadonlySet<string> = new Set(["job.ret", "job.new", "job.done"]);

/** Whether a message's event id must be looked up before projecting it (by its type header). */
export function needsEidLookup(type: string | undefined): boolean {
  return !type || !SELF_DEDUPING.has(type);
}

/** What the tables already hold; see writer.alreadyProjected. */
export interface Known {
  /** Stream sequences already projected (delivered again): skipped outright. */
  seqs: ReadonlySet<number>;
  /** Event ids already mirrored: a re-published event (same id, new sequence) is skipped. */
  eids: ReadonlySet<string>;
}

/**
 * Project a batch, in stream order. A re-published event (same id, new stream sequence, after
 * the stream's dedupe window) is skipped, so replaying an old key event cannot undo a later one:
 * the first occurrence in stream order always wins.
 */
export function project(
  trust: Trust,
  state: ProjectionState,
  msgs: readonly RawMessage[],
  known: Known = { seqs: new Set(), eids: new Set() },
  preverified?: ReadonlySet<number>,
): Projected {
  const rows = emptyRows();
  state = { keys: new Map(state.keys) };
  const seen = new Set(known.eids);
  let lastSeq = 0;
  const ordered = [...msgs].sort((a, b) => a.seq - b.seq);
  for (const m of ordered) {
    lastSeq = Math.max(lastSeq, m.seq);
    if (known.seqs.has(m.seq)) continue;
    const v = decide(m, trust, state, preverified);
    if (!v.ok) {
      rows.audit.push(refusalRow(m, v.kind, v.reason, v.detail));
      continue;
    }
    if (seen.has(v.event.body.eid)) continue;
    seen.add(v.event.body.eid);
    state = evolve(rows, state, m.seq, v.event);
  }
  return { rows, state, lastSeq };
}

/** Postgres text and jsonb cannot hold U+0000; refusal reasons quote untrusted input. */
function clean(v: unknown, depth = 0): unknown {
  if (typeof v === "string") return v.includes("\u0000") ? v.replace(/\u0000/g, "\\u0000") : v;
  if (depth > 8 || v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) return v.map((x) => clean(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[clean(k) as string] = clean(x, depth + 1);
  return out;
}

function assertNever(x: never): never {
  throw new Error(`unhandled event ${JSON.stringify(x)}`);
}
