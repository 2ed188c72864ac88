// `run --batch`: the size parser, the window arithmetic and the sliding window itself, driven
// by a fake clock and a fake publisher (no NATS: each "job" is answered by the test).
import { test } from "node:test";
import assert from "node:assert/strict";
import { BatchSizeError, parseBatchSize, parseBatchWait, runBatch, windowSize, type BatchResult, type Clock, type SubJobHooks } from "../../cli/lib/batch.js";
import { NatriumError } from "../../contracts/errors.js";

/** Let every pending promise callback and microtask run. */
const flush = () => new Promise<void>((r) => setImmediate(r));

class FakeClock implements Clock {
  t = 1_000_000;
  private sleeps: { at: number; resolve: () => void }[] = [];
  now() { return this.t; }
  sleep(ms: number) {
    return new Promise<void>((resolve) => this.sleeps.push({ at: this.t + ms, resolve }));
  }
  get sleeping() { return this.sleeps.length; }
  /** Move time forward, waking sleepers in order, letting each wake-up's effects run. */
  async advance(ms: number) {
    const end = this.t + ms;
    for (;;) {
      this.sleeps.sort((a, b) => a.at - b.at);
      const next = this.sleeps[0];
      if (!next || next.at > end) break;
      this.sleeps.shift();
      this.t = next.at;
      next.resolve();
      await flush();
    }
    this.t = end;
    await flush();
  }
}

interface FakeJob {
  jid: string;
  minions: string[];
  at: number;
  hooks: SubJobHooks;
  answer(id: string, success?: boolean): void;
  /** The job is over (everyone answered, or the timeout passed). */
  end(): void;
  fail(err: Error): void;
}

class FakePublisher {
  jobs: FakeJob[] = [];
  busy = new Set<string>();
  maxBusy = 0;
  constructor(private clock: FakeClock) {}
  start = (minions: string[], hooks: SubJobHooks): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const jid = `2026112700000000${String(this.jobs.length + 1).padStart(4, "0")}`;
      for (const id of minions) this.busy.add(id);
      this.maxBusy = Math.max(this.maxBusy, this.busy.size);
      const job: FakeJob = {
        jid, minions, at: this.clock.now(), hooks,
        answer: (id, success = true) => {
          this.busy.delete(id);
          hooks.onAnswer({ id, return: success ? true : "boom", retcode: success ? 0 : 1, success, duration_ms: 5 });
        },
        end: () => {
          for (const id of minions) this.busy.delete(id);
          resolve();
        },
        fail: reject,
      };
      this.jobs.push(job);
      hooks.onPublished(jid, minions);
    });
  get started() { return this.jobs.map((j) => j.minions); }
  /** The job `id` is running in. */
  jobOf(id: string): FakeJob {
    const j = this.jobs.find((x) => x.minions.includes(id));
    assert.ok(j, `${id} was started`);
    return j;
  }
  /** `id` answers; its job ends when every minion of it did. */
  async answer(id: string, success = true) {
    const j = this.jobOf(id);
    j.answer(id, success);
    if (j.minions.every((m) => !this.busy.has(m))) j.end();
    await flush();
  }
}

function setup(ids: string[], size: number, waitMs = 0) {
  const clock = new FakeClock();
  const pub = new FakePublisher(clock);
  const events: string[] = [];
  let result: BatchResult | undefined;
  let error: unknown;
  const p = runBatch(ids, size, waitMs, pub.start, clock, {
    onJob: (j) => events.push(`job ${j.minions.join(",")}`),
    onAnswer: (a) => events.push(`ret ${a.id} ${a.jid}`),
    onMissing: (id) => events.push(`missing ${id}`),
  }).then((r) => (result = r), (e) => (error = e));
  return { clock, pub, events, p, get result() { return result; }, get error() { return error; } };
}

test("parseBatchSize: counts and percentages; 0, over 100% and words refused", () => {
  assert.deepEqual(parseBatchSize("1"), { count: 1 });
  assert.deepEqual(parseBatchSize("10"), { count: 10 });
  assert.deepEqual(parseBatchSize(" 3 "), { count: 3 });
  assert.deepEqual(parseBatchSize("25%"), { percent: 25 });
  assert.deepEqual(parseBatchSize("100%"), { percent: 100 });
  assert.deepEqual(parseBatchSize("12.5%"), { percent: 12.5 });
  for (const bad of ["0", "150%", "abc", "0%", "100.1%", "-1", "1.5", "", "%", "10 %", "1e3", "99999999999999999999"]) {
    assert.throws(() => parseBatchSize(bad), (e: unknown) => e instanceof BatchSizeError && e instanceof NatriumError && e.message.includes(`--batch "${bad}"`), bad);
  }
  assert.throws(() => parseBatchSize("0"), /at least one minion/);
  assert.throws(() => parseBatchSize("150%"), /more than 100%/);
  assert.throws(() => parseBatchSize("abc"), /not a whole number or a percentage/);
});

