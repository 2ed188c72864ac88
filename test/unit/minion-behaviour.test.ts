import { test } from "node:test";
import assert from "node:assert/strict";
import { Blackout, funGlob } from "../../services/minion/blackout.js";
import { JobQueue } from "../../services/minion/queue.js";
import { loadMinionConfig } from "../../services/minion/config.js";
import { Spool, SpoolEntry, spoolName, encodeSpooled, decodeSpooled } from "../../services/minion/spool.js";
import { acquireInstanceLock, lockHolder, InstanceLockedError } from "../../services/minion/lock.js";
import { H } from "../../contracts/message.js";
import { mkdtempSync, rmSync, statSync, readdirSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";

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

test("spool - a return is written atomically (0600 in a 0700 dir), read back exactly, and removed once acknowledged", () => {
  const dir = join(mkdtempSync(join(tmpdir(), "natrium-spool-")), "spool");
  try {
    const spool = new Spool(dir);
    const ev = { subject: "ns.job.1.ret.web1", headers: { [H.msgId]: "ret:1:web1", [H.sig]: "c2ln" }, payload: new Uint8Array([0x81, 0xa1, 0x61, 0x01]) };
    const path = spool.write(ev, "1");
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(spool.write(ev, "1"), path, "the same return is one file");
    assert.deepEqual(readdirSync(dir), [path.slice(dir.length + 1)], "no temp file left");
    const [got, ...rest] = spool.list();
    assert.equal(rest.length, 0);
    assert.equal(got!.jid, "1");
    assert.deepEqual(got!.ev, ev);
    const other = { ...ev, headers: { ...ev.headers, [H.msgId]: "ret:2:web1" } };
    assert.notEqual(spoolName(other), spoolName(ev));
    spool.remove(path);
    assert.deepEqual(spool.list(), []);
  } finally {
    rmSync(dirname(dir), { recursive: true, force: true });
  }
});

test("spool - temp files of an unfinished write are removed; a torn or foreign file is set aside, never fatal", () => {
  const dir = mkdtempSync(join(tmpdir(), "natrium-spool-"));
  try {
    const spool = new Spool(dir);
    const ev = { subject: "a.b", headers: { [H.msgId]: "x" }, payload: new Uint8Array([1]) };
    const good = spool.write(ev, "7");
    writeFileSync(join(dir, ".abc.123.tmp"), "{\"v\":1,");
    writeFileSync(join(dir, "torn.ret"), encodeSpooled(ev, "7").slice(0, 20));
    writeFileSync(join(dir, "notes.txt"), "left alone");
    const list = spool.list();
    assert.deepEqual(list.map((x) => x.path), [good]);
    assert.deepEqual(readdirSync(dir).sort(), [good.slice(dir.length + 1), "notes.txt", "torn.ret.bad"].sort());
    assert.throws(() => decodeSpooled(JSON.stringify({ v: 1, subject: "a", headers: { h: 1 }, payload: "" })), /bad header/);
    assert.throws(() => decodeSpooled("{}"), /not a spooled return/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("spool entry - saved at most once, and not after its acknowledgement", () => {
  const dir = mkdtempSync(join(tmpdir(), "natrium-spool-"));
  try {
    const spool = new Spool(dir);
    const ev = { subject: "a.b", headers: { [H.msgId]: "y" }, payload: new Uint8Array([2]) };
    const e = new SpoolEntry(spool, ev, "9");
    assert.equal(e.saved, false);
    e.save();
    e.save();
    assert.equal(spool.list().length, 1);
    e.acknowledged();
    assert.equal(spool.list().length, 0);
    e.save();
    assert.equal(spool.list().length, 0, "a late timer does not write an acknowledged return");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("instance lock - a second holder in the same process is refused with the pid; release frees it", () => {
  const dir = mkdtempSync(join(tmpdir(), "natrium-lock-"));
  try {
    const file = join(dir, "minion.lock");
    const a = acquireInstanceLock(file);
    assert.equal(lockHolder(file), process.pid);
    assert.throws(() => acquireInstanceLock(file), (e: unknown) => e instanceof InstanceLockedError && e.pid === process.pid && /minion\.lock is locked/.test(e.message));
    // Reading the file elsewhere in the process does not drop the lock (open-file-description lock).
    readFileSync(file, "utf8");
    assert.throws(() => acquireInstanceLock(file), InstanceLockedError);
    a.release();
    acquireInstanceLock(file).release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
