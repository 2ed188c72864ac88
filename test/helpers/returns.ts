// Realistic records for returner tests: each body passes the real event validator (the
// same check the host's verification applies), then gets the envelope fields the host adds.
import { jobDone, jobPublished, jobReturned, type JobDone } from "../../contracts/events/job.js";
import { eventIds } from "../../contracts/ids.js";
import { subjects } from "../../contracts/subjects.js";
import type { EventRecord, JobRecord, ReturnRecord } from "../../services/returners/sdk.js";

export const BASE_TS = Date.UTC(2026, 10, 27, 8, 0, 0);

/** A 20-digit jid for job number n (later n, later jid). */
export function jidOf(n: number): string {
  return `2026112708${String(n).padStart(10, "0")}`;
}

export interface ReturnOptions {
  jid?: string;
  id?: string;
  fun?: string;
  ret?: unknown;
  success?: boolean;
  retcode?: number;
  seq?: number;
  ns?: string;
}

export function makeReturn(o: ReturnOptions = {}): ReturnRecord {
  const jid = o.jid ?? jidOf(1);
  const id = o.id ?? "web1.example.com";
  const success = o.success ?? true;
  const body = jobReturned.parse({
    v: 1,
    type: "job.ret",
    eid: eventIds.jobRet(jid, id),
    ts: BASE_TS + 1500,
    jid,
    id,
    fun: o.fun ?? "test.ping",
    fun_args: [],
    return: o.ret ?? true,
    retcode: o.retcode ?? (success ? 0 : 1),
    success,
    start: BASE_TS + 1000,
    end: BASE_TS + 1400,
    duration_ms: 400,
  });
  return { ...body, seq: o.seq ?? 1, subject: subjects(o.ns ?? "natrium").jobRet(jid, id) };
}

export function makeJob(jid = jidOf(1), minions = ["web1.example.com", "db-01"], seq = 1): JobRecord {
  const body = jobPublished.parse({
    v: 1,
    type: "job.new",
    eid: eventIds.jobNew(jid),
    ts: BASE_TS,
    jid,
    fun: "cmd.run",
    arg: ["uptime"],
    kwarg: {},
    tgt: "*",
    tgt_type: "glob",
    user: "admin",
    master: "master1",
    minions,
    timeout: 5,
    expires: BASE_TS + 60_000,
    ret: [],
  });
  return { ...body, seq };
}

export function makeDone(jid = jidOf(1), seq = 3): JobDone & { eid: string; seq: number } {
  const body = jobDone.parse({
    v: 1,
    type: "job.done",
    eid: eventIds.jobDone(jid),
    ts: BASE_TS + 5000,
    jid,
    expected: ["web1.example.com", "db-01"],
    returned: ["web1.example.com"],
    missing: ["db-01"],
    unexpected: [],
    reason: "timeout",
  });
  return { ...body, seq };
}

/** The event record of a return, as `eventReturn` gets it. */
export function eventOf(ret: ReturnRecord): EventRecord {
  const { seq, subject, ...body } = ret;
  return { eid: ret.eid, seq, subject, type: "job.ret", signer: `minion ${ret.id}`, body, time: ret.ts + 5 };
}

/** A logger that keeps what it was told, for asserting on warnings. */
export function memoryLog() {
  const lines: { level: string; msg: string; fields?: Record<string, unknown> }[] = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, fields });
  return { lines, debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error") };
}
