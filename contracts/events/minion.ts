import { Type, type Static } from "@sinclair/typebox";
import { event, Millis, MinionId, PublicKey } from "./common.js";
import { validator } from "../schema.js";
import { KeyStates } from "../subjects.js";

/** `{ns}.minion.{id}.start`: a minion came up. Self-signed: proves it holds the key it presents. */
export const MinionStarted = event(
  "minion.start",
  {
    id: MinionId,
    pub: PublicKey,
    box_pub: PublicKey,
    version: Type.String({ maxLength: 100 }),
    pid: Type.Integer({ minimum: 0 }),
    host: Type.String({ maxLength: 255 }),
  },
  "A minion started and presents its keys for acceptance.",
);
export type MinionStarted = Static<typeof MinionStarted>;
export const minionStarted = validator("minion.start event", MinionStarted);

/** `{ns}.minion.{id}.grains`: the minion's facts, signed by the minion. */
export const MinionGrains = event(
  "minion.grains",
  { id: MinionId, grains: Type.Record(Type.String(), Type.Unknown()) },
  "A minion's grains (facts about it), sent at start and on refresh.",
);
export type MinionGrains = Static<typeof MinionGrains>;
export const minionGrains = validator("minion.grains event", MinionGrains);

/**
 * `{ns}.hb.{id}`: the minion is alive. Core NATS only (never in the events stream), signed by the
 * minion's accepted key; small, since every minion sends one every `heartbeat_interval`.
 */
export const MinionHeartbeat = event(
  "minion.heartbeat",
  {
    id: MinionId,
    interval: Type.Number({ exclusiveMinimum: 0, maximum: 86_400, description: "seconds until the next heartbeat (the minion's heartbeat_interval)" }),
  },
  "A minion's heartbeat: it is up. Sent on core NATS every heartbeat_interval seconds; not persisted.",
);
export type MinionHeartbeat = Static<typeof MinionHeartbeat>;
export const minionHeartbeat = validator("minion.heartbeat event", MinionHeartbeat);

export const PresenceStates = ["up", "down"] as const;
export type PresenceState = (typeof PresenceStates)[number];

/** Why the master decided a minion's presence. */
export const PresenceReasons = ["seen", "timeout", "never_seen"] as const;
export type PresenceReason = (typeof PresenceReasons)[number];

/** What the master saw that proves a minion up. */
export const PresenceVias = ["heartbeat", "start", "return"] as const;
export type PresenceVia = (typeof PresenceVias)[number];

/** `{ns}.minion.{id}.presence`: the master's verdict that a minion came up or went down. Signed by the master. */
export const MinionPresence = event(
  "minion.presence",
  {
    id: MinionId,
    state: Type.Union(PresenceStates.map((s) => Type.Literal(s))),
    reason: Type.Union(PresenceReasons.map((s) => Type.Literal(s)), {
      description: "seen: a verified message from the minion (first sight, or after it was down); timeout: nothing from it for presence_timeout; never_seen: nothing from it since the master started, and no earlier presence record",
    }),
    via: Type.Optional(Type.Union(PresenceVias.map((s) => Type.Literal(s)), { description: "for up: the kind of message that showed the minion up" })),
    last_seen: Type.Optional(Millis),
    timeout: Type.Number({ exclusiveMinimum: 0, description: "the master's presence_timeout, seconds" }),
    master: Type.String({ maxLength: 255 }),
  },
  "The master decided a minion is up (first sight, or back after being down) or down (silent for presence_timeout).",
);
export type MinionPresence = Static<typeof MinionPresence>;
export const minionPresence = validator("minion.presence event", MinionPresence);

/** `{ns}.key.{id}.{state}`: the master changed a minion key's state. Signed by the master. */
export const KeyChanged = event(
  "key",
  {
    id: MinionId,
    state: Type.Union(KeyStates.map((s) => Type.Literal(s))),
    pub: PublicKey,
    box_pub: Type.Optional(PublicKey),
    finger: Type.String(),
    by: Type.String({ maxLength: 255, description: "who changed it: 'auto_accept' or a user" }),
  },
  "A minion key was accepted, rejected, deleted or is pending.",
);
export type KeyChanged = Static<typeof KeyChanged>;
export const keyChanged = validator("key event", KeyChanged);

/** `{ns}.audit.{kind}`: something was refused. Signed by whoever refused it. */
export const Audited = event(
  "audit",
  {
    kind: Type.String({ maxLength: 64 }),
    reason: Type.String({ maxLength: 4096 }),
    subject: Type.Optional(Type.String({ maxLength: 1024 })),
    actor: Type.Optional(Type.String({ maxLength: 255 })),
    detail: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  },
  "A refused request, a bad signature or rejected input, kept for the audit trail.",
);
export type Audited = Static<typeof Audited>;
export const audited = validator("audit event", Audited);
