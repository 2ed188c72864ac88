// Job ids in Salt's 20-digit form: UTC YYYYMMDDhhmmss plus six digits of microseconds.
// Within one process they strictly increase. Across masters, uniqueness is enforced where it
// can be: the master publishes job.new with Nats-Msg-Id = "<jid>.new", so the stream's dedupe
// window rejects a second job with the same jid and that master takes the next one.

import { checkJid } from "./subjects.js";

let last = 0n; // microseconds since the epoch of the last jid handed out

function nowMicros(): bigint {
  // performance.timeOrigin + now() has sub-millisecond resolution; Date.now() alone does not.
  return BigInt(Math.floor((performance.timeOrigin + performance.now()) * 1000));
}

export function formatJid(micros: bigint): string {
  const ms = Number(micros / 1000n);
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return (
    p(d.getUTCFullYear(), 4) + p(d.getUTCMonth() + 1) + p(d.getUTCDate()) +
    p(d.getUTCHours()) + p(d.getUTCMinutes()) + p(d.getUTCSeconds()) +
    p(Number(micros % 1_000_000n), 6)
  );
}

/** A new jid, strictly greater than any this process made before (`after` to skip a taken one). */
export function newJid(after?: string): string {
  let t = nowMicros();
  if (after !== undefined) {
    const a = jidToMicros(after);
    if (t <= a) t = a + 1n;
  }
  if (t <= last) t = last + 1n;
  last = t;
  return formatJid(t);
}

export function jidToMicros(jid: string): bigint {
  checkJid(jid);
  const ms = Date.UTC(
    +jid.slice(0, 4), +jid.slice(4, 6) - 1, +jid.slice(6, 8),
    +jid.slice(8, 10), +jid.slice(10, 12), +jid.slice(12, 14),
  );
  return BigInt(ms) * 1000n + BigInt(+jid.slice(14, 20));
}

export function jidToDate(jid: string): Date {
  return new Date(Number(jidToMicros(jid) / 1000n));
}
