// Which of a returner's functions a verified event goes to: pure, so the rules (mode, filters,
// capabilities) are tested without a server.
//
//   job.ret  -> returner(ret)  if mode, function and minion filters let it through
//   job.new  -> saveLoad(job)  if mode and function filter let it through (minion filter: no,
//                              a job is not one minion's)
//   job.done -> jobDone(done)  likewise, judged by the job's job.new
//   any      -> eventReturn    every verified event, unfiltered (Salt's event_return sees the bus)

import type { Opened } from "../../contracts/message.js";
import type { ReturnerMode } from "../../contracts/returners.js";
import type { JobDone } from "../../contracts/events/job.js";
import type { NatriumEvent } from "../../contracts/events/index.js";
import { globToRegExp, type Pattern } from "../common/target.js";
import type { EventRecord, JobRecord, ReturnRecord, ReturnerModule } from "./sdk.js";

export interface Filters {
  name: string;
  mode: ReturnerMode;
  fun?: Pattern;
  minion?: Pattern;
}

export function filters(name: string, mode: ReturnerMode, filterFun?: string, filterMinion?: string): Filters {
  return { name, mode, ...(filterFun ? { fun: globToRegExp(filterFun) } : {}), ...(filterMinion ? { minion: globToRegExp(filterMinion) } : {}) };
}

/** What a job's job.new says, as far as routing its returns and its done go. */
export interface JobFacts {
  fun: string;
  ret: readonly string[];
}

export interface Capabilities {
  saveLoad: boolean;
  jobDone: boolean;
  eventReturn: boolean;
}

export function capabilities(m: ReturnerModule): Capabilities {
  return { saveLoad: typeof m.saveLoad === "function", jobDone: typeof m.jobDone === "function", eventReturn: typeof m.eventReturn === "function" };
}

export interface Delivery {
  returner?: ReturnRecord;
  saveLoad?: JobRecord;
  jobDone?: JobDone & { eid: string; seq: number };
  event?: EventRecord;
}

export interface Meta {
  seq: number;
  /** Stream timestamp, ms. */
  time: number;
  /** "master" or "minion <id>". */
  signer: string;
}

/** Does routing this event need its job's job.new (requested mode, or a function filter on a job.done)? */
export function needsJobFacts(o: Opened, f: Filters, caps: Capabilities): string | undefined {
  const b = o.body;
  if (b.type === "job.ret" && f.mode === "requested") return b.jid;
  if (b.type === "job.done" && caps.jobDone && (f.mode === "requested" || f.fun)) return b.jid;
  return undefined;
}

function wanted(f: Filters, facts: JobFacts | undefined): boolean {
  if (f.mode === "requested" && !facts?.ret.includes(f.name)) return false;
  return true;
}

/** A verified event as returners see it (sdk.ts EventRecord). */
export function eventRecord(subject: string, b: NatriumEvent, meta: Meta): EventRecord {
  return { eid: b.eid, seq: meta.seq, subject, type: b.type, signer: meta.signer, body: b as unknown as Record<string, unknown>, time: meta.time };
}

export function route(o: Opened, meta: Meta, f: Filters, caps: Capabilities, facts?: JobFacts): Delivery {
  const d: Delivery = {};
  const b = o.body;
  if (caps.eventReturn) d.event = eventRecord(o.subject, b, meta);
  switch (b.type) {
    case "job.ret":
      if (wanted(f, facts) && (!f.fun || f.fun.test(b.fun)) && (!f.minion || f.minion.test(b.id))) {
        d.returner = { ...b, seq: meta.seq, subject: o.subject };
      }
      break;
    case "job.new":
      if (caps.saveLoad && wanted(f, { fun: b.fun, ret: b.ret }) && (!f.fun || f.fun.test(b.fun))) d.saveLoad = { ...b, seq: meta.seq };
      break;
    case "job.done":
      if (caps.jobDone && wanted(f, facts) && (!f.fun || (facts !== undefined && f.fun.test(facts.fun)))) d.jobDone = { ...b, seq: meta.seq };
      break;
    default:
      break;
  }
  return d;
}

export function isEmpty(d: Delivery): boolean {
  return !d.returner && !d.saveLoad && !d.jobDone && !d.event;
}
