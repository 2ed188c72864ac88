// Execution modules called directly with an ExecContext: no NATS involved.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, realpathSync, existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ModuleLoader, type ExecContext } from "../../services/minion/modules/index.js";
import { ExecError, UnknownFunctionError } from "../../services/minion/errors.js";
import { _split } from "../../services/minion/modules/cmd.js";
import { createLogger } from "../../services/common/log.js";

const loader = new ModuleLoader();

function ctx(fun: string, extra: Partial<ExecContext> = {}): ExecContext & { retcode: number } {
  const c = {
    id: "m1",
    jid: "20261127082615123456",
    fun,
    grains: { id: "m1", os: "Debian", roles: ["web", "db"], dc: { rack: { row: 7 } } },
    signal: new AbortController().signal,
    log: createLogger({}, "quiet"),
    retcode: 0,
    setRetcode(n: number) { c.retcode = n; },
    modules: loader,
    ...extra,
  };
  return c;
}

async function call(fun: string, args: unknown[] = [], kwargs: Record<string, unknown> = {}, extra: Partial<ExecContext> = {}) {
  const c = ctx(fun, extra);
  const fn = await loader.resolve(fun);
  const value = await fn(c, args, kwargs);
  return { value, retcode: c.retcode };
}

test("modules - the loader discovers one module per file and refuses what is not a function", async () => {
  for (const m of ["cmd", "file", "grains", "network", "pkg", "service", "status", "sys", "test"]) assert.ok(loader.modules().includes(m), m);
  assert.ok(!loader.modules().includes("index"));
  await assert.rejects(loader.resolve("foo.bar"), (e: UnknownFunctionError) => e.retcode === 254 && e.message === "'foo.bar' is not available.");
  await assert.rejects(loader.resolve("test.nothing"), UnknownFunctionError);
  await assert.rejects(loader.resolve("grains._traverse"), UnknownFunctionError, "helpers are not callable");
  const fns = await loader.functions("test");
  assert.ok(fns.includes("test.ping") && fns.includes("test.rand_sleep"));
});

test("modules - every function has a doc comment with a CLI example", async () => {
  const docs = await loader.docs();
  assert.ok(Object.keys(docs).length >= 20);
  for (const [fun, doc] of Object.entries(docs)) assert.match(doc, /CLI example: natrium run '\*' /, fun);
  const { value } = await call("sys.doc", ["cmd.run"]);
  assert.match((value as Record<string, string>)["cmd.run"], /stderr merged/);
});

test("modules - the minion program's bundle has the same modules, functions and manuals", async () => {
  // What `node dist/services/minion/main.js` runs (services/minion/program.ts, pack.ts).
  const here = fileURLToPath(new URL("../../services/minion/", import.meta.url));
  const bundled = new ModuleLoader([], { dir: join(here, "bundle/modules/"), docsDir: join(here, "modules") });
  assert.deepEqual(bundled.modules(), loader.modules());
  assert.deepEqual(await bundled.functions(), await loader.functions());
  assert.deepEqual(await bundled.docs(), await loader.docs());
  const fn = await bundled.resolve("test.echo");
  assert.equal(await fn(ctx("test.echo"), ["hi"], {}), "hi");
  assert.notEqual(fn, await loader.resolve("test.echo"), "the bundle's own copy, not the compiled file");
  assert.deepEqual(bundled.sync(), [], "built-ins found through a path with a trailing slash are not user modules");
});

