// The JSON Schema (draft-07) of every message that crosses the wire, for other languages.
// TypeBox schemas already are JSON Schema; this strips TypeBox's symbol keys, adds $schema,
// $id and a title, and gives each document a stable file name. docs/schemas/*.json are these
// documents written out by test/vectors/gen-vectors.ts, and a unit test keeps them in step.

import type { TSchema } from "@sinclair/typebox";
import { eventValidators, type EventType } from "./events/index.js";
import {
  ErrorReply, PublishRequest, PublishReply, JobsQuery, JobsReply, JobQuery, JobReply,
  RebuildRequest, RebuildReply, StatusReply, KeysRequest, KeysReply, AuditQuery, AuditReply, MatchRequest, MatchReply, MinionsRequest, MinionsReply,
} from "./api.js";
import { SignedRequest } from "./request.js";
import { MasterKeyRecord, MinionKeyRecord, MinionDataRecord } from "./registry.js";

export const JSON_SCHEMA_DIALECT = "http://json-schema.org/draft-07/schema#";
const ID_BASE = "https://natrium.invalid/schemas/";

export interface SchemaDoc {
  /** File name under docs/schemas/. */
  file: string;
  /** Where the message travels. */
  where: string;
  schema: Record<string, unknown>;
}

function plain(title: string, file: string, s: TSchema): Record<string, unknown> {
  // JSON round trip drops TypeBox's symbol-keyed metadata and leaves plain JSON Schema.
  const body = JSON.parse(JSON.stringify(s)) as Record<string, unknown>;
  return { $schema: JSON_SCHEMA_DIALECT, $id: ID_BASE + file, title, ...body };
}

const eventWhere: Record<EventType, string> = {
  "job.new": "{ns}.job.{jid}.new",
  "job.ret": "{ns}.job.{jid}.ret.{minion}",
  "job.done": "{ns}.job.{jid}.done",
  "job.prog": "{ns}.job.{jid}.prog.{minion} (progress stream, not the events stream)",
  "minion.start": "{ns}.minion.{minion}.start",
  "minion.grains": "{ns}.minion.{minion}.grains",
  "minion.heartbeat": "{ns}.hb.{minion} (core NATS, not the events stream)",
  "minion.presence": "{ns}.minion.{minion}.presence",
  key: "{ns}.key.{minion}.{state}",
  audit: "{ns}.audit.{kind}",
};

const api: [string, string, TSchema][] = [
  ["SignedRequest", "the envelope of every signed {ns}.api.* request; body is the verb's request", SignedRequest],
  ["PublishRequest", "{ns}.api.publish request", PublishRequest],
  ["PublishReply", "{ns}.api.publish reply", PublishReply],
  ["MatchRequest", "{ns}.api.match request", MatchRequest],
  ["MatchReply", "{ns}.api.match reply", MatchReply],
  ["MinionsRequest", "{ns}.api.minions request", MinionsRequest],
  ["MinionsReply", "{ns}.api.minions reply", MinionsReply],
  ["KeysRequest", "{ns}.api.keys request", KeysRequest],
  ["KeysReply", "{ns}.api.keys reply", KeysReply],
  ["JobsQuery", "{ns}.api.jobs and {ns}.cache.jobs request", JobsQuery],
  ["JobsReply", "{ns}.api.jobs and {ns}.cache.jobs reply", JobsReply],
  ["JobQuery", "{ns}.api.job and {ns}.cache.job request", JobQuery],
  ["JobReply", "{ns}.api.job and {ns}.cache.job reply", JobReply],
  ["AuditQuery", "{ns}.api.audit and {ns}.cache.audit request", AuditQuery],
  ["AuditReply", "{ns}.api.audit and {ns}.cache.audit reply", AuditReply],
  ["RebuildRequest", "{ns}.cache.rebuild request", RebuildRequest],
  ["RebuildReply", "{ns}.cache.rebuild reply", RebuildReply],
  ["StatusReply", "{ns}.cache.status reply", StatusReply],
  ["ErrorReply", "any {ns}.api.* or {ns}.cache.* reply with a Natrium-Error header", ErrorReply],
];

const kv: [string, string, TSchema][] = [
  ["MasterKeyRecord", "KV {ns}_keys, key \"master\"", MasterKeyRecord],
  ["MinionKeyRecord", "KV {ns}_keys, key \"minion.<token>\"", MinionKeyRecord],
  ["MinionDataRecord", "KV {ns}_minions, key \"<token>\"", MinionDataRecord],
];

/** Every schema document, in a fixed order. */
export function jsonSchemas(): SchemaDoc[] {
  const out: SchemaDoc[] = [];
  for (const [type, v] of Object.entries(eventValidators) as [EventType, { schema: TSchema }][]) {
    const file = `event.${type}.json`;
    out.push({ file, where: eventWhere[type], schema: plain(`${type} event`, file, v.schema) });
  }
  for (const [name, where, s] of api) {
    const file = `api.${name}.json`;
    out.push({ file, where, schema: plain(name, file, s) });
  }
  for (const [name, where, s] of kv) {
    const file = `kv.${name}.json`;
    out.push({ file, where, schema: plain(name, file, s) });
  }
  return out;
}
