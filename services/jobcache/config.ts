// The job cache's configuration keys. docs/jobcache.md lists them; describeConfig() prints them.

import { Type, type Static } from "@sinclair/typebox";
import { CommonConfig } from "../common/config.js";

export const JobcacheConfig = Type.Object(
  {
    ...CommonConfig,
    database_url: Type.String({
      default: "",
      description:
        "PostgreSQL URL (postgres://user:pass@host:port/db); DATABASE_URL overrides; empty = embedded PGlite in <data_dir>/jobcache/pglite",
    }),
    batch_size: Type.Integer({
      default: 500,
      minimum: 1,
      maximum: 4000,
      description: "most events written in one transaction",
    }),
    batch_wait_ms: Type.Integer({
      default: 20,
      minimum: 0,
      maximum: 5000,
      description: "how long a batch that is not full waits for more events before it is written",
    }),
    ack_wait_sec: Type.Integer({
      default: 60,
      minimum: 5,
      maximum: 3600,
      description: "seconds JetStream waits for an event's ack before delivering it again",
    }),
    keep_jobs: Type.Number({
      default: 24,
      minimum: 0,
      maximum: 87_600,
      description: "hours a job stays in the history (Salt's keep_jobs); older jobs, their returns and events rows are pruned, and jobs without returns too; 0 keeps everything. The stream's own max age is the master's stream_max_age",
    }),
    prune_interval: Type.Integer({
      default: 600,
      minimum: 10,
      maximum: 86_400,
      description: "seconds between two prunes of jobs older than keep_jobs",
    }),
    db_pool_size: Type.Integer({
      default: 4,
      minimum: 2,
      maximum: 100,
      description: "PostgreSQL connections (one writes, the others answer queries); unused with PGlite",
    }),
  },
  { additionalProperties: false },
);
export type JobcacheConfig = Static<typeof JobcacheConfig>;
