// What each party may publish and subscribe to on a locked-down nats-server. The grants are
// spelled from the same builders as the subjects themselves, so a new subject cannot drift from
// the permission that allows it; services/common/natsconf.ts renders them into a server config.
//
// JetStream is reached through its API subjects ($JS.API.*), so "may read the stream" means
// "may create a consumer on it": the grants below name the stream in each API subject, and a
// party gets only the verbs it uses (the job cache, for instance, cannot delete the stream).

import { checkReturnerName, encodeToken, type Subjects } from "./subjects.js";

export type NatsParty =
  | { role: "master" }
  | { role: "jobcache" }
  | { role: "returner"; name: string }
  | { role: "admin" }
  /** A user from the master config; `admin` users may also watch every event, as the admin key. */
  | { role: "user"; name: string; admin?: boolean }
  | { role: "minion"; id: string }
  /** A minion whose key the server does not know yet: it may only present itself (pending). */
  | { role: "bootstrap" };

export interface NatsPermissions {
  publish: string[];
  /** Carved out of `publish`: the durable consumers of other parties, which readers may not touch. */
  publishDeny: string[];
  subscribe: string[];
  /** Answering requests: a responder may publish to the reply subject of a message it received. */
  allowResponses: boolean;
}

/**
 * The inbox prefix a party's connection uses. Replies (request/reply, JetStream acks and
 * consumer deliveries) go to subjects under it, and only that party may subscribe there, so
 * nobody reads another party's replies.
 */
export function inboxPrefix(s: Subjects, p: NatsParty): string {
  const base = `_INBOX.${s.ns}`;
  switch (p.role) {
    case "master":
    case "jobcache":
    case "admin":
    case "bootstrap":
      return `${base}.${p.role}`;
    case "returner":
      return `${base}.returner.${encodeToken(p.name)}`;
    case "user":
      return `${base}.user.${encodeToken(p.name)}`;
    case "minion":
      return `${base}.minion.${encodeToken(p.id)}`;
  }
}

const RETURNER_DURABLE_PREFIX = "returner_";

/** The durable consumer a named returner reads the stream with. */
export function returnerDurable(name: string): string {
  return `${RETURNER_DURABLE_PREFIX}${checkReturnerName(name)}`;
}

/**
 * `durables`: every durable consumer on the events stream (the job cache's, the masters', each
 * returner's). A party that may create ephemeral consumers to read the stream could otherwise
 * delete or squat one of them by name; nats-server cannot express "any name but these" as an
 * allow, so they are denied by name.
 */
