import { Type, type Static } from "@sinclair/typebox";
import { event, MinionId, PublicKey } from "./common.js";
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
