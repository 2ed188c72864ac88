// Checking many signatures at once off the main thread: the job cache's heaviest per-event
// work. A batch is packed into one buffer per worker (key, signature, signed bytes, back to
// back) and transferred, not cloned: message payloads are views into the connection's read
// buffers, and cloning a view copies its whole buffer. Each worker verifies its share with
// libsodium synchronously. On this machine kind two workers check ~16,000 signatures/s where
// node:crypto's thread-pool form managed ~10,400/s (docs/performance.md).

import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { publicKeyBytes, signatureBytes, signedBytes, verifyRaw } from "../../contracts/sign.js";

export interface Signed {
  /** Signer's public key, base64, as the Natrium-Signer header gives it. */
  pub: string | undefined;
  subject: string;
  payload: Uint8Array;
  /** Signature, base64, as the Natrium-Sig header gives it. */
  sig: string | undefined;
}

/** What a worker is sent: records back to back, each key (32) ‖ signature (64) ‖ signed bytes. */
export interface VerifyJob {
  id: number;
  buf: ArrayBuffer;
  /** Record i spans offsets[i]..offsets[i+1]. */
  offsets: Uint32Array;
}

export interface VerifyResult {
  id: number;
  /** 1 where record i verified. */
  ok: Uint8Array;
}

/** Batches smaller than this are checked on the caller's thread: a round trip costs more. */
const INLINE_BELOW = 8;

/** After this many worker deaths the pool stops starting workers and checks everything inline. */
const MAX_DEATHS = 16;

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (r: Uint8Array) => void; reject: (e: Error) => void }>;
}

export class VerifyPool {
  private slots: Slot[] = [];
  private nextId = 1;
  private closed = false;
  private deaths = 0;

  /** `threads` workers (default: one per core, at most 4), started lazily on the first batch. */
  constructor(private readonly threads = Math.max(1, Math.min(4, availableParallelism()))) {}

  /** For each item, whether its signature is its key's over (subject, payload). Never rejects. */
  async verify(items: readonly Signed[]): Promise<boolean[]> {
    const out = new Array<boolean>(items.length).fill(false);
    const packed: { index: number; pub: Buffer; sig: Buffer }[] = [];
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      const sig = it.sig ? signatureBytes(it.sig) : undefined;
      let pub: Buffer | undefined;
      try {
        pub = it.pub ? publicKeyBytes(it.pub) : undefined;
      } catch {
        pub = undefined;
      }
      if (pub && sig) packed.push({ index: i, pub, sig });
    }
    if (packed.length < INLINE_BELOW || this.closed || !this.ensureStarted()) {
      for (const p of packed) out[p.index] = verifyRaw(p.pub, signedBytes(items[p.index].subject, items[p.index].payload), p.sig);
      return out;
    }
    const per = Math.ceil(packed.length / this.slots.length);
    await Promise.all(
      this.slots.map(async (slot, w) => {
        const share = packed.slice(w * per, (w + 1) * per);
        if (!share.length) return;
        const job = pack(share.map((p) => ({ pub: p.pub, sig: p.sig, item: items[p.index] })), this.nextId++);
        let ok: Uint8Array;
        try {
          ok = await this.send(slot, job);
        } catch {
          // A worker that died takes no batch with it: its share is checked here instead.
          ok = Uint8Array.from(share, (p) => (verifyRaw(p.pub, signedBytes(items[p.index].subject, items[p.index].payload), p.sig) ? 1 : 0));
        }
        share.forEach((p, k) => (out[p.index] = ok[k] === 1));
      }),
    );
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots;
    this.slots = [];
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  /** Fill the pool up to `threads` workers; false once workers keep dying (checks stay inline). */
  private ensureStarted(): boolean {
    if (this.deaths >= MAX_DEATHS) return false;
    while (this.slots.length < this.threads) this.slots.push(this.spawn());
    return true;
  }

  private spawn(): Slot {
    const worker = new Worker(new URL("./verifyworker.js", import.meta.url));
    // The job cache must be free to exit between batches.
    worker.unref();
    const slot: Slot = { worker, pending: new Map() };
    worker.on("message", (r: VerifyResult) => {
      const p = slot.pending.get(r.id);
      slot.pending.delete(r.id);
      p?.resolve(r.ok);
    });
    // A dead worker's batches are checked inline (verify() catches the rejection); it is
    // replaced at the next batch, not here, so a worker that cannot start does not spin.
    const fail = (err: Error) => {
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
      const i = this.slots.indexOf(slot);
      if (i < 0) return;
      this.slots.splice(i, 1);
      if (!this.closed) this.deaths++;
    };
    worker.on("error", fail);
    worker.on("exit", (code) => fail(new Error(`verify worker exited with code ${code}`)));
    return slot;
  }

  private send(slot: Slot, job: VerifyJob): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      slot.pending.set(job.id, { resolve, reject });
      slot.worker.postMessage(job, [job.buf, job.offsets.buffer as ArrayBuffer]);
    });
  }
}

function pack(records: { pub: Buffer; sig: Buffer; item: Signed }[], id: number): VerifyJob {
  const offsets = new Uint32Array(records.length + 1);
  let size = 0;
  for (let i = 0; i < records.length; i++) {
    offsets[i] = size;
    const it = records[i].item;
    size += 96 + Buffer.byteLength(it.subject, "utf8") + 1 + it.payload.length;
  }
  offsets[records.length] = size;
  const buf = new ArrayBuffer(size);
  const view = Buffer.from(buf);
  for (let i = 0; i < records.length; i++) {
    const { pub, sig, item } = records[i];
    let at = offsets[i];
    view.set(pub, at);
    view.set(sig, at + 32);
    at += 96;
    at += view.write(item.subject, at, "utf8");
    view[at++] = 0x0a;
    view.set(item.payload, at);
  }
  return { id, buf, offsets };
}
