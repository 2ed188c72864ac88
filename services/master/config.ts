import { Type } from "@sinclair/typebox";
import { CommonConfig } from "../common/config.js";

/** Master configuration keys; docs/config.md lists them from this schema. */
export const MasterConfig = Type.Object(
  {
    ...CommonConfig,
    id: Type.String({ default: "master", minLength: 1, maxLength: 255, description: "this master's name, recorded in every job it publishes" }),
    timeout: Type.Number({ default: 5, minimum: 0.1, maximum: 86_400, description: "seconds a job waits for returns when the request names no timeout (Salt's default: 5)" }),
    auto_accept: Type.Boolean({ default: true, description: "accept every new minion key automatically (key management comes with the trust issue)" }),
    command_ttl: Type.Number({ default: 300, minimum: 1, description: "seconds after publication during which a minion may still start a command" }),
    resume_window: Type.Number({ default: 3600, minimum: 0, description: "seconds back a (re)starting master looks for jobs it published and did not close, to close them; 0 turns this off" }),
    stream_max_age: Type.Number({ default: 0, minimum: 0, description: "hours the events stream keeps events; 0 keeps them until removed by hand" }),
    stream_replicas: Type.Integer({ default: 1, minimum: 1, maximum: 5, description: "JetStream replicas of the stream and buckets (3 in a cluster)" }),
  },
  { additionalProperties: false },
);
