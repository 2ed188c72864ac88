// Request/reply messages on `{ns}.api.*` (CLI -> master) and `{ns}.cache.*` (CLI -> job cache).
// Requests to the master (but ping) travel signed, as the `body` of a SignedRequest
// (request.ts): the job's user is who signed, never a field a client fills in. Replies are
// msgpack; an error reply carries the Natrium-Error header and an ErrorReply body.
// These types are also the CLI's `--json` output, so a script sees exactly what travelled.

import { Type, type Static } from "@sinclair/typebox";
import { validator } from "./schema.js";
import { Jid, Millis, MinionId, PublicKey } from "./events/common.js";
import { KeyStates } from "./subjects.js";
import { TargetType } from "./events/job.js";
import { UserName } from "./request.js";
import { FileRecord } from "./files.js";

export const ErrorReply = Type.Object({ code: Type.String(), message: Type.String() });
export type ErrorReply = Static<typeof ErrorReply>;
export const errorReply = validator("error reply", ErrorReply);

export const PublishRequest = Type.Object(
  {
    v: Type.Literal(1),
    tgt: Type.Union([Type.String({ minLength: 1, maxLength: 65536 }), Type.Array(MinionId, { minItems: 1, maxItems: 100_000 })]),
    tgt_type: TargetType,
    fun: Type.String({ maxLength: 200 }),
    arg: Type.Array(Type.Unknown(), { maxItems: 10_000 }),
    kwarg: Type.Record(Type.String(), Type.Unknown()),
    timeout: Type.Optional(Type.Number({ minimum: 0, maximum: 86_400 })),
    ret: Type.Optional(Type.Array(Type.String({ maxLength: 100 }), { maxItems: 100 })),
  },
  { additionalProperties: false },
);
export type PublishRequest = Static<typeof PublishRequest>;
export const publishRequest = validator("publish request", PublishRequest);

/** `{ns}.api.match`, signed: which minions a target selects, without running anything. */
export const MatchRequest = Type.Object(
  {
    v: Type.Literal(1),
    tgt: PublishRequest.properties.tgt,
    tgt_type: TargetType,
  },
  { additionalProperties: false },
);
export type MatchRequest = Static<typeof MatchRequest>;
export const matchRequest = validator("match request", MatchRequest);

export const MatchReply = Type.Object({
  /** The accepted minions the target selects, sorted: the `minions` a publish would expect. */
  minions: Type.Array(MinionId),
  /** The target as a job would carry it: a nodegroup (and N@ inside a compound) expanded. */
  tgt: Type.Union([Type.String(), Type.Array(Type.String())]),
  tgt_type: TargetType,
});
export type MatchReply = Static<typeof MatchReply>;
export const matchReply = validator("match reply", MatchReply);

export const PublishReply = Type.Object({
  jid: Jid,
  minions: Type.Array(MinionId),
  timeout: Type.Number(),
  created: Millis,
});
export type PublishReply = Static<typeof PublishReply>;
export const publishReply = validator("publish reply", PublishReply);

export const JobSummary = Type.Object({
  jid: Jid,
  fun: Type.String(),
  arg: Type.Array(Type.Unknown()),
  tgt: Type.Union([Type.String(), Type.Array(Type.String())]),
  tgt_type: Type.String(),
  user: Type.String(),
  expected: Type.Integer(),
  returned: Type.Integer(),
  failed: Type.Integer(),
  created: Millis,
  finished: Type.Union([Millis, Type.Null()]),
  /** With a `minion` filter: that minion's return to the job (one minion's history). */
  minion: Type.Optional(Type.Object({ id: Type.String(), success: Type.Boolean(), retcode: Type.Integer(), duration_ms: Type.Number() })),
  /**
   * A run of that minion's schedule entry (named here), not a master's job: only in a
   * `minion` listing without `user` or `target`. It has no job.new, so `user` is "", `tgt` is
   * the minion, `expected` 0, and `created`/`finished` are the run's start and end.
   */
  schedule: Type.Optional(Type.String()),
});
export type JobSummary = Static<typeof JobSummary>;

export const JobsQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
    /** Only jobs of functions matching this glob (`*`, `?`), e.g. "test.ping" or "cmd.*". */
    fun: Type.Optional(Type.String({ maxLength: 200 })),
    /** Only jobs whose target text (or a member of a list target) matches this glob. */
    target: Type.Optional(Type.String({ maxLength: 1000 })),
    /** Only jobs created at or after this time (ms since the epoch). */
    since: Type.Optional(Millis),
    /** Only jobs created before this time (ms since the epoch). */
    until: Type.Optional(Millis),
    /** Only jobs this minion returned for. */
    minion: Type.Optional(MinionId),
    /** Only jobs this user ran. */
    user: Type.Optional(UserName),
    /** Only jobs with at least one failed return. */
    failed: Type.Optional(Type.Boolean()),
    /** Paging: only jobs older than this jid. */
    before: Type.Optional(Jid),
  },
  { additionalProperties: false },
);
export type JobsQuery = Static<typeof JobsQuery>;
export const jobsQuery = validator("jobs query", JobsQuery);

