import { createHash, randomBytes } from "node:crypto";
import { encodeToken } from "./subjects.js";

// Event ids. Events that must happen once per fact get a deterministic id, so a retried
// publish is dropped by the stream's dedupe window and a projection's unique key catches
// anything later: one command per jid, one return per (jid, minion), one done per jid.
export const eventIds = {
  jobNew: (jid: string) => `${jid}.new`,
  jobRet: (jid: string, minion: string) => `${jid}.ret.${encodeToken(minion)}`,
  jobDone: (jid: string) => `${jid}.done`,
  jobProg: (jid: string, minion: string, seq: number) => `${jid}.prog.${encodeToken(minion)}.${seq}`,
  /**
   * A presence verdict, named by what caused it (the eid of the message that showed the minion
   * up, or of the last one seen before it went silent): several masters watching the same
   * heartbeats reach the same verdict with the same id, and the stream keeps one. Hashed, as a
   * token can be longer than an event id may be.
   */
  presence: (minion: string, state: "up" | "down", cause: string) =>
    `presence.${state}.${createHash("sha256").update(`${encodeToken(minion)}\n${cause}`).digest("hex").slice(0, 40)}`,
  /** Everything else (starts, grains, keys, audits) is a fresh fact each time. */
  unique: (prefix: string) => `${prefix}.${Date.now().toString(36)}${randomBytes(8).toString("hex")}`,
};