test("parseBatchWait: seconds, 0 or more", () => {
  assert.equal(parseBatchWait("0"), 0);
  assert.equal(parseBatchWait("2"), 2);
  assert.equal(parseBatchWait("0.5"), 0.5);
  for (const bad of ["-1", "x", "", "1s"]) assert.throws(() => parseBatchWait(bad), NatriumError, bad);
});

test("windowSize: a count as is; a percentage of the total rounded up, at least 1", () => {
  assert.equal(windowSize({ count: 2 }, 3), 2);
  assert.equal(windowSize({ count: 10 }, 3), 10, "more than there are: all at once");
  assert.equal(windowSize({ percent: 50 }, 3), 2, "1.5 rounds up");
  assert.equal(windowSize({ percent: 25 }, 10), 3);
  assert.equal(windowSize({ percent: 10 }, 10), 1, "exactly 1, not rounded up to 2");
  assert.equal(windowSize({ percent: 7 }, 100), 7, "no float noise: 7, not 8");
  assert.equal(windowSize({ percent: 1 }, 3), 1);
  assert.equal(windowSize({ percent: 33 }, 3), 1, "0.99 rounds up to 1");
  assert.equal(windowSize({ percent: 34 }, 3), 2, "1.02 rounds up to 2");
  assert.equal(windowSize({ percent: 100 }, 7), 7);
  assert.equal(windowSize({ percent: 12.5 }, 8), 1);
  assert.equal(windowSize({ percent: 50 }, 0), 1, "never 0, even with nothing targeted");
  for (let total = 1; total <= 200; total++) {
    for (const p of [1, 5, 10, 12.5, 25, 33, 50, 66, 75, 99, 100]) {
      const n = windowSize({ percent: p }, total);
      assert.ok(n >= 1 && n <= total, `${p}% of ${total}`);
      assert.ok(n >= (total * p) / 100 - 1e-9 && n - 1 < (total * p) / 100, `${p}% of ${total} is ${n}`);
    }
  }
});

test("the first window starts as one job; each return starts the next minion", async () => {
  const s = setup(["a", "b", "c", "d", "e"], 2);
  await flush();
  assert.deepEqual(s.pub.started, [["a", "b"]]);
  await s.pub.answer("a");
  assert.deepEqual(s.pub.started, [["a", "b"], ["c"]]);
  await s.pub.answer("c");
  assert.deepEqual(s.pub.started, [["a", "b"], ["c"], ["d"]]);
  await s.pub.answer("b");
  await s.pub.answer("d");
  assert.deepEqual(s.pub.started, [["a", "b"], ["c"], ["d"], ["e"]]);
  assert.equal(s.result, undefined, "e is still running");
  await s.pub.answer("e");
  const r = s.result!;
  assert.ok(r, "done");
  assert.equal(s.pub.maxBusy, 2);
  assert.deepEqual(r.batch, { size: 2, wait: 0 });
  assert.deepEqual(r.minions, ["a", "b", "c", "d", "e"]);
  assert.deepEqual(r.jobs.map((j) => j.minions), [["a", "b"], ["c"], ["d"], ["e"]]);
  assert.deepEqual(r.jobs.map((j) => j.jid), s.pub.jobs.map((j) => j.jid));
  assert.deepEqual(Object.keys(r.returns), ["a", "c", "b", "d", "e"], "in the order they landed");
  assert.equal(r.returns.c.jid, s.pub.jobOf("c").jid, "each return names its sub-job");
  assert.equal(r.returns.a.jid, r.returns.b.jid);
  assert.deepEqual(r.missing, []);
  assert.deepEqual(s.events.slice(0, 3), ["job a,b", `ret a ${r.jobs[0].jid}`, "job c"], "hooks as things happen");
});

test("--batch-wait: a freed slot starts the next minion only after the wait", async () => {
  const s = setup(["a", "b", "c"], 1, 2000);
  await flush();
  const t0 = s.clock.now();
  await s.pub.answer("a");
  assert.deepEqual(s.pub.started, [["a"]], "nothing starts at once");
  await s.clock.advance(1999);
  assert.deepEqual(s.pub.started, [["a"]]);
  await s.clock.advance(1);
  assert.deepEqual(s.pub.started, [["a"], ["b"]]);
  assert.equal(s.pub.jobs[1].at - t0, 2000);
  await s.clock.advance(5000);
  assert.deepEqual(s.pub.started, [["a"], ["b"]], "still only one at a time: b has not returned");
  await s.pub.answer("b");
  await s.clock.advance(2000);
  await s.pub.answer("c");
  assert.ok(s.result, "no wait after the last minion: the run is over when c returns");
  assert.equal(s.clock.sleeping, 0);
  assert.equal(s.result!.batch.wait, 2);
});

