// Current state kept in JetStream KV buckets (values are msgpack). The stream is the history;
// these buckets are what a service reads at start-up to know where things stand now.
//
//   {ns}_keys     "master"            -> MasterKeyRecord   (written by the master at start)
//                 "minion.<token>"    -> MinionKeyRecord   (written by the master on accept etc.)
//   {ns}_minions  "<token>"           -> MinionDataRecord  (the minion data cache: grains)
//
// <token> is encodeToken(minion id).

import { Type, type Static } from "@sinclair/typebox";
import { validator } from "./schema.js";
import { Millis, MinionId, PublicKey } from "./events/common.js";
import { KeyStates, encodeToken } from "./subjects.js";

export const registryKeys = {
  master: "master",
  minionKey: (id: string) => `minion.${encodeToken(id)}`,
  minionData: (id: string) => encodeToken(id),
};

export const MasterKeyRecord = Type.Object({
  id: Type.String(),
  pub: PublicKey,
  box_pub: PublicKey,
  finger: Type.String(),
  ts: Millis,
});
export type MasterKeyRecord = Static<typeof MasterKeyRecord>;
export const masterKeyRecord = validator("master key record", MasterKeyRecord);

export const MinionKeyRecord = Type.Object({
  id: MinionId,
  state: Type.Union(KeyStates.map((s) => Type.Literal(s))),
  pub: PublicKey,
  box_pub: PublicKey,
  finger: Type.String(),
  ts: Millis,
});
export type MinionKeyRecord = Static<typeof MinionKeyRecord>;
export const minionKeyRecord = validator("minion key record", MinionKeyRecord);

export const MinionDataRecord = Type.Object({
  id: MinionId,
  grains: Type.Record(Type.String(), Type.Unknown()),
  ts: Millis,
});
export type MinionDataRecord = Static<typeof MinionDataRecord>;
export const minionDataRecord = validator("minion data record", MinionDataRecord);
