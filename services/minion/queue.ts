// process_count_max: at most `limit` jobs run at once; the rest wait in arrival order and
// start as running ones finish. Nothing is dropped. A limit of 0 or less means no limit
// (Salt uses -1).

export class JobQueue<T> {
  private waiting: T[] = [];
  private active = 0;

  constructor(
    readonly limit: number,
    private readonly run: (item: T) => Promise<void>,
  ) {}

  get unlimited(): boolean {
    return this.limit <= 0;
  }

  /** Jobs started and not finished. */
  get running(): number {
    return this.active;
  }

  /** Jobs waiting for a slot, oldest first. */
  get queued(): readonly T[] {
    return this.waiting;
  }

  /** Start `item` now if a slot is free, else queue it; returns whether it started. */
  push(item: T): boolean {
    if (this.unlimited || this.active < this.limit) {
      this.launch(item);
      return true;
    }
    this.waiting.push(item);
    return false;
  }

  /** Take one waiting item out of the queue; false if it is not waiting. */
  remove(item: T): boolean {
    const i = this.waiting.indexOf(item);
    if (i < 0) return false;
    this.waiting.splice(i, 1);
    return true;
  }

  /** Take every waiting item out of the queue (they will not be started by it). */
  drain(): T[] {
    return this.waiting.splice(0);
  }

  private launch(item: T): void {
    this.active++;
    let p: Promise<void>;
    try {
      p = this.run(item);
    } catch (err) {
      p = Promise.reject(err);
    }
    p.catch(() => {}).finally(() => {
      this.active--;
      const next = this.waiting.shift();
      if (next !== undefined) this.launch(next);
    });
  }
}
