// Small pure pieces of the minion's defences, kept apart so unit tests can drive them directly.

import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";

/**
 * The jids this minion has accepted recently, to refuse a command seen before. Bounded: the
 * oldest entries go first. A command older than its `expires` is refused anyway, so the window
 * only has to cover the jobs of one expiry period.
 *
 * With a `file`, the jids outlive the process: a command captured before a restart and
 * replayed after it (still unexpired) is refused too. One line per jid ("jid sig expires"),
 * appended as each command is accepted; the file is rewritten with the unexpired entries at
 * start and whenever it holds twice as many lines as entries.
 */
export class SeenJids {
  private m = new Map<string, string>();
  private expiry = new Map<string, number>();
  private lines = 0;

  constructor(readonly max = 4096, private readonly file?: string, now = Date.now()) {
    if (!file || !existsSync(file)) return;
    for (const line of readFileSync(file, "utf8").split("\n")) {
      const [jid, sig, exp] = line.split(" ");
      const expires = Number(exp);
      // A torn last line (crash mid-write) or garbage is skipped, never fatal.
      if (!jid || !sig || !Number.isFinite(expires) || expires < now) continue;
      this.remember(jid, sig, expires);
    }
    this.compact();
  }

  private remember(jid: string, sig24: string, expires: number): void {
    this.m.delete(jid);
    this.m.set(jid, sig24);
    this.expiry.set(jid, expires);
    if (this.m.size > this.max) {
      const oldest = this.m.keys().next().value as string;
      this.m.delete(oldest);
      this.expiry.delete(oldest);
    }
  }

  private compact(): void {
    if (!this.file) return;
    const now = Date.now();
    const live = [...this.m.keys()].filter((j) => (this.expiry.get(j) ?? 0) >= now);
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, live.map((j) => `${j} ${this.m.get(j)} ${this.expiry.get(j)}\n`).join(""), { mode: 0o600 });
    renameSync(tmp, this.file);
    this.lines = live.length;
  }

  /** undefined if new; otherwise whether the earlier copy carried the same signature. */
  check(jid: string, sig: string): { identical: boolean } | undefined {
    const prev = this.m.get(jid);
    return prev === undefined ? undefined : { identical: prev === sig.slice(0, 24) };
  }

  /** `expires`: when the command stops being runnable anyway (ms); after that the jid may be forgotten. */
  add(jid: string, sig: string, expires = Number.MAX_SAFE_INTEGER): void {
    const sig24 = sig.slice(0, 24);
    this.remember(jid, sig24, expires);
    if (!this.file) return;
    // Before the command runs: a crash while it runs must not let its replay run it again.
    appendFileSync(this.file, `${jid} ${sig24} ${expires}\n`, { mode: 0o600 });
    if (++this.lines > 2 * Math.max(this.m.size, 64)) this.compact();
  }

  get size(): number {
    return this.m.size;
  }
}

// Shared with the master (heartbeat audits): one token bucket for both.
export { RateLimit } from "../common/ratelimit.js";

/** At most `n` tasks at once; the rest queue in order. Keeps 10,000 identities from flooding one connection. */
export class Semaphore {
  private active = 0;
  private queue: (() => void)[] = [];
  constructor(readonly n: number) {}

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((r) => this.queue.push(r));
    this.active++;
    try {
      return await task();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }
}

/**
 * A job's return as it goes on the wire: msgpack cannot carry undefined, BigInt or functions,
 * and readers refuse msgpack extensions (Date), so a return is reduced to JSON's data model.
 */
export function toWire(v: unknown): unknown {
  if (v === undefined) return null;
  if (v === null || typeof v === "string" || typeof v === "boolean") return v;
  if (typeof v === "number") return Number.isFinite(v) ? v : String(v);
  const json = JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? x.toString() : x instanceof Uint8Array ? Buffer.from(x).toString("base64") : x));
  return json === undefined ? null : JSON.parse(json);
}

export function normFinger(f: string): string {
  return f.toLowerCase().replace(/[^0-9a-f]/g, "");
}
