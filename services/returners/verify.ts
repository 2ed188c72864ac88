// Is a stream message genuine? The same decision the job cache makes (services/jobcache/
// projection.ts `decide`: decode, schema, subject agrees with body, signed by the right key),
// with trust taken from the keys bucket instead of replayed key events.

import { parseSubject } from "../../contracts/subjects.js";
import { NatriumError } from "../../contracts/errors.js";
import { decide, type RawMessage, type Verdict } from "../jobcache/projection.js";
import type { Checked, StreamMessage } from "./sdk.js";
import { eventRecord } from "./route.js";
import type { KeyBook } from "./trust.js";

/** Trust cannot be decided yet (no master key): not the message's fault, so it is retried. */
export class TrustUnavailableError extends NatriumError {
  constructor() {
    super("trust_unavailable", "the master key is not in the keys bucket yet: start the master");
  }
}

export async function check(ns: string, m: RawMessage, book: KeyBook): Promise<Verdict> {
  const p = parseSubject(ns, m.subject);
  if (p && "minion" in p) await book.refresh(p.minion);
  const masterPub = await book.master();
  if (!masterPub) throw new TrustUnavailableError();
  return decide(m, { ns, masterPub }, { keys: book.keys });
}

/** check(), as an ordered returner's ctx.verify() answers: the verified event as an EventRecord, or why not. */
export async function checkRecord(ns: string, m: StreamMessage, book: KeyBook): Promise<Checked> {
  const v = await check(ns, m, book);
  if (!v.ok) return { ok: false, kind: v.kind, reason: v.reason };
  const b = v.event.body;
  return { ok: true, event: eventRecord(m.subject, b, { seq: m.seq, time: m.time, signer: await book.signerOf(b, v.event.signer) }) };
}
