// The only place a subject, stream, bucket or consumer name is spelled. Everything else calls
// these builders, so a rename or a new encoding rule is one change here plus the test that
// asserts the exact strings (test/unit/subjects.test.ts).

import { SubjectError } from "./errors.js";

const NS_RE = /^[a-z][a-z0-9_-]{0,31}$/;
const JID_RE = /^\d{20}$/;
const SAFE = /^[A-Za-z0-9_-]$/;
const RETURNER_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** Namespaces become stream and bucket names too, so they are kept to a conservative alphabet. */
export function checkNamespace(ns: string): string {
  if (!NS_RE.test(ns)) {
    throw new SubjectError(
      `namespace "${ns}" is invalid: use 1-32 characters, lower-case letters, digits, '_' or '-', starting with a letter`,
      ns,
    );
  }
  return ns;
}

export function checkJid(jid: string): string {
  if (!JID_RE.test(jid)) throw new SubjectError(`jid "${jid}" is invalid: a jid is 20 digits`, jid);
  return jid;
}

/**
 * A returner's name becomes a subject token, a KV key and part of its durable consumer's name,
 * so it is kept to characters all three take as they are (no encoding, no collisions).
 */
export function checkReturnerName(name: string): string {
  if (!RETURNER_RE.test(name)) {
    throw new SubjectError(`returner name "${name}" is invalid: use 1-64 letters, digits, '_' or '-'`, name);
  }
  return name;
}

/** Why a message is in a returner's dead letters: its delivery kept failing, or it did not verify. */
export const DeadReasons = ["failed", "refused"] as const;
export type DeadReason = (typeof DeadReasons)[number];

/**
 * Minion ids are free text in Salt (FQDNs, with dots). A subject token cannot hold '.', '*',
 * '>' or whitespace, and a KV key cannot hold most punctuation, so ids are encoded: letters,
 * digits, '_' and '-' stay; every other UTF-8 byte becomes '=' and two lower-case hex digits.
 * The encoding is reversible and the same in subjects and KV keys.
 */
export function encodeToken(id: string): string {
  if (id.length === 0) throw new SubjectError("a minion id cannot be empty", id);
  if (id.length > 255) throw new SubjectError(`minion id is ${id.length} characters; the limit is 255`, id);
  // A lone surrogate has no UTF-8 form: Buffer writes U+FFFD for it, so "\ud800" and "\ufffd"
  // would share one token (one subject, one KV key) for two ids.
  if (/\p{Cs}/u.test(id)) throw new SubjectError("a minion id must be valid Unicode: it holds a lone UTF-16 surrogate", id);
  let out = "";
  for (const ch of id) {
    if (SAFE.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, "utf8")) out += "=" + b.toString(16).padStart(2, "0");
  }
  return out;
}

