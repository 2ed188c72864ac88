// `natrium run --batch N|P%`: Salt's batch mode (`salt -b`). The target is resolved to its
// minions first (the master's `match` verb); then at most `size` of them are busy at a time: the
// first `size` start together, and each time one returns (or its job times out without it), its
// slot is free again `--batch-wait` seconds later and the next minions start.
//
// Each group of minions started at one moment is one job (a `list` target of exactly those
// minions, the same function and arguments): the first window is one job, and every refill is
// another, usually of one minion. Every job's jid is in the result, so `natrium jobs show JID`
// finds each of them; a minion's return names the jid it answered.
//
// The scheduling here is pure: publishing a job and waiting are injected (a fake clock and
// publisher in the unit tests, `runJob` and timers in the CLI).

import { NatriumError } from "../../contracts/errors.js";
import type { Answer } from "./run.js";

/** `--batch` as the user wrote it: a number of minions, or a percentage of the targeted ones. */
export type BatchSize = { count: number } | { percent: number };

export class BatchSizeError extends NatriumError {
  constructor(text: string, why: string) {
    super("bad_batch", `--batch "${text}" is not a batch size: ${why} (a number of minions such as 10, or a percentage such as 25%)`);
  }
}

/** "10" → { count: 10 }, "25%" → { percent: 25 }; 0, over 100% or not a number are refused. */
export function parseBatchSize(text: string): BatchSize {
  const s = text.trim();
  const pct = /^(\d+(?:\.\d+)?)%$/.exec(s);
  if (pct) {
    const p = Number(pct[1]);
    if (!(p > 0)) throw new BatchSizeError(text, "a percentage must be more than 0%");
    if (p > 100) throw new BatchSizeError(text, "a percentage cannot be more than 100%");
    return { percent: p };
  }
  if (!/^\d+$/.test(s)) throw new BatchSizeError(text, "not a whole number or a percentage");
  const n = Number(s);
  if (n < 1) throw new BatchSizeError(text, "at least one minion must run at a time");
  if (!Number.isSafeInteger(n)) throw new BatchSizeError(text, "too large");
  return { count: n };
}

/** How many minions run at once out of `total`: a percentage rounded up, never less than 1. */
export function windowSize(size: BatchSize, total: number): number {
  if ("count" in size) return size.count;
  // Round away the float noise of e.g. 3 * 70 / 100 before rounding up.
  return Math.max(1, Math.ceil(Number(((total * size.percent) / 100).toFixed(9))));
}

/** `--batch-wait` in seconds: a non-negative number. */
export function parseBatchWait(text: string): number {
  const s = text.trim();
  if (!/^\d+(?:\.\d+)?$/.test(s)) throw new NatriumError("bad_batch", `--batch-wait "${text}" is not a number of seconds (0 or more, e.g. 2 or 0.5)`);
  return Number(s);
}

/** One job of a batch run: the minions started together. */
export interface BatchJob {
  jid: string;
  minions: string[];
  /** When it was published (ms since the epoch, the CLI's clock). */
  started: number;
}

export interface BatchReturn {
  /** The sub-job this return answers. */
  jid: string;
  return: unknown;
  retcode: number;
  success: boolean;
  duration_ms: number;
}

export interface BatchResult {
  /** The window: most minions busy at once, and the wait before a freed slot is used (s). */
  batch: { size: number; wait: number };
  /** Every targeted minion, in the order they were started. */
  minions: string[];
  /** Every sub-job, in the order they were started. */
  jobs: BatchJob[];
  /** Each minion's return, in the order they landed. */
  returns: Record<string, BatchReturn>;
  /** Targeted minions that did not answer before their job's timeout. */
  missing: string[];
}

/** The outcome of one sub-job as the publisher reports it. */
export interface SubJobHooks {
  /** The master took the job: its jid and the minions it expects. */
  onPublished(jid: string, expected: string[]): void;
  /** A verified return, as it lands. */
  onAnswer(a: Answer): void;
}

/** Publishes one job on exactly `minions` and follows it; resolves when it is over (all returned, or timed out). */
export type StartJob = (minions: string[], hooks: SubJobHooks) => Promise<void>;

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

export interface BatchHooks {
  onJob?(job: BatchJob): void;
  onAnswer?(a: Answer & { jid: string }): void;
  /** A minion whose job ended without its return. */
  onMissing?(id: string, jid: string | undefined): void;
}

/**
 * Run `minions` through a sliding window of `size` (≥ 1), waiting `waitMs` before a freed slot
 * is used again (not after the last minion started). A publish that fails (denied, bad request)
 * stops the run: the error is thrown and nothing more is started.
 */
export function runBatch(minions: string[], size: number, waitMs: number, start: StartJob, clock: Clock = realClock, hooks: BatchHooks = {}): Promise<BatchResult> {
  if (!(size >= 1)) throw new RangeError(`batch window must be at least 1, got ${size}`);
  const result: BatchResult = { batch: { size, wait: waitMs / 1000 }, minions: [], jobs: [], returns: {}, missing: [] };
  const queue = [...minions];
  return new Promise<BatchResult>((resolve, reject) => {
    let busy = 0; // minions running, plus slots sitting out their batch wait
    let inflight = 0; // jobs not over yet
    let failed = false;
    let fillQueued = false;

    const finish = () => {
      if (!failed && queue.length === 0 && inflight === 0) resolve(result);
    };
    const fill = () => {
      fillQueued = false;
      if (failed) return;
      const n = Math.min(size - busy, queue.length);
      if (n > 0) startGroup(queue.splice(0, n));
      finish();
    };
    // Slots freed in the same turn (several returns read at once) start one job together.
    const scheduleFill = () => {
      if (fillQueued) return;
      fillQueued = true;
      queueMicrotask(fill);
    };
    const free = () => {
      if (waitMs > 0 && queue.length > 0) {
        clock.sleep(waitMs).then(() => {
          busy--;
          scheduleFill();
        });
      } else {
        busy--;
        scheduleFill();
      }
    };

    function startGroup(group: string[]) {
      busy += group.length;
      inflight++;
      result.minions.push(...group);
      const started = clock.now();
      const members = new Set(group);
      const settled = new Set<string>();
      let jid: string | undefined;
      start(group, {
        onPublished(j) {
          jid = j;
          const job: BatchJob = { jid: j, minions: group, started };
          result.jobs.push(job);
          hooks.onJob?.(job);
        },
        onAnswer(a) {
          if (failed || !members.has(a.id) || settled.has(a.id)) return;
          settled.add(a.id);
          result.returns[a.id] = { jid: jid ?? "", return: a.return, retcode: a.retcode, success: a.success, duration_ms: a.duration_ms };
          hooks.onAnswer?.({ ...a, jid: jid ?? "" });
          free();
        },
      }).then(
        () => {
          if (failed) return;
          // The job is over: whoever has not answered timed out (or was not expected at all,
          // e.g. its key was deleted between the match and the publish).
          for (const id of group) {
            if (settled.has(id)) continue;
            settled.add(id);
            result.missing.push(id);
            hooks.onMissing?.(id, jid);
            free();
          }
          inflight--;
          scheduleFill();
        },
        (err) => {
          if (failed) return;
          failed = true;
          reject(err);
        },
      );
    }

    fill();
  });
}