test("modules - user module directories add modules and can replace built-ins", async () => {
  const dir = mkdtempSync(join(tmpdir(), "natrium-mods-"));
  try {
    writeFileSync(join(dir, "hello.mjs"), "/** Say hi.\n * CLI example: natrium run '*' hello.world\n */\nexport async function world(ctx, args) { return `hi ${ctx.id} ${args.join(',')}`; }\n");
    const l = new ModuleLoader([dir]);
    const fn = await l.resolve("hello.world");
    assert.equal(await fn(ctx("hello.world"), ["x"], {}), "hi m1 x");
    assert.match((await l.docs("hello"))["hello.world"], /Say hi/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("modules - test.*", async () => {
  assert.equal((await call("test.ping")).value, true);
  assert.equal((await call("test.echo", ["hi"])).value, "hi");
  assert.deepEqual((await call("test.arg", [1, "a"], { k: true })).value, { args: [1, "a"], kwargs: { k: true } });
  assert.equal((await call("test.sleep", ["0.01"])).value, true);
  assert.equal((await call("test.rand_sleep", [], { max: 0.01 })).value, true);
  assert.match(String((await call("test.version")).value), /^\d+\.\d+\.\d+/);
  await assert.rejects(call("test.exception", ["boom"]), /boom/);
  assert.deepEqual(await call("test.retcode", [3]), { value: 3, retcode: 3 });
  await assert.rejects(call("test.ping", [], { bogus: 1 }), (e: ExecError) => e.code === "bad_argument" && /unknown keyword argument "bogus"/.test(e.message));
  await assert.rejects(call("test.sleep", ["soon"]), (e: ExecError) => e.code === "bad_argument");
  const ac = new AbortController();
  const p = call("test.sleep", [60], {}, { signal: ac.signal });
  ac.abort(new Error("stopped"));
  await assert.rejects(p, /stopped/);
});

test("modules - grains.*", async () => {
  assert.equal((await call("grains.get", ["dc:rack:row"])).value, 7);
  assert.equal((await call("grains.get", ["roles:0"])).value, "web");
  assert.equal((await call("grains.get", ["dc.rack.row"], { delimiter: "." })).value, 7);
  assert.equal((await call("grains.get", ["missing"], { default: 5 })).value, 5);
  assert.equal((await call("grains.get", ["missing", "pos-default"])).value, "pos-default");
  assert.equal((await call("grains.get", ["missing"])).value, "");
  assert.deepEqual((await call("grains.item", ["os", "nope"])).value, { os: "Debian" });
  assert.deepEqual((await call("grains.ls")).value, ["dc", "id", "os", "roles"]);
  assert.equal(((await call("grains.items")).value as Record<string, unknown>).os, "Debian");
});

test("modules - cmd.run merges stderr, strips trailing space, and sets the job retcode", async () => {
  const r = await call("cmd.run", ["echo a; echo b >&2; exit 4"]);
  assert.equal(r.value, "a\nb");
  assert.equal(r.retcode, 4);
  const all = await call("cmd.run_all", ["printf 'x  \\n'; echo e >&2"], { rstrip: false });
  assert.deepEqual({ ...(all.value as object), pid: 0 }, { pid: 0, retcode: 0, stdout: "x  \n", stderr: "e\n" });
  assert.deepEqual(await call("cmd.retcode", ["exit 7"]), { value: 7, retcode: 0 });
  assert.equal((await call("cmd.run_stdout", ["echo o; echo e >&2"])).value, "o");
  assert.equal((await call("cmd.run_stderr", ["echo o; echo e >&2"])).value, "e");
});

test("modules - cmd options: cwd, env, stdin, shell=false, argument lists", async () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "natrium-cmd-")));
  try {
    assert.equal((await call("cmd.run", ["pwd"], { cwd: dir })).value, dir);
    assert.equal((await call("cmd.run", ["echo $NA_TEST"], { env: { NA_TEST: 42 } })).value, "42");
    assert.equal((await call("cmd.run", ["cat"], { stdin: "piped in\n" })).value, "piped in");
    assert.equal((await call("cmd.run", ["echo 'a  b' $HOME"], { shell: false })).value, "a  b $HOME");
    assert.equal((await call("cmd.run", [["printf", "%s|", "a b", "$X"]])).value, "a b|$X|");
    assert.equal((await call("cmd.run", [["echo", "it's"]], { shell: true })).value, "it's");
    await assert.rejects(call("cmd.run", ["definitely-not-a-program-xyz"], { shell: false }), (e: ExecError) => e.code === "spawn_failed");
    await assert.rejects(call("cmd.run", ["true"], { cwd: join(dir, "missing") }), (e: ExecError) => e.code === "spawn_failed");
    await assert.rejects(call("cmd.run", ["true"], { nope: 1 }), (e: ExecError) => e.code === "bad_argument");
    await assert.rejects(call("cmd.run", []), (e: ExecError) => e.code === "bad_argument");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("modules - cmd timeout kills the whole process group with a clear error", async () => {
  await assert.rejects(
    call("cmd.run", ["sleep 30 & sleep 30; echo never"], { timeout: 0.2 }),
    (e: ExecError) => e.code === "command_timeout" && /timed out after 0\.2 s and was killed/.test(e.message),
  );
  const ac = new AbortController();
  const p = call("cmd.run", ["sleep 30"], {}, { signal: ac.signal });
  setTimeout(() => ac.abort(new ExecError("job_aborted", "aborted for the test")), 50);
  await assert.rejects(p, /aborted for the test/);
});

test("modules - shell-like splitting for shell=false", () => {
  assert.deepEqual(_split(`a "b c" 'd e' f\\ g "h\\"i" ''`), ["a", "b c", "d e", "f g", 'h"i', ""]);
  assert.throws(() => _split(`a "b`), /unterminated/);
});

test("modules - status: uptime, loadavg, meminfo, diskusage and cpuinfo in Salt's shapes", async () => {
  const up = (await call("status.uptime")).value as { seconds: number; days: number; time: string; since_t: number; since_iso: string };
  assert.ok(up.seconds > 0 && up.days >= 0 && /^\d+:\d\d$/.test(up.time));
  assert.ok(Math.abs(up.since_t - (Date.now() / 1000 - up.seconds)) < 5);
  const load = (await call("status.loadavg")).value as Record<string, number>;
  assert.deepEqual(Object.keys(load), ["1-min", "5-min", "15-min"]);
  const mem = (await call("status.meminfo")).value as Record<string, { value: string; unit?: string }>;
  assert.ok(Number(mem.MemTotal.value) > 0 && mem.MemTotal.unit === "kB");
  const disks = (await call("status.diskusage")).value as Record<string, { total: number; available: number }>;
  assert.ok(disks["/"] && disks["/"].total >= disks["/"].available && disks["/"].total > 0, JSON.stringify(Object.keys(disks)));
  assert.ok(!Object.keys(disks).includes("/proc"), "pseudo filesystems are left out");
  const one = (await call("status.diskusage", ["/"])).value as Record<string, unknown>;
  assert.deepEqual(Object.keys(one), ["/"]);
  await assert.rejects(call("status.diskusage", ["/no/such/path"]), (e: ExecError) => e.code === "not_found");
  const cpu = (await call("status.cpuinfo")).value as Record<string, unknown>;
  assert.ok((cpu.processors as number) >= 1);
  if (cpu.flags) assert.ok(Array.isArray(cpu.flags));
});

test("modules - file: write, append, read, stats, hash, replace, chmod, mkdir, chown, remove", async () => {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), "natrium-file-")));
  try {
    const f = join(dir, "motd");
    assert.equal((await call("file.write", [f, "one", "two"])).value, `Wrote 2 lines to "${f}"`);
    writeFileSync(join(dir, "noeol"), "x");
    await call("file.append", [join(dir, "noeol"), "y"]);
    assert.equal((await call("file.read", [join(dir, "noeol")])).value, "x\ny\n", "append starts a new line");
    await call("file.append", [f, "three"]);
    assert.equal((await call("file.read", [f])).value, "one\ntwo\nthree\n");
    assert.equal((await call("file.read", [f], { binary: true })).value, Buffer.from("one\ntwo\nthree\n").toString("base64"));
    assert.equal((await call("file.exists", [f])).value, true);
    assert.equal((await call("file.file_exists", [dir])).value, false);
    assert.equal((await call("file.directory_exists", [dir])).value, true);
    assert.equal((await call("file.exists", [join(dir, "nope")])).value, false);

    const st = (await call("file.stats", [f])).value as Record<string, unknown>;
    assert.equal(st.type, "file");
    assert.equal(st.size, 14);
    assert.equal(st.target, f);
    assert.equal(st.uid, process.getuid!());
    assert.match(String(st.mode), /^0[0-7]{3}$/);

    assert.equal((await call("file.get_hash", [f])).value, createHash("sha256").update("one\ntwo\nthree\n").digest("hex"));
    assert.equal((await call("file.get_hash", [f], { form: "md5" })).value, createHash("md5").update("one\ntwo\nthree\n").digest("hex"));
    await assert.rejects(call("file.get_hash", [f], { form: "crc32" }), (e: ExecError) => e.code === "bad_argument");

    // RE2, multi-line; groups as $1 or \1; count; dry_run; no change -> False.
    assert.equal((await call("file.replace", [f, "^t(\\w+)$", "T\\1"], { count: 1 })).value, true);
    assert.equal((await call("file.read", [f])).value, "one\nTwo\nthree\n");
    assert.equal((await call("file.replace", [f, "^(t)hree$", "$1HREE"], { dry_run: true })).value, true);
    assert.equal((await call("file.read", [f])).value, "one\nTwo\nthree\n", "dry_run leaves the file");
    assert.equal((await call("file.replace", [f, "^nothing$", "x"])).value, false);
    await assert.rejects(call("file.replace", [f, "(a)\\1", "x"]), (e: ExecError) => e.code === "bad_argument" && /RE2/.test(e.message));
    // A backtracking-prone pattern on a long line answers at once (RE2).
    writeFileSync(join(dir, "long"), "a".repeat(5000) + "!");
    assert.equal((await call("file.replace", [join(dir, "long"), "(a+)+$", "x"])).value, false);

    assert.equal((await call("file.chmod", [f, "0600"])).value, "0600");
    assert.equal((await call("file.stats", [f])).value && ((await call("file.stats", [f])).value as { mode: string }).mode, "0600");
    await assert.rejects(call("file.chmod", [f, "rwx"]), (e: ExecError) => e.code === "bad_argument");
    const sub = join(dir, "a", "b");
    assert.equal((await call("file.mkdir", [sub], { mode: "750" })).value, true);
    assert.equal(((await call("file.stats", [sub])).value as { mode: string; type: string }).mode, "0750");
    // Owning by our own ids always works; an unknown user is a clear error.
    assert.equal((await call("file.chown", [f, process.getuid!(), process.getgid!()])).value, true);
    await assert.rejects(call("file.chown", [f, "no-such-user-xyz"]), (e: ExecError) => e.code === "not_found" && /user "no-such-user-xyz" does not exist/.test(e.message));

    assert.equal((await call("file.remove", [join(dir, "a")])).value, true);
    assert.equal((await call("file.remove", [join(dir, "a")])).value, false, "nothing left to remove");
    await assert.rejects(call("file.read", ["relative/path"]), (e: ExecError) => e.code === "bad_argument" && /absolute/.test(e.message));
    await assert.rejects(call("file.read", [join(dir, "missing")]), (e: ExecError) => e.code === "not_found");
    await assert.rejects(call("file.remove", ["/"]), (e: ExecError) => e.code === "bad_argument");
    writeFileSync(join(dir, "big"), Buffer.alloc(800 * 1024));
    await assert.rejects(call("file.read", [join(dir, "big")]), (e: ExecError) => e.code === "too_large");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("modules - network: interfaces with addresses; ping answers, or says the host has no ping", async () => {
  const ifs = (await call("network.interfaces")).value as Record<string, { up: boolean; inet: { address: string; netmask: string }[]; inet6: unknown[] }>;
  assert.ok(ifs.lo, "the loopback interface");
  assert.ok(ifs.lo.inet.some((i) => i.address === "127.0.0.1" && i.netmask === "255.0.0.0"));
  await assert.rejects(call("network.ping", ["-f"]), (e: ExecError) => e.code === "bad_argument", "an option is never taken for a host");
  await assert.rejects(call("network.ping", ["127.0.0.1"], { count: 0 }), (e: ExecError) => e.code === "bad_argument");
  const hasPing = ["/usr/bin/ping", "/bin/ping", "/usr/sbin/ping", "/sbin/ping"].some((p) => existsSync(p));
  if (hasPing) {
    const r = await call("network.ping", ["127.0.0.1"], { count: 1, return_boolean: true });
    assert.equal(typeof r.value, "boolean");
  } else {
    await assert.rejects(call("network.ping", ["127.0.0.1"], { count: 1 }), (e: ExecError) => e.code === "unavailable" && /no ping command/.test(e.message));
  }
});

test("modules - pkg: version and list_pkgs from dpkg; install and remove a local .deb; clear refusals", async () => {
  await assert.rejects(call("pkg.version", ["-oAPT::x"]), (e: ExecError) => e.code === "bad_argument" || e.code === "unavailable");
  const haveDpkg = existsSync("/usr/bin/dpkg-query") && existsSync("/usr/bin/apt-get");
  if (!haveDpkg) {
    await assert.rejects(call("pkg.list_pkgs"), (e: ExecError) => e.code === "unavailable" && /no supported package manager/.test(e.message));
    return;
  }
  const all = (await call("pkg.list_pkgs")).value as Record<string, string>;
  assert.ok(all.dpkg, "dpkg itself is installed");
  assert.equal((await call("pkg.version", ["dpkg"])).value, all.dpkg);
  assert.deepEqual((await call("pkg.version", ["dpkg", "natrium-no-such-pkg"])).value, { dpkg: all.dpkg, "natrium-no-such-pkg": "" });
  await assert.rejects(call("pkg.install", [], { sources: [{ x: "relative.deb" }] }), (e: ExecError) => e.code === "bad_argument");
  if (process.getuid!() !== 0) {
    await assert.rejects(call("pkg.install", ["natrium-test-pkg"]), (e: ExecError) => e.code === "permission_denied" && /needs root/.test(e.message));
    return;
  }
  // A package built here: installing and removing it needs no network and leaves nothing behind.
  const dir = mkdtempSync(join(tmpdir(), "natrium-deb-"));
  const name = `natrium-test-${process.pid}`;
  try {
    mkdirSync(join(dir, "pkg", "DEBIAN"), { recursive: true });
    writeFileSync(join(dir, "pkg", "DEBIAN", "control"), `Package: ${name}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: natrium tests <tests@natrium.invalid>\nDescription: a package the natrium tests install and remove\n`);
    const deb = join(dir, `${name}_1.0-1_all.deb`);
    const built = spawnSync("dpkg-deb", ["--build", "--root-owner-group", join(dir, "pkg"), deb], { encoding: "utf8" });
    assert.equal(built.status, 0, built.stderr);
    const installed = (await call("pkg.install", [], { sources: [{ [name]: deb }] })).value;
    assert.deepEqual(installed, { [name]: { old: "", new: "1.0-1" } });
    assert.equal((await call("pkg.version", [name])).value, "1.0-1");
    assert.deepEqual((await call("pkg.remove", [name])).value, { [name]: { old: "1.0-1", new: "" } });
    assert.equal((await call("pkg.version", [name])).value, "");
    assert.deepEqual((await call("pkg.remove", [name])).value, {}, "removing what is not installed changes nothing");
  } finally {
    spawnSync("dpkg", ["--purge", name]);
    rmSync(dir, { recursive: true, force: true });
  }
});

test("modules - service: systemd when it runs, a clear refusal when it does not", async () => {
  await assert.rejects(call("service.status", ["--all"]), (e: ExecError) => e.code === "bad_argument");
  if (!existsSync("/run/systemd/system")) {
    for (const f of ["service.status", "service.start", "service.stop", "service.restart", "service.enabled"]) {
      await assert.rejects(call(f, ["nginx"]), (e: ExecError) => e.code === "unavailable" && /systemd is not running on this host/.test(e.message), f);
    }
    return;
  }
  assert.equal((await call("service.status", ["natrium-no-such-unit"])).value, false);
  assert.equal((await call("service.enabled", ["natrium-no-such-unit"])).value, false);
  await assert.rejects(call("service.start", ["natrium-no-such-unit"]), (e: ExecError) => e.code === "service_failed" || e.code === "permission_denied");
});

test("modules - grains setters refuse where the minion gives no way to change grains, and check their arguments", async () => {
  await assert.rejects(call("grains.setval", ["role", "web"]), (e: ExecError) => e.code === "unavailable");
  const set: [string, unknown][] = [];
  const extra = { setGrain: (k: string, v: unknown) => { set.push([k, v]); } };
  assert.deepEqual((await call("grains.setvals", [{ a: 1, b: [2] }], {}, extra)).value, { a: 1, b: [2] });
  assert.deepEqual(set, [["a", 1], ["b", [2]]]);
  await assert.rejects(call("grains.setval", ["a:b", 1], {}, extra), (e: ExecError) => e.code === "bad_argument" && /top-level/.test(e.message));
  await assert.rejects(call("grains.setval", ["a"], {}, extra), (e: ExecError) => e.code === "bad_argument");
  assert.deepEqual((await call("grains.append", ["os", "x"], { convert: true }, extra)).value, { os: ["Debian", "x"] });
  assert.deepEqual((await call("grains.delval", ["a"], {}, extra)).value, { a: null });
});

test("modules - cmd runas: the command runs as that user (as root), or a clear refusal", async () => {
  await assert.rejects(call("cmd.run", ["id -un"], { runas: "no-such-user-xyz" }), (e: ExecError) => e.code === "not_found" && /runas user "no-such-user-xyz"/.test(e.message));
  if (process.getuid!() !== 0) {
    await assert.rejects(call("cmd.run", ["id -un"], { runas: "root" }), (e: ExecError) => e.code === "permission_denied" && /needs the minion to run as root/.test(e.message));
    return;
  }
  assert.equal((await call("cmd.run", ["id -un"], { runas: "nobody" })).value, "nobody");
  assert.equal((await call("cmd.run", ["echo $HOME $USER; pwd"], { runas: "nobody" })).value, "/nonexistent nobody\n/");
  assert.equal((await call("cmd.run", [["id", "-G"]], { runas: "nobody" })).value, "65534", "root's supplementary groups are dropped");
});

test("modules - saltutil.sync_modules picks up new and changed user modules; refresh_grains needs a minion", async () => {
  const dir = mkdtempSync(join(tmpdir(), "natrium-mods-"));
  try {
    writeFileSync(join(dir, "mymod.mjs"), "export async function hello() { return 'v1'; }\n");
    const own = new ModuleLoader([dir]);
    const c = ctx("saltutil.sync_modules", { modules: own });
    assert.equal(await (await own.resolve("mymod.hello"))(c, [], {}), "v1");
    writeFileSync(join(dir, "mymod.mjs"), "export async function hello() { return 'v2'; }\n");
    writeFileSync(join(dir, "test.mjs"), "export async function ping() { return 'shadowed'; }\n");
    assert.deepEqual(await (await own.resolve("saltutil.sync_modules"))(c, [], {}), ["modules.mymod", "modules.test"]);
    assert.equal(await (await own.resolve("mymod.hello"))(c, [], {}), "v2", "the changed file is imported again");
    assert.equal(await (await own.resolve("test.ping"))(c, [], {}), "shadowed", "a user module replaces a built-in");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await assert.rejects(call("saltutil.refresh_grains"), (e: ExecError) => e.code === "unavailable");
});