export function decodeToken(token: string): string {
  if (!/^(?:[A-Za-z0-9_-]|=[0-9a-f]{2})+$/.test(token)) {
    throw new SubjectError(`"${token}" is not an encoded minion id`, token);
  }
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    if (token[i] === "=") {
      bytes.push(parseInt(token.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(token.charCodeAt(i));
  }
  const id = Buffer.from(bytes).toString("utf8");
  // One id, one token: "=61" (for "a") or bytes that are not UTF-8 would otherwise name an id
  // under a second subject that filters and permissions written for the canonical one miss.
  if (encodeToken(id) !== token) throw new SubjectError(`"${token}" is not the canonical encoding of a minion id`, token);
  return id;
}

/** Subject builders for one namespace. */
export function subjects(nsIn: string) {
  const ns = checkNamespace(nsIn);
  return {
    ns,
    jobNew: (jid: string) => `${ns}.job.${checkJid(jid)}.new`,
    jobRet: (jid: string, minion: string) => `${ns}.job.${checkJid(jid)}.ret.${encodeToken(minion)}`,
    jobProg: (jid: string, minion: string) => `${ns}.job.${checkJid(jid)}.prog.${encodeToken(minion)}`,
    jobDone: (jid: string) => `${ns}.job.${checkJid(jid)}.done`,
    /**
     * Everything about one job, progress included: for core subscriptions. Not a consumer
     * filter: nats-server 2.9 accepts only filters that are a subset of one stream subject.
     */
    jobAll: (jid: string) => `${ns}.job.${checkJid(jid)}.>`,
    /** One job's progress chunks: a consumer filter on the progress stream. */
    jobProgs: (jid: string) => `${ns}.job.${checkJid(jid)}.prog.*`,
    /** One job's returns: a valid consumer filter (a subset of `{ns}.job.*.ret.*`). */
    jobRets: (jid: string) => `${ns}.job.${checkJid(jid)}.ret.*`,
    minionStart: (id: string) => `${ns}.minion.${encodeToken(id)}.start`,
    minionGrains: (id: string) => `${ns}.minion.${encodeToken(id)}.grains`,
    /** The master's verdict on a minion's presence (up/down): persisted, signed by the master. */
    minionPresence: (id: string) => `${ns}.minion.${encodeToken(id)}.presence`,
    /**
     * A minion's heartbeat: core NATS only. Outside `{ns}.minion.>` on purpose, so the events
     * stream (which captures that) never holds one: a heartbeat every 30 s from every minion
     * would be most of the stream.
     */
    heartbeat: (id: string) => `${ns}.hb.${encodeToken(id)}`,
    key: (id: string, state: KeyState) => `${ns}.key.${encodeToken(id)}.${state}`,
    audit: (kind: string) => `${ns}.audit.${auditKind(kind)}`,
    api: (verb: ApiVerb) => `${ns}.api.${verb}`,
    cache: (verb: CacheVerb) => `${ns}.cache.${verb}`,
    ctl: (minion: string) => `${ns}.ctl.${encodeToken(minion)}`,

    // Wildcards used by subscribers.
    allJobNew: `${ns}.job.*.new`,
    allJobRet: `${ns}.job.*.ret.*`,
    allJobDone: `${ns}.job.*.done`,
    allMinion: `${ns}.minion.>`,
    /** Every presence event: a consumer filter (a subset of `{ns}.minion.>`). */
    allPresence: `${ns}.minion.*.presence`,
    /** Every heartbeat (the master's core subscription). */
    allHeartbeat: `${ns}.hb.*`,
    allKey: `${ns}.key.>`,
    allAudit: `${ns}.audit.>`,
    /** Every subject in the namespace: the filter of a consumer that projects the whole stream. */
    all: `${ns}.>`,

    /** The subjects the events stream captures. Progress chunks are deliberately absent. */
    streamSubjects: [
      `${ns}.job.*.new`,
      `${ns}.job.*.ret.*`,
      `${ns}.job.*.done`,
      `${ns}.minion.>`,
      `${ns}.key.>`,
      `${ns}.audit.>`,
    ],
    stream: `${ns.toUpperCase().replace(/-/g, "_")}_EVENTS`,
    allJobProg: `${ns}.job.*.prog.*`,
    /** Progress chunks (job output as it is written): their own stream, short-lived and capped. */
    progressStream: `${ns.toUpperCase().replace(/-/g, "_")}_PROGRESS`,
    progressSubjects: [`${ns}.job.*.prog.*`],
    keysBucket: `${ns}_keys`,
    minionsBucket: `${ns}_minions`,
    /** Request ids the master has seen (replay protection); entries expire. */
    requestsBucket: `${ns}_requests`,
    /** The master's file store (Salt's salt:// file server): an object store, written by the master only. */
    filesBucket: `${ns}_files`,
    jobcacheConsumer: "jobcache",
    /** The durable consumer all masters share for minion lifecycle events. */
    lifecycleConsumer: "master-lifecycle",

    /** Returner settings (mode, filters) and status (last error): `settings.{name}`, `status.{name}`. */
    returnersBucket: `${ns}_returners`,
    /** Messages a returner gave up on (`failed`) or would not deliver (`refused`), kept for inspection. */
    deadStream: `${ns.toUpperCase().replace(/-/g, "_")}_DEAD`,
    deadSubjects: [`${ns}.dead.*.*`],
    deadLetter: (returner: string, why: DeadReason) => `${ns}.dead.${checkReturnerName(returner)}.${why}`,
    /** One returner's dead letters, both reasons: a consumer filter on the dead-letter stream. */
    deadLetters: (returner: string) => `${ns}.dead.${checkReturnerName(returner)}.*`,
    allDead: `${ns}.dead.>`,
  };
}

export type Subjects = ReturnType<typeof subjects>;

export const KeyStates = ["pending", "accepted", "rejected", "deleted"] as const;
export type KeyState = (typeof KeyStates)[number];

export const ApiVerbs = ["publish", "ping", "keys", "jobs", "job", "audit", "match", "files", "minions"] as const;
export type ApiVerb = (typeof ApiVerbs)[number];

export const CacheVerbs = ["jobs", "job", "rebuild", "status", "audit"] as const;
export type CacheVerb = (typeof CacheVerbs)[number];

function auditKind(kind: string): string {
  if (!/^[a-z][a-z0-9_]{0,63}$/.test(kind)) throw new SubjectError(`audit kind "${kind}" is invalid`, kind);
  return kind;
}

/** What a subject says about itself, for subscribers that route on the subject. */
export type ParsedSubject =
  | { kind: "job.new" | "job.done"; jid: string }
  | { kind: "job.ret" | "job.prog"; jid: string; minion: string }
  | { kind: "minion.start" | "minion.grains" | "minion.presence"; minion: string }
  /** Not persisted (core NATS only), parsed here so that every subject has one reading. */
  | { kind: "minion.heartbeat"; minion: string }
  | { kind: "key"; minion: string; state: KeyState }
  | { kind: "audit"; auditKind: string };

export function parseSubject(ns: string, subject: string): ParsedSubject | undefined {
  const t = subject.split(".");
  if (t[0] !== ns) return undefined;
  try {
    if (t[1] === "job" && JID_RE.test(t[2] ?? "")) {
      if (t.length === 4 && (t[3] === "new" || t[3] === "done")) return { kind: `job.${t[3]}`, jid: t[2] };
      if (t.length === 5 && (t[3] === "ret" || t[3] === "prog")) {
        return { kind: `job.${t[3]}`, jid: t[2], minion: decodeToken(t[4]) };
      }
    }
    if (t[1] === "minion" && t.length === 4 && (t[3] === "start" || t[3] === "grains" || t[3] === "presence")) {
      return { kind: `minion.${t[3]}`, minion: decodeToken(t[2]) };
    }
    if (t[1] === "hb" && t.length === 3) return { kind: "minion.heartbeat", minion: decodeToken(t[2]) };
    if (t[1] === "key" && t.length === 4 && (KeyStates as readonly string[]).includes(t[3])) {
      return { kind: "key", minion: decodeToken(t[2]), state: t[3] as KeyState };
    }
    if (t[1] === "audit" && t.length === 3) return { kind: "audit", auditKind: t[2] };
  } catch {
    return undefined;
  }
  return undefined;
}
