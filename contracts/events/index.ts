import { jobPublished, jobReturned, jobDone, jobProgress, type JobPublished, type JobReturned, type JobDone, type JobProgress } from "./job.js";
import {
  minionStarted, minionGrains, minionHeartbeat, minionPresence, keyChanged, audited,
  type MinionStarted, type MinionGrains, type MinionHeartbeat, type MinionPresence, type KeyChanged, type Audited,
} from "./minion.js";

export * from "./job.js";
export * from "./minion.js";

/** Every event type (persisted, and the core-only job.prog and minion.heartbeat), and its validator. */
export const eventValidators = {
  "job.new": jobPublished,
  "job.ret": jobReturned,
  "job.done": jobDone,
  "job.prog": jobProgress,
  "minion.start": minionStarted,
  "minion.grains": minionGrains,
  "minion.heartbeat": minionHeartbeat,
  "minion.presence": minionPresence,
  key: keyChanged,
  audit: audited,
} as const;

export type EventType = keyof typeof eventValidators;
export type NatriumEvent = JobPublished | JobReturned | JobDone | JobProgress | MinionStarted | MinionGrains | MinionHeartbeat | MinionPresence | KeyChanged | Audited;
export type EventOf<T extends EventType> = Extract<NatriumEvent, { type: T }>;

export function isEventType(t: string): t is EventType {
  return Object.prototype.hasOwnProperty.call(eventValidators, t);
}
