import { randomBytes } from "node:crypto";
import { encodeToken } from "./subjects.js";

// Event ids. Events that must happen once per fact get a deterministic id, so a retried
// publish is dropped by the stream's dedupe window and a projection's unique key catches
// anything later: one command per jid, one return per (jid, minion), one done per jid.
export const eventIds = {
  jobNew: (jid: string) => `${jid}.new`,
  jobRet: (jid: string, minion: string) => `${jid}.ret.${encodeToken(minion)}`,
  jobDone: (jid: string) => `${jid}.done`,
  jobProg: (jid: string, minion: string, seq: number) => `${jid}.prog.${encodeToken(minion)}.${seq}`,
  /** Everything else (starts, grains, keys, audits) is a fresh fact each time. */
  unique: (prefix: string) => `${prefix}.${Date.now().toString(36)}${randomBytes(8).toString("hex")}`,
};
