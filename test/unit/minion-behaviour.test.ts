import { test } from "node:test";
import assert from "node:assert/strict";
import { Blackout, funGlob } from "../../services/minion/blackout.js";
import { JobQueue } from "../../services/minion/queue.js";
import { loadMinionConfig } from "../../services/minion/config.js";

test("blackout - function globs match whole names, fnmatch style", () => {
  const cases: [string, string, boolean][] = [
    ["test.*", "test.ping", true],
    ["test.*", "cmd.run", false],
    ["test.*", "xtest.ping", false],
    ["cmd.run", "cmd.run", true],
    ["cmd.run", "cmd.run_all", false],
    ["cmd.run", "cmdXrun", false],
    ["grains.?et", "grains.get", true],
    ["cmd.run_[as]*", "cmd.run_all", true],
    ["cmd.run_[!as]*", "cmd.run_all", false],
    ["cmd.run_[!as]*", "cmd.run_stdout", false],
    ["[", "[", true],
    ["a(b)|c+", "a(b)|c+", true],
  ];
  for (const [g, fun, want] of cases) assert.equal(funGlob(g).test(fun), want, `${g} ~ ${fun}`);
});

test("blackout - off runs everything; on runs only refresh_pillar and the whitelist", () => {
  const b = new Blackout();
  assert.equal(b.allows("cmd.run"), true);
  b.set({ enabled: true, whitelist: ["test.ping", "grains.*"] });
  assert.equal(b.on, true);
  assert.equal(b.allows("saltutil.refresh_pillar"), true);
  assert.equal(b.allows("test.ping"), true);
  assert.equal(b.allows("grains.items"), true);
  assert.equal(b.allows("cmd.run"), false);
  assert.equal(b.allows("test.echo"), false);
  b.set({ enabled: false, whitelist: [] });
  assert.equal(b.allows("cmd.run"), true);
});

test("queue - at most `limit` run; the rest wait in arrival order and start as others finish", async () => {
  const started: number[] = [];
  const release = new Map<number, () => void>();
  const q = new JobQueue<number>(2, (n) => {
    started.push(n);
    return new Promise<void>((r) => release.set(n, r));
  });
  for (const n of [1, 2, 3, 4, 5]) q.push(n);
  assert.deepEqual(started, [1, 2]);
  assert.equal(q.running, 2);
  assert.deepEqual(q.queued, [3, 4, 5]);
  release.get(2)!();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, [1, 2, 3]);
  release.get(1)!();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, [1, 2, 3, 4]);
  assert.deepEqual(q.drain(), [5]);
  release.get(3)!();
  release.get(4)!();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, [1, 2, 3, 4], "drained items are not started by the queue");
  assert.equal(q.running, 0);
});

test("queue - a failing job frees its slot; 0 and -1 mean no limit", async () => {
  const started: number[] = [];
  const q = new JobQueue<number>(1, async (n) => {
    started.push(n);
    if (n === 1) throw new Error("boom");
  });
  q.push(1);
  q.push(2);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(started, [1, 2]);
  for (const limit of [0, -1]) {
    const never = new JobQueue<number>(limit, () => new Promise(() => {}));
    for (let i = 0; i < 100; i++) assert.equal(never.push(i), true);
    assert.equal(never.running, 100);
  }
});

test("config - blackout and process_count_max keys, with defaults", () => {
  const c = loadMinionConfig(undefined, {}, {});
  assert.equal(c.minion_blackout, false);
  assert.deepEqual(c.minion_blackout_whitelist, []);
  assert.equal(c.process_count_max, 32);
  const d = loadMinionConfig(undefined, { minion_blackout: true, minion_blackout_whitelist: ["test.*"], process_count_max: -1 }, {});
  assert.equal(d.minion_blackout, true);
  assert.deepEqual(d.minion_blackout_whitelist, ["test.*"]);
  assert.equal(d.process_count_max, -1);
  assert.throws(() => loadMinionConfig(undefined, { process_count_max: -2 }, {}), /process_count_max/);
  assert.throws(() => loadMinionConfig(undefined, { process_count_max: 1.5 }, {}), /process_count_max/);
});
