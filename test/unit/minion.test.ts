import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from "node:fs";
import { tmpdir, hostname } from "node:os";
import { join } from "node:path";
import { SeenJids, RateLimit, Semaphore, toWire, normFinger } from "../../services/minion/guards.js";
import { parseOsRelease, osGrains, collectGrains, natriumVersion } from "../../services/minion/grains.js";
import { loadMinionConfig, MinionConfig } from "../../services/minion/config.js";
import { ConfigError, describeConfig } from "../../services/common/config.js";

test("minion - seen jids: a jid is refused once seen, identical copies are told apart, the window is bounded", () => {
  const s = new SeenJids(3);
  assert.equal(s.check("1", "sigA"), undefined);
  s.add("1", "sigA");
  assert.deepEqual(s.check("1", "sigA"), { identical: true });
  assert.deepEqual(s.check("1", "sigB"), { identical: false });
  s.add("2", "x");
  s.add("3", "x");
  s.add("4", "x");
  assert.equal(s.size, 3);
  assert.equal(s.check("1", "sigA"), undefined, "the oldest went first");
});

test("minion - seen jids in a file outlive the process; expired entries and torn lines are dropped", () => {
  const dir = mkdtempSync(join(tmpdir(), "natrium-seen-"));
  try {
    const file = join(dir, "seen-jids");
    const now = Date.now();
    const a = new SeenJids(100, file);
    a.add("20260101000000000001", "sigA", now + 60_000);
    a.add("20260101000000000002", "sigB", now - 1); // already expired: may be forgotten
    // A crash mid-append leaves a torn line behind.
    writeFileSync(file, readFileSync(file, "utf8") + "20260101000000000003 si", { flag: "w" });
    const b = new SeenJids(100, file);
    assert.deepEqual(b.check("20260101000000000001", "sigA"), { identical: true }, "kept across a restart");
    assert.equal(b.check("20260101000000000002", "sigB"), undefined, "expired entries are dropped");
    assert.equal(b.check("20260101000000000003", "si"), undefined, "a torn line is skipped");
    assert.equal(readFileSync(file, "utf8").trim().split("\n").length, 1, "rewritten with what is still live");
    // Appends keep the file bounded: it is compacted at twice the live entries.
    for (let i = 0; i < 500; i++) b.add(String(30260101000000000000n + BigInt(i)), "s", now + 60_000);
    assert.ok(readFileSync(file, "utf8").trim().split("\n").length <= 200 + 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("minion - rate limit: bursts pass, the rest are counted, tokens come back with time", () => {
  let now = 0;
  const r = new RateLimit(2, 3, () => now);
  assert.deepEqual([r.take(), r.take(), r.take(), r.take(), r.take()], [true, true, true, false, false]);
  assert.equal(r.takeDropped(), 2);
  assert.equal(r.takeDropped(), 0);
  now += 1000;
  assert.deepEqual([r.take(), r.take(), r.take()], [true, true, false]);
});

test("minion - semaphore: at most n at once, all complete", async () => {
  const sem = new Semaphore(2);
  let active = 0;
  let peak = 0;
  const results = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      sem.run(async () => {
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setImmediate(r));
        active--;
        return i;
      }),
    ),
  );
  assert.equal(peak, 2);
  assert.deepEqual(results, [...Array(10).keys()]);
});

test("minion - returns are reduced to what msgpack readers accept", () => {
  assert.equal(toWire(undefined), null);
  assert.equal(toWire(NaN), "NaN");
  assert.deepEqual(toWire({ a: 1n, d: new Date(0), u: undefined, n: [1, undefined] }), { a: "1", d: "1970-01-01T00:00:00.000Z", n: [1, null] });
  assert.equal(toWire("x"), "x");
  assert.equal(normFinger("AB:cd:01"), "abcd01");
});

test("minion - os grains follow Salt's names", () => {
  const deb = parseOsRelease('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\nID=debian\n');
  assert.deepEqual(osGrains(deb, "Linux"), {
    os: "Debian", os_family: "Debian", osfullname: "Debian GNU/Linux", osrelease: "12", osmajorrelease: 12, oscodename: "bookworm",
  });
  const rocky = osGrains(parseOsRelease('NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\n'), "Linux");
  assert.equal(rocky.os, "Rocky");
  assert.equal(rocky.os_family, "RedHat");
  assert.equal(rocky.osmajorrelease, 9);
  const unknown = osGrains(parseOsRelease('NAME="Foo OS"\nID=foo\nID_LIKE=debian\n'), "Linux");
  assert.equal(unknown.os, "Foo");
  assert.equal(unknown.os_family, "Debian");
});

test("minion - grains have the machine's facts, config grains on top, and the id always wins", async () => {
  const g = await collectGrains("m1", { role: "web", os: "Custom", id: "spoofed" });
  assert.equal(g.id, "m1");
  assert.equal(g.role, "web");
  assert.equal(g.os, "Custom");
  for (const k of ["host", "fqdn", "os_family", "osrelease", "kernel", "kernelrelease", "cpuarch", "num_cpus", "cpu_model", "mem_total", "ipv4", "nodename", "nodeversion", "natrium_version"]) {
    assert.ok(k in g, k);
  }
  assert.ok(Array.isArray(g.ipv4) && (g.ipv4 as string[]).includes("127.0.0.1"));
  assert.equal(g.nodename, hostname());
  assert.equal(g.natrium_version, natriumVersion());
  assert.match(natriumVersion(), /^\d+\.\d+\.\d+/);
});

test("minion - config: defaults, derived id and pki_dir, and errors that name the key", () => {
  const dir = mkdtempSync(join(tmpdir(), "natrium-minion-cfg-"));
  try {
    const cfg = loadMinionConfig(undefined, { data_dir: dir }, {});
    assert.equal(cfg.id, hostname());
    assert.equal(cfg.pki_dir, join(dir, "pki"));
    assert.equal(cfg.job_timeout, 3600);
    assert.deepEqual(cfg.grains, {});
    const f = join(dir, "m.yaml");
    writeFileSync(f, "id: web1\nmaster_finger: 'aa:bb'\ngrains:\n  roles: [web]\njob_timeout: 60\n");
    const c2 = loadMinionConfig(f, {}, {});
    assert.equal(c2.id, "web1");
    assert.deepEqual(c2.grains, { roles: ["web"] });
    writeFileSync(f, "grain: {}\n");
    assert.throws(() => loadMinionConfig(f, {}, {}), (e: ConfigError) => e instanceof ConfigError && e.key === "grain" && /did you mean "grains"/.test(e.message));
    writeFileSync(f, "job_timeout: -1\n");
    assert.throws(() => loadMinionConfig(f, {}, {}), (e: ConfigError) => e.key === "job_timeout");
    writeFileSync(f, "grains: [a, b]\n");
    assert.throws(() => loadMinionConfig(f, {}, {}), (e: ConfigError) => e.key === "grains");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const row of describeConfig(MinionConfig)) assert.ok(row.description.length > 10, `${row.key} has a description`);
});