export const JobsReply = Type.Object({ jobs: Type.Array(JobSummary) });
export type JobsReply = Static<typeof JobsReply>;

export const ReturnRow = Type.Object({
  minion: Type.String(),
  success: Type.Boolean(),
  retcode: Type.Integer(),
  return: Type.Unknown(),
  start: Millis,
  end: Millis,
  duration_ms: Type.Number(),
  /** Set when success is false because of an error rather than a non-zero retcode. */
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
});
export type ReturnRow = Static<typeof ReturnRow>;

export const JobQuery = Type.Object({ jid: Jid }, { additionalProperties: false });
export type JobQuery = Static<typeof JobQuery>;
export const jobQuery = validator("job query", JobQuery);

export const JobReply = Type.Object({
  job: JobSummary,
  minions: Type.Array(Type.String()),
  missing: Type.Array(Type.String()),
  done_reason: Type.Union([Type.String(), Type.Null()]),
  /** Of `missing`, the minions still running the job when the master stopped waiting (job.done's `running`); the rest did not respond. */
  running: Type.Optional(Type.Array(Type.String())),
  returns: Type.Array(ReturnRow),
});
export type JobReply = Static<typeof JobReply>;

export const RebuildRequest = Type.Object(
  {
    /** Keep the rows events before this stream sequence made, and replay from it; absent: empty the tables and replay the whole stream. */
    from_seq: Type.Optional(Type.Integer({ minimum: 1 })),
  },
  { additionalProperties: false },
);
export type RebuildRequest = Static<typeof RebuildRequest>;
export const rebuildRequest = validator("rebuild request", RebuildRequest);
export const RebuildReply = Type.Object({
  /** The stream sequence the replay started at (1 for a full rebuild). */
  from_seq: Type.Optional(Type.Integer()),
  events: Type.Integer(),
  stream_last_seq: Type.Integer(),
  took_ms: Type.Number(),
  /** Rows in each table after the replay. */
  jobs: Type.Optional(Type.Integer()),
  returns: Type.Optional(Type.Integer()),
  minions: Type.Optional(Type.Integer()),
  audit: Type.Optional(Type.Integer()),
});
export type RebuildReply = Static<typeof RebuildReply>;

export const StatusReply = Type.Object({
  store: Type.String(),
  jobs: Type.Integer(),
  returns: Type.Integer(),
  events: Type.Integer(),
  minions: Type.Integer(),
  audit: Type.Integer(),
  last_seq: Type.Integer(),
  stream_last_seq: Type.Integer(),
  /** When the oldest and newest jobs in the history were created (null: no jobs). */
  oldest_job: Type.Optional(Type.Union([Millis, Type.Null()])),
  newest_job: Type.Optional(Type.Union([Millis, Type.Null()])),
});
export type StatusReply = Static<typeof StatusReply>;

// ---- audit: what was refused, and why ---------------------------------------------------------

export const AuditQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000 })),
    /** Only refusals of this kind, e.g. "denied", "bad_signature". */
    kind: Type.Optional(Type.String({ pattern: "^[a-z][a-z0-9_]{0,63}$" })),
    /** Only rows after this sequence, oldest first (following); otherwise the newest rows. */
    after: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type AuditQuery = Static<typeof AuditQuery>;
export const auditQuery = validator("audit query", AuditQuery);

export const AuditEntry = Type.Object({
  /** Stream sequence of the audit event, or of the message the job cache refused. */
  seq: Type.Integer(),
  ts: Millis,
  kind: Type.String(),
  /** "stream": an audit event a service published; "jobcache": a message the job cache refused. */
  origin: Type.String(),
  subject: Type.String(),
  reason: Type.String(),
  /** For audit events: signer, eid, actor, the refused request's subject and the refuser's detail. */
  detail: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
});
export type AuditEntry = Static<typeof AuditEntry>;
/** Rows oldest first. */
export const AuditReply = Type.Object({ rows: Type.Array(AuditEntry) });
export type AuditReply = Static<typeof AuditReply>;

// ---- minions: presence, key state, grains summary (salt-run manage.status) -------------------

export const MinionsRequest = Type.Object(
  {
    v: Type.Literal(1),
    /** Only minions in this presence state (up: seen within presence_timeout). */
    presence: Type.Optional(Type.Union([Type.Literal("up"), Type.Literal("down")])),
    /** Minion ids or globs; absent = every known minion. */
    match: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { minItems: 1, maxItems: 10_000 })),
  },
  { additionalProperties: false },
);
export type MinionsRequest = Static<typeof MinionsRequest>;
export const minionsRequest = validator("minions request", MinionsRequest);

/** A few grains that say what a minion is, for a one-line view; absent when the minion has not sent them. */
export const GrainsSummary = Type.Object({
  os: Type.Optional(Type.String()),
  osrelease: Type.Optional(Type.String()),
  /** The first IPv4 address that is not loopback (grain ipv4), else the first one. */
  ipv4: Type.Optional(Type.String()),
  num_cpus: Type.Optional(Type.Number()),
  /** MiB, as Salt's mem_total. */
  mem_total: Type.Optional(Type.Number()),
});
export type GrainsSummary = Static<typeof GrainsSummary>;

