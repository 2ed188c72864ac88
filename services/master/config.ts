import { Type } from "@sinclair/typebox";
import { CommonConfig } from "../common/config.js";
import { PublicKey } from "../../contracts/events/common.js";
import { UserName } from "../../contracts/request.js";

const User = Type.Object(
  {
    pub: PublicKey,
    admin: Type.Optional(Type.Boolean()),
    keys: Type.Optional(Type.Boolean()),
    jobs: Type.Optional(Type.Boolean()),
    files: Type.Optional(Type.Boolean()),
    minions: Type.Optional(Type.Boolean()),
    acl: Type.Optional(
      Type.Array(Type.Union([Type.String({ minLength: 1 }), Type.Record(Type.String({ minLength: 1 }), Type.Array(Type.String({ minLength: 1 })))])),
    ),
  },
  { additionalProperties: false },
);

/** Master configuration keys; docs/config.md lists them from this schema. */
export const MasterConfig = Type.Object(
  {
    ...CommonConfig,
    id: Type.String({ default: "master", minLength: 1, maxLength: 255, description: "this master's name, recorded in every job it publishes" }),
    timeout: Type.Number({ default: 5, minimum: 0.1, maximum: 86_400, description: "seconds a job waits for returns when the request names no timeout (Salt's default: 5)" }),
    auto_accept: Type.Boolean({ default: false, description: "accept every new minion key on first contact; otherwise it is pending until `natrium keys accept` (Salt's default: false)" }),
    autosign: Type.Array(Type.String({ minLength: 1, maxLength: 255 }), {
      default: [],
      description: "minion id globs whose keys are accepted on first contact (Salt's autosign_file), e.g. ['web*', 'db1']",
    }),
    users: Type.Record(UserName, User, {
      default: {},
      description:
        "users who may send requests, by name: pub (their Ed25519 key from `natrium user keygen`), acl (Salt publisher_acl: function patterns, or 'minion glob': [function patterns]), keys (may manage minion keys, and list minions), jobs (may see every job in the history, not only their own), minions (may list minions with presence and grains: `natrium minions list`), admin (may do everything). The key in <pki_dir>/admin.sign is always admin, as user \"admin\"",
    }),
    nodegroups: Type.Record(Type.String({ pattern: "^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$" }), Type.Union([Type.String({ minLength: 1, maxLength: 65536 }), Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { minItems: 1 })]), {
      default: {},
      description:
        "Salt's nodegroups, by name: a compound target (e.g. 'web* and G@os:Debian', may use N@other) or a list of minion ids; target one with `natrium run -N NAME` or N@NAME in a compound target. The master expands them before publishing (see docs/targeting.md)",
    }),
    request_window: Type.Number({
      default: 120,
      minimum: 5,
      maximum: 3600,
      description: "seconds a signed request stays valid (clock skew allowed both ways); request ids are remembered twice as long to refuse replays",
    }),
    gather_job_timeout: Type.Number({
      default: 10,
      minimum: 0,
      maximum: 3600,
      description:
        "seconds the master waits for answers when it asks minions that have not returned by a job's timeout whether they still run it (saltutil.find_job, Salt's name); it waits on for those that do. 0: no asking, the timeout closes the job",
    }),
    job_max_wait: Type.Number({
      default: 3600,
      minimum: 1,
      maximum: 604_800,
      description: "seconds after publication after which the master stops waiting for minions that still run a job; the job's done event names them as running",
    }),
    presence_timeout: Type.Number({
      default: 90,
      minimum: 1,
      maximum: 86_400,
      description:
        "seconds without a heartbeat (or a start, grains or return) after which a minion is down; a presence event records each up/down change. Also the grace period after the master starts before it declares anyone down. Keep it a few times the minions' heartbeat_interval (default 3 × 30)",
    }),
    command_ttl: Type.Number({ default: 300, minimum: 1, description: "seconds after publication during which a minion may still start a command" }),
    resume_window: Type.Number({ default: 3600, minimum: 0, description: "seconds back a (re)starting master looks for jobs it published and did not close, to close them; 0 turns this off" }),
    stream_max_age: Type.Number({ default: 0, minimum: 0, description: "hours the events stream keeps events; 0 keeps them until removed by hand" }),
    progress_max_age: Type.Number({ default: 3600, minimum: 1, description: "seconds the progress stream keeps job output chunks (`natrium run --stream`, `natrium jobs watch`); the job's return keeps the whole output regardless" }),
    progress_max_bytes: Type.Integer({ default: 256 * 1024 * 1024, minimum: 1024 * 1024, description: "bytes the progress stream may hold; the oldest chunks are dropped first" }),
    file_max_bytes: Type.Integer({
      default: 64 * 1024 * 1024,
      minimum: 1024,
      maximum: 1024 * 1024 * 1024,
      description: "largest file `natrium files put` may store in the master's file store (salt://); the master holds an upload in memory while it arrives",
    }),
    stream_replicas: Type.Integer({ default: 1, minimum: 1, maximum: 5, description: "JetStream replicas of the stream and buckets (3 in a cluster)" }),
  },
  { additionalProperties: false },
);
