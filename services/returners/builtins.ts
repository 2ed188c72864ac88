// The returners that ship with Natrium, by the name `natrium returner start --module NAME`
// takes. Each is imported only when asked for, so the redis client is not loaded for a webhook.
import type { ReturnerModule } from "./sdk.js";

export const builtins: Record<string, () => Promise<{ default: ReturnerModule }>> = {
  jsonl: () => import("./jsonl.js"),
  webhook: () => import("./webhook.js"),
  syslog: () => import("./syslog.js"),
  redis: () => import("./redis.js"),
  pg: () => import("./pg.js"),
};
