// A token bucket for refusals that are logged or audited: a flood of bad input must not become
// a flood of log lines or audit events, but the first of them, and how many were dropped, show.

/**
 * Token bucket: `rate` events a second, bursts up to `burst`. Counts what it refused, so the
 * next event that passes can say how many were dropped before it.
 */
export class RateLimit {
  private tokens: number;
  private last: number;
  private dropped = 0;
  constructor(readonly rate: number, readonly burst: number, private now: () => number = Date.now) {
    this.tokens = burst;
    this.last = now();
  }

  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return true;
    }
    this.dropped++;
    return false;
  }

  /** How many were refused since the last call. */
  takeDropped(): number {
    const d = this.dropped;
    this.dropped = 0;
    return d;
  }
}
