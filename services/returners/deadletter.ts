// Dead letters: a message a returner gave up on is republished, payload and Natrium headers as
// they were (so it can still be verified and replayed), on `{ns}.dead.<name>.<why>` in the
// `{NS}_DEAD` stream, with what went wrong in DeadHeaders. Only once JetStream has stored it is
// the original acknowledged: a dead letter is counted, never silently dropped.

import { headers as natsHeaders } from "@nats-io/transport-node";
import { DeliverPolicy, jetstream, type JetStreamClient } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { H } from "../../contracts/message.js";
import { DeadHeaders } from "../../contracts/returners.js";
import type { DeadReason, Subjects } from "../../contracts/subjects.js";
import type { StreamMessage } from "./sdk.js";

export interface DeadLetterInput {
  name: string;
  why: DeadReason;
  msg: StreamMessage;
  error: string;
  attempts: number;
  now: number;
}

export async function publishDeadLetter(js: JetStreamClient, s: Subjects, d: DeadLetterInput): Promise<void> {
  const h = natsHeaders();
  for (const k of [H.type, H.signer, H.sig, H.msgId]) {
    const v = d.msg.headers?.get(k);
    if (v) h.set(k === H.msgId ? DeadHeaders.eid : k, v);
  }
  h.set(DeadHeaders.subject, d.msg.subject);
  h.set(DeadHeaders.seq, String(d.msg.seq));
  // Header values are one line; the error is for a human reading `returners dead`.
  h.set(DeadHeaders.error, d.error.replace(/[\r\n]+/g, " ").slice(0, 2000));
  h.set(DeadHeaders.attempts, String(d.attempts));
  h.set(DeadHeaders.returner, d.name);
  h.set(DeadHeaders.ts, String(d.now));
  // The stream sequence names the original uniquely: a second process giving up on the same
  // message within the dedupe window adds nothing.
  await js.publish(s.deadLetter(d.name, d.why), d.msg.data, { headers: h, msgID: `${d.name}.${d.msg.seq}.${d.why}`, timeout: 5000 });
}

/** One dead letter as `natrium returners dead` shows it. */
export interface DeadLetter {
  /** Sequence in the dead-letter stream. */
  dead_seq: number;
  why: DeadReason;
  subject: string;
  seq: number;
  eid?: string;
  type?: string;
  error: string;
  attempts: number;
  ts: number;
  /** The original payload, base64 (msgpack of the event body). */
  payload_b64: string;
}

/** The first `limit` dead letters of a returner, oldest first. */
export async function readDeadLetters(nc: NatsConnection, s: Subjects, name: string, limit: number): Promise<DeadLetter[]> {
  const js = jetstream(nc);
  let c;
  try {
    c = await js.consumers.get(s.deadStream, { filter_subjects: s.deadLetters(name), deliver_policy: DeliverPolicy.All });
  } catch (err) {
    // No dead-letter stream yet: no returner ever ran here, so nothing was dead-lettered.
    if (/stream not found/i.test(String((err as Error).message))) return [];
    throw err;
  }
  const out: DeadLetter[] = [];
  const info = await c.info(true);
  let left = Math.min(limit, info.num_pending);
  while (left > 0) {
    const batch = await c.fetch({ max_messages: Math.min(left, 500), expires: 2000 });
    let got = 0;
    for await (const m of batch) {
      got++;
      const hh = m.headers;
      out.push({
        dead_seq: m.seq,
        why: m.subject.endsWith(".refused") ? "refused" : "failed",
        subject: hh?.get(DeadHeaders.subject) ?? "",
        seq: Number(hh?.get(DeadHeaders.seq) ?? 0),
        ...(hh?.get(DeadHeaders.eid) ? { eid: hh.get(DeadHeaders.eid) } : {}),
        ...(hh?.get(H.type) ? { type: hh.get(H.type) } : {}),
        error: hh?.get(DeadHeaders.error) ?? "",
        attempts: Number(hh?.get(DeadHeaders.attempts) ?? 0),
        ts: Number(hh?.get(DeadHeaders.ts) ?? 0),
        payload_b64: Buffer.from(m.data).toString("base64"),
      });
    }
    if (!got) break;
    left -= got;
  }
  return out;
}
