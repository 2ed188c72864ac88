// The returner host's configuration keys (`natrium returner start -c returner.yaml`, or flags).
// docs/config.md lists them; the returner module's own keys go under `config`.

import { Type, type Static } from "@sinclair/typebox";
import { CommonConfig } from "../common/config.js";
import { ReturnerModes } from "../../contracts/returners.js";

export const ReturnerConfig = Type.Object(
  {
    ...CommonConfig,
    name: Type.String({
      default: "",
      description: "the returner's name (1-64 letters, digits, '_', '-'); its durable consumer is returner_<name>, shared by every process of that name",
    }),
    module: Type.String({ default: "", description: "a built-in returner (jsonl) or the path of a JavaScript module whose default export is a ReturnerModule" }),
    mode: Type.Union([...ReturnerModes.map((m) => Type.Literal(m)), Type.Literal("")], {
      default: "",
      description: "all (every return) or requested (only jobs run with --return <name>); empty: as registered by `returners add`, else all",
    }),
    filter_fun: Type.String({ default: "", description: "deliver only returns (and jobs) of functions matching this glob, e.g. 'state.*'; empty: as registered, else every function" }),
    filter_minion: Type.String({ default: "", description: "deliver only returns of minions whose id matches this glob; empty: as registered, else every minion" }),
    from: Type.String({
      default: "now",
      description: "where a new durable starts: now, start (the whole stream: backfill) or an ISO time; ignored once the durable exists",
    }),
    max_deliver: Type.Integer({
      default: 10,
      minimum: 1,
      maximum: 1000,
      description: "attempts before a message is dead-lettered; with the default backoff (1 s, doubling, at most 60 s) ten attempts span about four minutes, so a target that is down for a while loses nothing",
    }),
    ack_wait_sec: Type.Integer({
      default: 30,
      minimum: 1,
      maximum: 3600,
      description: "seconds a delivery may take before JetStream gives the message to another process (a running call keeps extending it)",
    }),
    retry_backoff_ms: Type.Integer({ default: 1000, minimum: 0, maximum: 3_600_000, description: "delay before the first retry of a failed delivery; doubles with each attempt" }),
    retry_backoff_max_ms: Type.Integer({ default: 60_000, minimum: 0, maximum: 3_600_000, description: "longest delay between two retries" }),
    serve_queries: Type.Boolean({
      default: false,
      description: "answer `natrium jobs list` and `jobs show` from the module's getJid/getJids/getLoad/getMinions (Salt's replacing the default job cache); the module must implement all four",
    }),
    batch_size: Type.Integer({ default: 100, minimum: 1, maximum: 4000, description: "most events handed to eventReturn in one call (and pulled at once)" }),
    batch_wait_ms: Type.Integer({ default: 20, minimum: 0, maximum: 5000, description: "how long a batch that is not full waits for more events" }),
    config: Type.Record(Type.String(), Type.Unknown(), { default: {}, description: "the returner module's own keys (see its header); `--config k=v` on the command line" }),
  },
  { additionalProperties: false },
);
export type ReturnerConfig = Static<typeof ReturnerConfig>;
