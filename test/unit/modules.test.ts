// Execution modules called directly with an ExecContext: no NATS involved.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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
  for (const m of ["cmd", "grains", "sys", "test"]) assert.ok(loader.modules().includes(m), m);
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