export function natsPermissions(s: Subjects, p: NatsParty, durables: readonly string[] = defaultDurables(s)): NatsPermissions {
  const inbox = `${inboxPrefix(s, p)}.>`;
  const guard = durables.flatMap((d) => [`$JS.API.CONSUMER.*.${s.stream}.${d}`, `$JS.API.CONSUMER.*.${s.stream}.${d}.>`]);
  const kvStream = (bucket: string) => `KV_${bucket}`;
  const objStream = (bucket: string) => `OBJ_${bucket}`;
  switch (p.role) {
    case "master": {
      // The master owns the stream and the buckets: it creates and updates them, tracks jobs
      // with consumers, and answers the API. It is the one party trusted with all of them.
      const streams = [s.stream, s.progressStream, s.deadStream, kvStream(s.keysBucket), kvStream(s.minionsBucket), kvStream(s.requestsBucket), kvStream(s.returnersBucket), objStream(s.filesBucket)];
      return {
        publish: [
          s.all,
          `$KV.${s.keysBucket}.>`,
          `$KV.${s.minionsBucket}.>`,
          `$KV.${s.requestsBucket}.>`,
          `$O.${s.filesBucket}.>`,
          `$KV.${s.returnersBucket}.>`,
          "$JS.API.INFO",
          "$JS.API.STREAM.NAMES",
          "$JS.API.STREAM.LIST",
          ...streams.flatMap(manageStream),
        ],
        publishDeny: [],
        subscribe: [s.all, inbox],
        allowResponses: true,
      };
    }
    case "jobcache":
      return {
        publish: [
          "$JS.API.INFO",
          s.allAudit,
          ...consumeStream(s.stream, s.jobcacheConsumer),
          ...readStream(kvStream(s.keysBucket)),
        ],
        publishDeny: [],
        subscribe: [`${s.ns}.cache.*`, inbox],
        allowResponses: true,
      };
    case "returner":
      // Its own durable; one stored message at a time for the job.new of a return (requested
      // mode); its own dead letters (a JetStream publish is a plain publish the stream captures)
      // and its own settings and status records. The master makes the dead-letter stream and
      // the returners bucket.
      return {
        publish: [
          "$JS.API.INFO",
          ...consumeStream(s.stream, returnerDurable(p.name)),
          `$JS.API.STREAM.MSG.GET.${s.stream}`,
          ...readStream(kvStream(s.keysBucket)),
          ...readStream(kvStream(s.returnersBucket)),
          s.deadLetters(p.name),
          `$JS.API.STREAM.INFO.${s.deadStream}`,
          `$KV.${s.returnersBucket}.settings.${p.name}`,
          `$KV.${s.returnersBucket}.status.${p.name}`,
        ],
        publishDeny: [],
        // Standing in for the job cache's history queries (serve_queries) needs their subjects.
        subscribe: [inbox, s.cache("jobs"), s.cache("job")],
        allowResponses: true,
      };
    case "admin":
      // The CLI as admin: every API verb and query, and reading (never writing) the stream,
      // which `events tail` and `run` need, and the progress stream (`run --stream`, `jobs
      // watch`). Changes still go through the master's API. Returners are the admin's to
      // manage (`natrium returners add|remove|list`): their durables, settings and dead letters.
      return {
        publish: [
          `${s.ns}.api.*`,
          `${s.ns}.cache.*`,
          ...readStream(s.stream),
          ...readStream(s.progressStream),
          ...readStream(kvStream(s.keysBucket)),
          ...readStream(kvStream(s.returnersBucket)),
          `$KV.${s.returnersBucket}.>`,
          ...readStream(s.deadStream),
          `$JS.API.STREAM.PURGE.${s.deadStream}`,
          // `returners list` finds returners by their durables.
          `$JS.API.CONSUMER.LIST.${s.stream}`,
        ],
        publishDeny: durables.filter((d) => !d.startsWith(RETURNER_DURABLE_PREFIX)).flatMap((d) => [`$JS.API.CONSUMER.*.${s.stream}.${d}`, `$JS.API.CONSUMER.*.${s.stream}.${d}.>`]),
        subscribe: [`${s.ns}.job.>`, s.allMinion, s.allKey, s.allAudit, inbox],
        allowResponses: false,
      };
    case "user":
      // The master decides what a user's request may do (ACLs, which jobs the user may see in
      // history); on the wire a user may only ask it, and follow job returns. Only the master
      // and the admin key query the job cache directly.
      return {
        publish: [
          `${s.ns}.api.*`,
          ...(p.admin ? [`${s.ns}.cache.*`] : []),
          ...readStream(s.stream),
          ...readStream(s.progressStream),
          ...readStream(kvStream(s.keysBucket)),
        ],
        publishDeny: guard,
        subscribe: p.admin ? [`${s.ns}.job.>`, s.allMinion, s.allKey, s.allAudit, inbox] : [`${s.ns}.job.>`, inbox],
        allowResponses: false,
      };
    case "minion": {
      const t = encodeToken(p.id);
      return {
        publish: [
          // Named, not `minion.{token}.*`: the presence event under it is the master's to publish.
          s.minionStart(p.id),
          s.minionGrains(p.id),
          // Its heartbeat, core NATS; only its own, so a minion cannot keep a dead one "up".
          s.heartbeat(p.id),
          `${s.ns}.job.*.ret.${t}`,
          // Live output: a core publish the progress stream captures (no JetStream API needed).
          `${s.ns}.job.*.prog.${t}`,
          s.allAudit,
          ...readStream(kvStream(s.keysBucket)),
          // salt:// files: read the master's file store (the master signs what is in it).
          ...readStream(objStream(s.filesBucket)),
        ],
        publishDeny: [],
        subscribe: [s.allJobNew, s.ctl(p.id), inbox],
        allowResponses: false,
      };
    }
    case "bootstrap":
      return {
        publish: [`${s.ns}.minion.*.start`, ...readStream(kvStream(s.keysBucket))],
        publishDeny: [],
        subscribe: [inbox],
        allowResponses: false,
      };
  }
}

/** The durables on the events stream that exist without configuration (returners add theirs). */
export function defaultDurables(s: Subjects): string[] {
  return [s.jobcacheConsumer, s.lifecycleConsumer];
}

/** Create, update, inspect and consume a stream (the owner). */
function manageStream(stream: string): string[] {
  return [
    `$JS.API.STREAM.*.${stream}`,
    `$JS.API.STREAM.MSG.*.${stream}`,
    `$JS.API.CONSUMER.*.${stream}`,
    `$JS.API.CONSUMER.*.${stream}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.ACK.${stream}.>`,
    `$JS.FC.${stream}.>`,
  ];
}

/** Read a stream through ephemeral (ordered) consumers and direct gets; no durable, no ack. */
function readStream(stream: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.STREAM.MSG.GET.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.>`,
    `$JS.API.CONSUMER.INFO.${stream}.>`,
    `$JS.API.CONSUMER.DELETE.${stream}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.>`,
    `$JS.API.DIRECT.GET.${stream}`,
    `$JS.API.DIRECT.GET.${stream}.>`,
    `$JS.FC.${stream}.>`,
  ];
}

/** Consume a stream through one named durable consumer, acknowledging what it has processed. */
function consumeStream(stream: string, durable: string): string[] {
  return [
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.API.CONSUMER.CREATE.${stream}.${durable}`,
    `$JS.API.CONSUMER.CREATE.${stream}.${durable}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${stream}.${durable}`,
    `$JS.API.CONSUMER.INFO.${stream}.${durable}`,
    // Replaying from the start (cache rebuild) recreates the consumer.
    `$JS.API.CONSUMER.DELETE.${stream}.${durable}`,
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`,
    `$JS.ACK.${stream}.${durable}.>`,
  ];
}
