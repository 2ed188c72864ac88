// Reading a JetStream consumer in batches: up to a count (and a byte budget), or what arrived
// within a short wait. Both returner hosts (services/returners/host.ts, ordered.ts) read this way.

import type { JsMsg } from "@nats-io/jetstream";

export interface GatherOptions {
  batchSize: number;
  /** How long a batch that is not full waits for more messages. */
  batchWaitMs: number;
  /** A batch also ends at this many payload bytes. */
  maxBytes?: number;
  /** Checked between batches: true ends the reading. */
  halted(): boolean;
  /**
   * Ends the wait for a batch's first message. Closing the messages ends the iterator too; should
   * a close ever leave it pending, this still lets a stopping host leave.
   */
  signal?: AbortSignal;
}

/** Call `onBatch` with each batch, in delivery order, one at a time, until the messages end or halted(). */
export async function gatherBatches(msgs: AsyncIterable<JsMsg>, o: GatherOptions, onBatch: (batch: JsMsg[]) => Promise<void>): Promise<void> {
  const it = msgs[Symbol.asyncIterator]();
  const stopped = new Promise<IteratorResult<JsMsg>>((r) => {
    if (!o.signal) return;
    if (o.signal.aborted) r({ done: true, value: undefined });
    o.signal.addEventListener("abort", () => r({ done: true, value: undefined }), { once: true });
  });
  const maxBytes = o.maxBytes ?? Infinity;
  let next: Promise<IteratorResult<JsMsg>> | undefined;
  while (!o.halted()) {
    const first = await Promise.race([next ?? it.next(), stopped]);
    next = undefined;
    if (first.done) return;
    const batch: JsMsg[] = [first.value];
    let bytes = first.value.data.length;
    let ended = false;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<"timeout">((r) => (timer = setTimeout(() => r("timeout"), o.batchWaitMs)));
    while (batch.length < o.batchSize && bytes < maxBytes) {
      next = it.next();
      // `next` may outlive this loop (halt, timeout); it must never become an unhandled rejection.
      next.catch(() => {});
      const r = await Promise.race([next, deadline]);
      if (r === "timeout") break; // `next` stays pending and opens the following batch
      next = undefined;
      if (r.done) {
        ended = true;
        break;
      }
      batch.push(r.value);
      bytes += r.value.data.length;
    }
    clearTimeout(timer);
    await onBatch(batch);
    if (ended) return;
  }
}
