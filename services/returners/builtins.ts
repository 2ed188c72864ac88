// The returners that ship with Natrium, by the name `natrium returner start --module NAME`
// takes. Imported lazily: a host loads only the one it runs.
import type { ReturnerModule } from "./sdk.js";

export const builtins: Record<string, () => Promise<{ default: ReturnerModule }>> = {
  jsonl: () => import("./jsonl.js"),
};