export const MinionStatus = Type.Object({
  id: MinionId,
  /** The key's state: only accepted minions are tracked for presence. */
  key: Type.Union([Type.Literal("accepted"), Type.Literal("pending"), Type.Literal("rejected")]),
  /**
   * up: a verified message from it within presence_timeout; down: none; unknown: its key is not
   * accepted (its heartbeats are not trusted), or the master started less than presence_timeout
   * ago and has no earlier record of it.
   */
  presence: Type.Union([Type.Literal("up"), Type.Literal("down"), Type.Literal("unknown")]),
  /** When the master last saw a verified message from it (ms since the epoch); null: never. */
  last_seen: Type.Union([Millis, Type.Null()]),
  /** When it entered its current presence state, per the presence events; null: not known. */
  since: Type.Union([Millis, Type.Null()]),
  grains: GrainsSummary,
});
export type MinionStatus = Static<typeof MinionStatus>;

export const MinionsReply = Type.Object({
  minions: Type.Array(MinionStatus),
  /** The master's clock when it answered (relative times are computed against it). */
  now: Millis,
  /** The master's presence_timeout, seconds. */
  presence_timeout: Type.Number(),
  /** True while the master is in its start-up grace period (no minion is declared down yet). */
  grace: Type.Boolean(),
  master: Type.String(),
});
export type MinionsReply = Static<typeof MinionsReply>;
export const minionsReply = validator("minions reply", MinionsReply);

// ---- minion keys (salt-key) -------------------------------------------------------------------

export const KeyOps = ["list", "accept", "reject", "delete"] as const;
export type KeyOp = (typeof KeyOps)[number];
const KeyStateSchema = Type.Union(KeyStates.filter((k) => k !== "deleted").map((k) => Type.Literal(k)));

export const KeysRequest = Type.Object(
  {
    op: Type.Union(KeyOps.map((o) => Type.Literal(o))),
    /**
     * Minion ids or glob patterns, as salt-key takes them; absent = every key (list, and
     * accept --all / reject --all / delete --all).
     */
    match: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { minItems: 1, maxItems: 10_000 })),
    /**
     * The states an op changes, beyond its own default (accept: pending; reject: pending;
     * delete: all): e.g. accept with ["rejected"] also accepts rejected keys (salt-key
     * --include-rejected). For list: only keys in these states.
     */
    include: Type.Optional(Type.Array(KeyStateSchema, { maxItems: 3 })),
  },
  { additionalProperties: false },
);
export type KeysRequest = Static<typeof KeysRequest>;
export const keysRequest = validator("keys request", KeysRequest);

export const KeyInfo = Type.Object({
  id: MinionId,
  state: KeyStateSchema,
  finger: Type.String(),
  pub: PublicKey,
  box_pub: PublicKey,
  /** When the key reached this state. */
  ts: Millis,
});
export type KeyInfo = Static<typeof KeyInfo>;

export const KeysReply = Type.Object({
  /** list: the keys; accept/reject/delete: the keys changed, in their new state (delete: old). */
  keys: Type.Array(KeyInfo),
  master: Type.Object({ id: Type.String(), pub: PublicKey, finger: Type.String() }),
});
export type KeysReply = Static<typeof KeysReply>;

/** Most bytes one `files put` chunk carries: well under the default NATS max_payload (1 MiB). */
export const FILE_CHUNK_MAX = 256 * 1024;

/**
 * `{ns}.api.files`: the master's file store. `put` sends a file in chunks of one upload (index
 * 0, 1, … in order; `last` on the final one), `list` the stored files (glob `match` on the
 * path), `remove` one. Putting and removing need `files: true` (or admin); any admitted user may list.
 */
export const FilesRequest = Type.Union([
  Type.Object(
    {
      op: Type.Literal("put"),
      path: Type.String({ minLength: 1, maxLength: 262 }),
      upload: Type.String({ minLength: 8, maxLength: 64 }),
      index: Type.Integer({ minimum: 0 }),
      data: Type.Uint8Array({ maxByteLength: FILE_CHUNK_MAX }),
      last: Type.Boolean(),
      mode: Type.Optional(Type.String({ pattern: "^0[0-7]{3}$" })),
    },
    { additionalProperties: false },
  ),
  Type.Object({ op: Type.Literal("list"), match: Type.Optional(Type.String({ minLength: 1, maxLength: 262 })) }, { additionalProperties: false }),
  Type.Object({ op: Type.Literal("remove"), path: Type.String({ minLength: 1, maxLength: 262 }) }, { additionalProperties: false }),
]);
export type FilesRequest = Static<typeof FilesRequest>;
export const filesRequest = validator("files request", FilesRequest);

export const FilesReply = Type.Object({
  /** list: every matching file; put (last chunk) and remove: the file concerned; other chunks: none. */
  files: Type.Array(FileRecord),
  /** put: bytes received so far in this upload. */
  received: Type.Optional(Type.Integer()),
});
export type FilesReply = Static<typeof FilesReply>;
