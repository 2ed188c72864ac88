// The master's file store (salt://): `natrium files put` in chunks, list, rm; users need
// files: true; minions run (cmd.script), install (file.managed, cp.get_file) and list
// (cp.list_master) only what the master signed. Bytes or records written into the object store
// behind the master's back are refused, and nothing of them runs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync, chmodSync } from "node:fs";
import { join } from "node:path";
import { randomBytes, createHash } from "node:crypto";
import { Objm } from "@nats-io/obj";
import { startStack } from "../helpers/stack.js";
import { cli, cliJson } from "../helpers/cli.js";
import { createSigningKeyFile, ephemeralKeys } from "../../services/common/keys.js";
import { signedRequest } from "../../services/common/bus.js";
import { sign } from "../../contracts/sign.js";
import { fileSigPayload, fileSigSubject, type FileRecord } from "../../contracts/files.js";
import type { Identity } from "../../contracts/request.js";
import type { FilesReply } from "../../contracts/api.js";
import { rejectsRemote as rejects } from "../helpers/remote.js";

test("files - the master's file store, and minions using only what the master signed", { timeout: 240_000 }, async (t) => {
  const work = mkdtempSync(join(process.env.TMPDIR ?? "/tmp", "natrium-files-"));
  const opsKey = createSigningKeyFile(join(work, "ops.sign"));
  const alice: Identity = { user: "alice", key: ephemeralKeys().sign };
  const stack = await startStack({ ids: ["web1"], users: { ops: { pub: opsKey.pub, files: true }, alice: { pub: alice.key.pub, acl: ["test.*"] } } });
  const { nc, s } = stack;
  const env = { NATS_URL: stack.nats.url, NATRIUM_NS: s.ns, NATRIUM_KEY: join(work, "ops.sign"), NATRIUM_USER: "ops", NATRIUM_HOME: join(work, "home") };
  const opts = { cwd: work, env };
  const run = async (fun: string, arg: unknown[], kwarg: Record<string, unknown> = {}) => {
    const r = await stack.publish({ tgt: "web1", fun, arg, kwarg, timeout: 30 });
    const j = await stack.cachedJob(r.jid, (x) => x.returns.length === 1, `${fun} to return`);
    return j.returns[0];
  };
  const out = (name: string) => join(stack.dir, name);
  try {
    await t.test("files put sends a file in chunks; the master stores and signs it; files list shows it", async () => {
      const big = randomBytes(600 * 1024); // three chunks
      writeFileSync(join(work, "blob.bin"), big);
      const r = await cliJson<FilesReply>(["files", "put", join(work, "blob.bin"), "data/blob.bin"], opts);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual([r.data.files[0].path, r.data.files[0].size, r.data.files[0].sha256, r.data.files[0].by], ["data/blob.bin", big.length, createHash("sha256").update(big).digest("hex"), "ops"]);
      writeFileSync(join(work, "hello.sh"), '#!/bin/sh\necho "hello $1 $2"\nexit 3\n');
      chmodSync(join(work, "hello.sh"), 0o755);
      assert.equal((await cli(["files", "put", join(work, "hello.sh"), "salt://scripts/hello.sh"], opts)).code, 0);
      writeFileSync(join(work, "plain"), 'echo "no shebang, $#" > "$1"\n');
      assert.equal((await cli(["files", "put", join(work, "plain"), "scripts/plain"], opts)).code, 0);
      writeFileSync(join(work, "app.conf"), "port = 8080\ndebug = false\n");
      assert.equal((await cli(["files", "put", join(work, "app.conf"), "conf/app.conf"], opts)).code, 0);
      const list = await cli(["files", "list"], opts);
      assert.equal(list.code, 0, list.stderr);
      assert.deepEqual(list.stdout.trim().split("\n").map((l) => l.split("\t")[0]), ["salt://conf/app.conf", "salt://data/blob.bin", "salt://scripts/hello.sh", "salt://scripts/plain"]);
      const only = await cliJson<FilesReply>(["files", "list", "scripts/*"], opts);
      assert.deepEqual(only.data.files.map((f) => [f.path, f.mode]), [["scripts/hello.sh", "0755"], ["scripts/plain", "0644"]]);
      const bad = await cli(["files", "put", join(work, "app.conf"), "../etc/passwd"], opts);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr.replace(/\s*\n\s*(›\s*)?/g, " "), /segment "\.\." must be letters/);
    });

    await t.test("a user without files: true may list but not put or remove; the refusal is audited", async () => {
      const put = signedRequest(nc, s.api("files"), { op: "put", path: "x.sh", upload: "abcdefgh12", index: 0, data: new Uint8Array([1]), last: true }, alice, 10_000);
      await rejects(put, "denied", /user "alice" may not change the file store \(set files: true/);
      await rejects(signedRequest(nc, s.api("files"), { op: "remove", path: "scripts/hello.sh" }, alice, 10_000), "denied");
      await stack.busAudit("denied", (a) => a.body.actor === "alice" && a.body.subject === s.api("files"));
      const listed = await signedRequest<FilesReply>(nc, s.api("files"), { op: "list" }, alice, 10_000);
      assert.equal(listed.files.length, 4);
    });

    await t.test("cmd.script runs a salt:// script with its arguments, with or without #!", async () => {
      const r = await run("cmd.script", ["salt://scripts/hello.sh", "big world"]);
      assert.equal(r.retcode, 3);
      assert.deepEqual((({ stdout, stderr, retcode }) => ({ stdout, stderr, retcode }))(r.return as { stdout: string; stderr: string; retcode: number }), { stdout: "hello big world", stderr: "", retcode: 3 });
      const plain = await run("cmd.script", ["salt://scripts/plain"], { args: `${out("plain.out")} two` });
      assert.equal(plain.retcode, 0, JSON.stringify(plain));
      assert.equal(readFileSync(out("plain.out"), "utf8"), "no shebang, 2\n");
      const missing = await run("cmd.script", ["salt://scripts/nope.sh"]);
      assert.equal(missing.success, false);
      assert.equal(missing.error?.code, "file_not_found");
    });

    await t.test("file.managed installs from salt:// or contents, idempotently, and test=True only reports", async () => {
      const target = out("etc/app.conf");
      const first = await run("file.managed", [target], { source: "salt://conf/app.conf", mode: "0640", makedirs: true });
      assert.deepEqual(first.return, { name: target, result: true, changes: { diff: "New file", mode: "0640" }, comment: `File ${target} created` });
      assert.equal(readFileSync(target, "utf8"), "port = 8080\ndebug = false\n");
      assert.equal(statSync(target).mode & 0o777, 0o640);
      const again = await run("file.managed", [target], { source: "salt://conf/app.conf", mode: "0640" });
      assert.deepEqual(again.return, { name: target, result: true, changes: {}, comment: `File ${target} is in the correct state` });
      writeFileSync(target, "port = 9090\ndebug = false\n");
      const dry = await run("file.managed", [target], { source: "salt://conf/app.conf", test: true });
      assert.deepEqual(dry.return, { name: target, result: null, changes: { diff: "-port = 9090\n+port = 8080" }, comment: `File ${target} is set to be changed` });
      assert.equal(readFileSync(target, "utf8"), "port = 9090\ndebug = false\n", "test=True changed nothing");
      const fixed = await run("file.managed", [target], { contents: "only this" });
      assert.equal((fixed.return as { result: boolean }).result, true);
      assert.equal(readFileSync(target, "utf8"), "only this");
      assert.equal(statSync(target).mode & 0o777, 0o640, "a rewrite keeps the file's mode");
      const both = await run("file.managed", [target], { contents: "x", source: "salt://conf/app.conf" });
      assert.equal(both.error?.code, "bad_argument");
    });

    await t.test("cp.get_file copies with the recorded mode; cp.list_master lists the signed files", async () => {
      const dest = await run("cp.get_file", ["salt://scripts/hello.sh", out("bin") + "/"], { makedirs: true });
      assert.equal(dest.return, join(out("bin"), "hello.sh"));
      assert.equal(statSync(join(out("bin"), "hello.sh")).mode & 0o777, 0o755);
      const big = await run("cp.get_file", ["salt://data/blob.bin", out("blob.bin")]);
      assert.equal(big.success, true, JSON.stringify(big));
      assert.equal(createHash("sha256").update(readFileSync(out("blob.bin"))).digest("hex"), createHash("sha256").update(readFileSync(join(work, "blob.bin"))).digest("hex"));
      const listed = await run("cp.list_master", [], { prefix: "scripts/" });
      assert.deepEqual(listed.return, ["scripts/hello.sh", "scripts/plain"]);
    });

    await t.test("bytes or records written behind the master's back are refused, and nothing of them runs", async () => {
      // Where NATS is not locked down anyone can write the object store: the signature is the guard.
      const os = await new Objm(nc).open(s.filesBucket);
      const evil = Buffer.from(`#!/bin/sh\ntouch ${out("pwned")}\n`);
      const stranger = ephemeralKeys().sign;
      const rec: FileRecord = { path: "scripts/evil.sh", sha256: createHash("sha256").update(evil).digest("hex"), size: evil.length, ts: Date.now(), by: "mallory" };
      await os.putBlob({ name: "scripts/evil.sh", description: JSON.stringify({ record: rec, sig: sign(stranger, fileSigSubject(s.ns, rec.path), fileSigPayload(rec)) }) }, evil);
      const forged = await run("cmd.script", ["salt://scripts/evil.sh"]);
      assert.equal(forged.error?.code, "file_untrusted");
      assert.match(forged.error!.message, /not signed by the master this minion trusts/);
      // The master's genuine record over other bytes.
      const info = await os.info("scripts/hello.sh");
      await os.putBlob({ name: "scripts/hello.sh", description: info!.description }, evil);
      const swapped = await run("cmd.script", ["salt://scripts/hello.sh"]);
      assert.equal(swapped.error?.code, "file_untrusted");
      assert.match(swapped.error!.message, /are not the ones the master signed/);
      const installed = await run("file.managed", [out("evil.sh")], { source: "salt://scripts/evil.sh" });
      assert.equal(installed.error?.code, "file_untrusted");
      assert.ok(!existsSync(out("pwned")) && !existsSync(out("evil.sh")), "nothing forged ran or was written");
      const listed = await run("cp.list_master", []);
      assert.ok(!(listed.return as string[]).includes("scripts/evil.sh"), "a forged record is not part of the store");
    });

    await t.test("files rm removes a file; using it afterwards is file_not_found", async () => {
      const r = await cli(["files", "rm", "salt://conf/app.conf"], opts);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), "removed salt://conf/app.conf");
      const gone = await run("file.managed", [out("x.conf")], { source: "salt://conf/app.conf" });
      assert.equal(gone.error?.code, "file_not_found");
      const again = await cli(["files", "rm", "conf/app.conf"], opts);
      assert.equal(again.code, 2);
      assert.match(again.stderr, /not in the file store/);
    });
    await stack.assertHealthy();
  } finally {
    await stack.stop();
  }
});