test("a failed return frees its slot like a success, and is reported as failed", async () => {
  const s = setup(["a", "b"], 1);
  await flush();
  await s.pub.answer("a", false);
  assert.deepEqual(s.pub.started, [["a"], ["b"]]);
  await s.pub.answer("b");
  assert.equal(s.result!.returns.a.success, false);
  assert.equal(s.result!.returns.a.retcode, 1);
  assert.equal(s.result!.returns.b.success, true);
});

test("a minion that times out frees its slot when its job ends, and is named as missing", async () => {
  const s = setup(["a", "b", "c", "d"], 2);
  await flush();
  await s.pub.answer("a");
  assert.deepEqual(s.pub.started, [["a", "b"], ["c"]]);
  // b never answers: its job's timeout passes.
  s.pub.jobOf("b").end();
  await flush();
  assert.deepEqual(s.pub.started, [["a", "b"], ["c"], ["d"]]);
  assert.ok(s.events.includes("missing b"));
  await s.pub.answer("c");
  await s.pub.answer("d");
  assert.deepEqual(s.result!.missing, ["b"]);
  assert.equal(s.result!.returns.b, undefined);
  assert.equal(s.pub.maxBusy, 2);
});

test("a timeout with --batch-wait: the slot is used again after the wait", async () => {
  const s = setup(["a", "b"], 1, 1000);
  await flush();
  s.pub.jobOf("a").end();
  await flush();
  assert.deepEqual(s.pub.started, [["a"]]);
  await s.clock.advance(1000);
  assert.deepEqual(s.pub.started, [["a"], ["b"]]);
  await s.pub.answer("b");
  assert.deepEqual(s.result!.missing, ["a"]);
});

test("slots freed in the same turn start one job together", async () => {
  const s = setup(["a", "b", "c", "d", "e"], 3);
  await flush();
  const j = s.pub.jobOf("a");
  j.answer("a");
  j.answer("b");
  await flush();
  assert.deepEqual(s.pub.started, [["a", "b", "c"], ["d", "e"]]);
});

test("a job the master expected fewer minions of: the others are missing at its end", async () => {
  const s = setup(["a", "b"], 2);
  await flush();
  s.pub.jobOf("a").answer("a");
  s.pub.jobOf("a").end();
  await flush();
  assert.deepEqual(s.result!.missing, ["b"]);
});

test("a size larger than the target runs everything in one job; a percentage of 100 too", async () => {
  const s = setup(["a", "b", "c"], 10);
  await flush();
  assert.deepEqual(s.pub.started, [["a", "b", "c"]]);
  for (const id of ["c", "a", "b"]) await s.pub.answer(id);
  assert.equal(s.result!.jobs.length, 1);
});

test("no minions: no job, an empty result", async () => {
  const s = setup([], 2);
  await flush();
  assert.deepEqual(s.result, { batch: { size: 2, wait: 0 }, minions: [], jobs: [], returns: {}, missing: [] });
  assert.equal(s.pub.jobs.length, 0);
});

test("a publish that fails stops the run: the error is thrown, nothing more starts", async () => {
  const s = setup(["a", "b", "c"], 1);
  await flush();
  await s.pub.answer("a");
  s.pub.jobOf("b").fail(new NatriumError("denied", "not allowed"));
  await flush();
  assert.match(String(s.error), /not allowed/);
  assert.deepEqual(s.pub.started, [["a"], ["b"]]);
  assert.equal(s.result, undefined);
});

test("a window below 1 is a programming error", () => {
  assert.throws(() => runBatch(["a"], 0, 0, async () => {}), RangeError);
});

test("random return orders: never more than the window busy, everyone started once", async () => {
  let seed = 42;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let round = 0; round < 50; round++) {
    const ids = Array.from({ length: 1 + Math.floor(rnd() * 12) }, (_, i) => `m${i}`);
    const size = 1 + Math.floor(rnd() * 5);
    const wait = rnd() < 0.5 ? 0 : 100;
    const s = setup(ids, size, wait);
    await flush();
    for (let steps = 0; !s.result && steps < 1000; steps++) {
      const running = [...s.pub.busy];
      if (running.length && rnd() < 0.8) {
        const id = running[Math.floor(rnd() * running.length)];
        if (rnd() < 0.15) {
          s.pub.jobOf(id).end(); // its job times out
          await flush();
        } else {
          await s.pub.answer(id, rnd() < 0.8);
        }
      } else {
        await s.clock.advance(50);
      }
      assert.ok(s.pub.busy.size <= size, `round ${round}: ${s.pub.busy.size} busy with a window of ${size}`);
    }
    const r = s.result;
    assert.ok(r, `round ${round} finished`);
    assert.deepEqual([...r.minions].sort(), [...ids].sort(), "every minion started once");
    assert.equal(Object.keys(r.returns).length + r.missing.length, ids.length, "each minion answered or is missing");
    assert.ok(s.pub.maxBusy <= size);
    assert.deepEqual(r.jobs.flatMap((j) => j.minions), r.minions);
  }
});
