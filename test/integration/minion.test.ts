// The minion against a real nats-server. The test plays the master with contracts/ alone:
// it creates the stream and buckets, publishes the master key record, accepts the minion's
// key from its signed start event, and publishes signed commands. A test driver, not a mock.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, statSync, writeFileSync, readFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { connect, headers as natsHeaders } from "@nats-io/transport-node";
import { openAs, verifyAs, H } from "../../contracts/message.js";
import { encode } from "../../contracts/codec.js";
import { newJid } from "../../contracts/jid.js";
import { fingerprint } from "../../contracts/sign.js";
import { registryKeys, type MinionKeyRecord } from "../../contracts/registry.js";
import type { JobPublished } from "../../contracts/events/index.js";
import { ephemeralKeys } from "../../services/common/keys.js";
import { Driver, quiet } from "../helpers/driver.js";
import { Minion, type MinionOptions } from "../../services/minion/minion.js";
import { runMinion } from "../../services/minion/main.js";
import { startSwarm } from "../../services/minion/swarm.js";
import { natsFixture } from "../helpers/fixture.js";
import { waitFor } from "../helpers/ports.js";

const fx = natsFixture("natrium-minion-test-");

/** A driver plus a started, accepted minion on its own connection. */
async function setup(opts: Partial<MinionOptions> & { accept?: boolean } = {}) {
  const d = await Driver.start(fx.nats.url);
  const nc = await connect({ servers: fx.nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const minion = new Minion({ nc, ns: d.s.ns, id: opts.id ?? "web1", keys: opts.keys ?? ephemeralKeys(), log: quiet, ...opts });
  await minion.start();
  if (opts.accept !== false) {
    await d.setKey(minion.id, "accepted");
    await minion.whenAccepted();
  }
  const done = async () => {
    await minion.stop({ graceMs: 500 });
    await nc.close();
    await d.close();
  };
  fx.cleanups.push(done);
  return { d, nc, minion };
}

test("minion - an accepted minion runs a signed command and its signed return is in the stream", async () => {
  const { d, minion } = await setup({ staticGrains: { roles: ["web"] } });
  const { jid } = await d.publish({ fun: "test.arg", arg: [1, "two"], kwarg: { three: 3 } });
  const r = await d.ret(jid, minion.id);
  assert.equal(r.id, "web1");
  assert.equal(r.fun, "test.arg");
  assert.equal(r.success, true);
  assert.equal(r.retcode, 0);
  assert.deepEqual(r.return, { args: [1, "two"], kwargs: { three: 3 } });
  assert.deepEqual(r.fun_args, [1, "two", { three: 3 }]);
  assert.ok(r.end >= r.start && r.duration_ms >= 0);
  assert.equal(await d.count(d.s.jobRet(jid, minion.id)), 1);
  // Its grains event is in the stream too, signed, with config grains merged.
  const g = await d.jsm.streams.getMessage(d.s.stream, { last_by_subj: d.s.minionGrains("web1") });
  const o = openAs("minion.grains", g!.subject, g!.data, g!.header);
  verifyAs(o, (await d.started("web1")).pub, "web1");
  assert.deepEqual(o.body.grains.roles, ["web"]);
  assert.equal(o.body.grains.id, "web1");
  assert.equal(typeof o.body.grains.num_cpus, "number");
});

test("minion - a command signed by another key is not run, is audited, and the minion stays up", async () => {
  const { d, minion } = await setup();
  const forger = ephemeralKeys();
  const { jid: bad } = await d.publish({ fun: "test.ping" }, forger.sign);
  const a = await d.audit("bad_signature", (x) => x.detail?.jid === bad);
  assert.equal(a.actor, "web1");
  assert.equal(a.detail?.signer, forger.sign.pub);
  assert.equal(minion.tookJob(bad), false);
  const { jid: good } = await d.publish({ fun: "test.ping" });
  assert.equal((await d.ret(good, "web1")).return, true);
  assert.equal(await d.count(d.s.jobRet(bad, "web1")), 0);
});

test("minion - expired and replayed commands are not run", async () => {
  const { d, minion } = await setup();
  const { jid: old } = await d.publish({ expires: Date.now() - 1000 });
  await d.audit("expired_command", (x) => x.detail?.jid === old);
  assert.equal(minion.tookJob(old), false);

  const file = join(fx.tmp, `replay-${randomBytes(4).toString("hex")}`);
  const { jid, raw } = await d.publish({ fun: "cmd.run", arg: [`echo ran >> ${file}`] });
  await d.ret(jid, "web1");
  const startedBefore = minion.stats.started;
  await d.sendRaw(raw); // the identical bytes again
  const replayed = await d.audit("replayed_command", (x) => x.detail?.jid === jid);
  assert.equal(replayed.detail?.identical, true);
  // Same jid, new signature: a second command reusing a jid is refused too.
  await d.publish({ jid, fun: "cmd.run", arg: [`echo again >> ${file}`] });
  await d.audit("replayed_command", (x) => x.detail?.jid === jid && x.detail?.identical === false);
  assert.equal(minion.stats.started, startedBefore);
  assert.equal(readFileSync(file, "utf8"), "ran\n");
});

test("minion - a command replayed after the minion restarted is not run again (seen jids on disk)", async () => {
  const hex = randomBytes(4).toString("hex");
  const seenFile = join(fx.tmp, `seen-${hex}`);
  const keys = ephemeralKeys();
  const { d, minion } = await setup({ keys, seenFile });
  const file = join(fx.tmp, `replay-restart-${hex}`);
  const { jid, raw } = await d.publish({ fun: "cmd.run", arg: [`echo ran >> ${file}`] });
  await d.ret(jid, "web1");
  await minion.stop({ graceMs: 500 });
  const nc2 = await connect({ servers: fx.nats.url });
  const again = new Minion({ nc: nc2, ns: d.s.ns, id: "web1", keys, log: quiet, seenFile });
  fx.cleanups.push(async () => {
    await again.stop({ graceMs: 500 });
    await nc2.close();
  });
  await again.start();
  await again.whenAccepted();
  await d.sendRaw(raw); // captured before the restart, still unexpired
  await d.audit("replayed_command", (x) => x.detail?.jid === jid);
  assert.equal(again.tookJob(jid), true, "it knows the jid from disk");
  assert.equal(again.stats.started, 0);
  assert.equal(readFileSync(file, "utf8"), "ran\n");
});

test("minion - grains.setval/append/delval persist, retarget at once, reach the master, and survive a restart", async () => {
  const hex = randomBytes(4).toString("hex");
  const grainsFile = join(fx.tmp, `grains-${hex}`);
  const keys = ephemeralKeys();
  const { d, minion } = await setup({ keys, grainsFile, staticGrains: { role: "base" } });
  const grainsEvents = async () => d.count(d.s.minionGrains("web1"));
  const before = await grainsEvents();
  let r = await d.ret((await d.publish({ fun: "grains.setval", arg: ["role", "web"] })).jid, "web1");
  assert.deepEqual(r.return, { role: "web" });
  r = await d.ret((await d.publish({ fun: "grains.append", arg: ["roles", "cache"] })).jid, "web1");
  assert.deepEqual(r.return, { roles: ["cache"] });
  r = await d.ret((await d.publish({ fun: "grains.append", arg: ["roles", "cache"] })).jid, "web1");
  assert.deepEqual(r.return, { roles: ["cache"] }, "not added twice");
  r = await d.ret((await d.publish({ fun: "grains.append", arg: ["role", "x"] })).jid, "web1");
  assert.equal(r.success, false);
  assert.match(String(r.return), /not a list \(pass convert=True/);
  r = await d.ret((await d.publish({ fun: "grains.setval", arg: ["id", "other"] })).jid, "web1");
  assert.equal(r.success, false, "the id grain cannot be set");
  // Targeting sees the new value at once (the minion selects itself on it).
  const byGrain = await d.publish({ tgt: "role:web", tgt_type: "grain", fun: "test.ping" });
  assert.equal((await d.ret(byGrain.jid, "web1")).return, true);
  // Each change is sent to the master as a signed grains event.
  await waitFor("grains events for the changes", async () => ((await grainsEvents()) >= before + 3 ? true : undefined), 10_000);
  // refresh_grains detects again, keeps the custom ones and sends them to the master.
  const beforeRefresh = await grainsEvents();
  r = await d.ret((await d.publish({ fun: "saltutil.refresh_grains" })).jid, "web1");
  assert.equal(r.return, true);
  await waitFor("a grains event after refresh_grains", async () => ((await grainsEvents()) > beforeRefresh ? true : undefined), 10_000);
  assert.equal((await d.ret((await d.publish({ fun: "grains.get", arg: ["role"] })).jid, "web1")).return, "web");
  r = await d.ret((await d.publish({ fun: "grains.delval", arg: ["roles"], kwarg: { destructive: true } })).jid, "web1");
  assert.equal(r.return, true);
  assert.match(readFileSync(grainsFile, "utf8"), /^role: web$/m);
  assert.doesNotMatch(readFileSync(grainsFile, "utf8"), /roles/);
  await minion.stop({ graceMs: 500 });
  // A restart keeps them, over the configured grains.
  const nc2 = await connect({ servers: fx.nats.url });
  const again = new Minion({ nc: nc2, ns: d.s.ns, id: "web1", keys, log: quiet, grainsFile, staticGrains: { role: "base" } });
  fx.cleanups.push(async () => {
    await again.stop({ graceMs: 500 });
    await nc2.close();
  });
  await again.start();
  await again.whenAccepted();
  r = await d.ret((await d.publish({ fun: "grains.get", arg: ["role"] })).jid, "web1");
  assert.equal(r.return, "web");
});

test("minion - garbage on the job subject is audited and the minion keeps working", async () => {
  const { d, nc } = await setup();
  nc.publish(d.s.jobNew(newJid()), new Uint8Array([0xc1, 0xff, 0x00]));
  const h = natsHeaders();
  h.set(H.type, "job.new");
  h.set(H.signer, d.master.sign.pub);
  h.set(H.sig, "AAAA");
  nc.publish(d.s.jobNew(newJid()), encode({ v: 1, type: "job.new", nonsense: true }), { headers: h });
  await nc.flush();
  const a = await d.audit("bad_command");
  assert.equal(a.actor, "web1");
  const { jid } = await d.publish();
  assert.equal((await d.ret(jid, "web1")).success, true);
});

test("minion - an unknown function returns retcode 254 and a clear message", async () => {
  const { d } = await setup();
  const { jid } = await d.publish({ fun: "foo.bar" });
  const r = await d.ret(jid, "web1");
  assert.equal(r.success, false);
  assert.equal(r.retcode, 254);
  assert.equal(r.return, "'foo.bar' is not available.");
  assert.equal(r.error?.code, "unknown_function");
  const { jid: j2 } = await d.publish({ fun: "test._helper" });
  assert.equal((await d.ret(j2, "web1")).retcode, 254);
});

test("minion - a function that throws returns success false, retcode 1 and the message", async () => {
  const { d } = await setup();
  const { jid } = await d.publish({ fun: "test.exception", arg: ["it broke"] });
  const r = await d.ret(jid, "web1");
  assert.equal(r.success, false);
  assert.equal(r.retcode, 1);
  assert.equal(r.return, "it broke");
  assert.equal(r.error?.message, "it broke");
});

test("minion - cmd.run_all gives stdout, stderr and the command's retcode; cmd.run merges output", async () => {
  const { d } = await setup();
  const { jid } = await d.publish({ fun: "cmd.run_all", arg: ["echo out; echo err >&2; exit 3"] });
  const r = await d.ret(jid, "web1");
  const ret = r.return as { pid: number; retcode: number; stdout: string; stderr: string };
  assert.equal(ret.stdout, "out");
  assert.equal(ret.stderr, "err");
  assert.equal(ret.retcode, 3);
  assert.ok(ret.pid > 0);
  assert.equal(r.retcode, 3);
  assert.equal(r.success, false);
  assert.equal(r.error, undefined);

  const { jid: j2 } = await d.publish({ fun: "cmd.run", arg: ["echo one; echo two >&2"] });
  const r2 = await d.ret(j2, "web1");
  assert.match(String(r2.return), /one/);
  assert.match(String(r2.return), /two/);
  assert.equal(r2.success, true);

  // shell=false: no shell, so '$HOME' and ';' arrive as plain arguments.
  const { jid: j3 } = await d.publish({ fun: "cmd.run", arg: ["echo '$HOME;' x"], kwarg: { shell: false } });
  assert.equal((await d.ret(j3, "web1")).return, "$HOME; x");
});

test("minion - cmd timeout kills the command with a clear error; job_timeout stops any job", async () => {
  const { d } = await setup({ jobTimeoutSec: 2 });
  const { jid } = await d.publish({ fun: "cmd.run", arg: ["sleep 30"], kwarg: { timeout: 0.3 } });
  const r = await d.ret(jid, "web1");
  assert.equal(r.success, false);
  assert.equal(r.error?.code, "command_timeout");
  assert.match(String(r.return), /timed out after 0\.3 s/);

  const { jid: j2 } = await d.publish({ fun: "test.sleep", arg: [60] });
  const r2 = await d.ret(j2, "web1");
  assert.equal(r2.success, false);
  assert.equal(r2.error?.code, "job_timeout");
  assert.match(String(r2.return), /job_timeout \(2 s\)/);
});

test("minion - grains.get walks nested keys and falls back to a default", async () => {
  const { d } = await setup({ staticGrains: { datacenter: { rack: { row: 7 } }, roles: ["web", "db"] } });
  const cases: [unknown[], Record<string, unknown>, unknown][] = [
    [["datacenter:rack:row"], {}, 7],
    [["roles:1"], {}, "db"],
    [["nope:nothing"], { default: "fallback" }, "fallback"],
    [["nope"], {}, ""],
    [["id"], {}, "web1"],
  ];
  for (const [arg, kwarg, want] of cases) {
    const { jid } = await d.publish({ fun: "grains.get", arg, kwarg });
    assert.deepEqual((await d.ret(jid, "web1")).return, want, JSON.stringify(arg));
  }
  const { jid } = await d.publish({ fun: "grains.ls" });
  assert.ok(((await d.ret(jid, "web1")).return as string[]).includes("os_family"));
});

test("minion - glob, list, grain and pcre targets select only the minions they name", async () => {
  const d = await Driver.start(fx.nats.url);
  const nc = await connect({ servers: fx.nats.url });
  const mk = (id: string, role: string) => new Minion({ nc, ns: d.s.ns, id, keys: ephemeralKeys(), log: quiet, staticGrains: { role } });
  const web = mk("web1.example.com", "web");
  const db = mk("db1.example.com", "db");
  await Promise.all([web.start(), db.start()]);
  await d.setKey(web.id, "accepted");
  await d.setKey(db.id, "accepted");
  await Promise.all([web.whenAccepted(), db.whenAccepted()]);
  fx.cleanups.push(async () => {
    await Promise.all([web.stop(), db.stop()]);
    await nc.close();
    await d.close();
  });
  const targets: [Partial<JobPublished>, string[]][] = [
    [{ tgt: "web*", tgt_type: "glob" }, ["web1.example.com"]],
    [{ tgt: ["db1.example.com", "other"], tgt_type: "list" }, ["db1.example.com"]],
    [{ tgt: "role:d?", tgt_type: "grain" }, ["db1.example.com"]],
    [{ tgt: "^(web|db)1\\.", tgt_type: "pcre" }, ["web1.example.com", "db1.example.com"]],
    [{ tgt: "nobody*", tgt_type: "glob" }, []],
  ];
  for (const [t, want] of targets) {
    const { jid } = await d.publish(t);
    for (const id of want) assert.equal((await d.ret(jid, id)).success, true);
    // Selection is decided synchronously when the command arrives, so a later command proves
    // the earlier one has been seen by both: the non-selected minion did not take it.
    const { jid: probe } = await d.publish({ tgt: "*" });
    await Promise.all([d.ret(probe, web.id), d.ret(probe, db.id)]);
    assert.deepEqual([web, db].filter((m) => m.tookJob(jid)).map((m) => m.id), want, JSON.stringify(t));
  }
});

test("minion - a rejected key runs nothing; accepting it later works", async () => {
  const { d, minion } = await setup({ id: "late", accept: false });
  await d.setKey("late", "rejected");
  await waitFor("the minion to see its rejection", () => minion.keyState === "rejected" || undefined);
  const seen = minion.stats.received;
  const { jid } = await d.publish();
  await waitFor("the command to reach the minion", () => minion.stats.received > seen || undefined);
  assert.equal(minion.tookJob(jid), false);
  await d.setKey("late", "accepted");
  await minion.whenAccepted();
  const { jid: j2 } = await d.publish();
  assert.equal((await d.ret(j2, "late")).return, true);
});

test("minion - the master key is pinned at first contact and a different one is refused later", async () => {
  const pki = mkdtempSync(join(fx.tmp, "pki-"));
  const pinFile = join(pki, "master.pub");
  const keys = ephemeralKeys();
  const { d, minion } = await setup({ id: "pinner", pinFile, keys });
  assert.equal(readFileSync(pinFile, "utf8").trim(), d.master.sign.pub);
  assert.equal(statSync(pinFile).mode & 0o777, 0o600);
  await minion.stop();

  // A new master key appears (an impostor, or a master reinstalled without telling minions).
  const impostor = ephemeralKeys();
  await d.putMaster(impostor);
  const nc2 = await connect({ servers: fx.nats.url });
  const again = new Minion({ nc: nc2, ns: d.s.ns, id: "pinner", keys, log: quiet, pinFile });
  fx.cleanups.push(async () => { await again.stop(); await nc2.close(); });
  await again.start();
  const a = await d.audit("master_key_mismatch", (x) => x.actor === "pinner");
  assert.equal(a.detail?.finger, fingerprint(impostor.sign.pub));
  await again.whenAccepted();
  const { jid } = await d.publish({}, impostor.sign);
  await d.audit("bad_signature", (x) => x.detail?.jid === jid);
  assert.equal(again.tookJob(jid), false);
  const { jid: ok } = await d.publish({});
  assert.equal((await d.ret(ok, "pinner")).success, true);
});

test("minion - master_finger refuses a master key with another fingerprint", async () => {
  const d = await Driver.start(fx.nats.url);
  const nc = await connect({ servers: fx.nats.url });
  const m = new Minion({ nc, ns: d.s.ns, id: "fingered", keys: ephemeralKeys(), log: quiet, masterFinger: fingerprint(ephemeralKeys().sign.pub) });
  fx.cleanups.push(async () => { await m.stop(); await nc.close(); await d.close(); });
  await m.start();
  await d.setKey("fingered", "accepted");
  await d.audit("master_key_mismatch", (x) => x.actor === "fingered");
  assert.equal(m.accepted, false);
  const ok = new Minion({ nc, ns: d.s.ns, id: "fingered2", keys: ephemeralKeys(), log: quiet, masterFinger: fingerprint(d.master.sign.pub).toUpperCase() });
  fx.cleanups.push(() => ok.stop());
  await ok.start();
  await d.setKey("fingered2", "accepted");
  await ok.whenAccepted();
});

test("minion - returns made while NATS restarts or is down are delivered exactly once, and jobs flow afterwards", async () => {
  const { d, minion } = await setup({ id: "survivor" });
  const { jid } = await d.publish({ fun: "test.sleep", arg: [1] });
  await waitFor("the job to start", () => minion.tookJob(jid) || undefined);
  await fx.nats.restart();
  const r = await d.ret(jid, "survivor", 60_000);
  assert.equal(r.success, true);
  assert.equal(await d.count(d.s.jobRet(jid, "survivor")), 1);

  // Now a return made while the server is down: it waits, and goes out once it is back.
  const { jid: j2 } = await waitFor("a job accepted after the restart", async () => {
    const p = await d.publish({ tgt: "survivor", fun: "test.sleep", arg: [0.2] });
    return waitFor("it to start", () => minion.tookJob(p.jid) || undefined, 2000).then(() => p, () => undefined);
  }, 60_000, 100);
  await fx.nats.kill();
  await waitFor("the return to be pending while NATS is down", () => (minion.running().length === 0 && minion.pendingReturns > 0) || undefined);
  await fx.nats.start();
  assert.equal((await d.ret(j2, "survivor", 60_000)).success, true);
  assert.equal(await d.count(d.s.jobRet(j2, "survivor")), 1);
  // The job subscription came back with the connection.
  const again = await waitFor("a job after the restart", async () => {
    const { jid: j } = await d.publish({ tgt: "survivor" });
    return d.ret(j, "survivor", 3000).catch(() => undefined);
  }, 60_000, 100);
  assert.equal(again.success, true);
});

test("minion - runMinion makes 0600 keys, waits for the stream, runs jobs and drains on stop", async () => {
  const d = await Driver.start(fx.nats.url, { stream: false });
  fx.cleanups.push(() => d.close());
  const dataDir = mkdtempSync(join(fx.tmp, "data-"));
  const cfgFile = join(dataDir, "minion.yaml");
  writeFileSync(cfgFile, `nats_url: ${fx.nats.url}\nns: ${d.s.ns}\ndata_dir: ${dataDir}\nlog_level: quiet\nshutdown_grace: 5\ngrains:\n  role: edge\n`);
  const stop = new AbortController();
  let minion: Minion | undefined;
  const running = runMinion({ config: cfgFile, overrides: { id: "daemon1" }, signal: stop.signal, onStarted: (m) => (minion = m) });
  // The master (this driver) comes up after the minion: the minion retries until the stream exists.
  await d.setup();
  await waitFor("the minion to announce itself", () => minion);
  for (const f of ["minion.sign", "minion.box"]) assert.equal(statSync(join(dataDir, "pki", f)).mode & 0o777, 0o600, f);
  await d.setKey("daemon1", "accepted");
  await minion!.whenAccepted();
  assert.ok(existsSync(join(dataDir, "pki", "master.pub")));
  const { jid } = await d.publish({ fun: "test.sleep", arg: [0.5], tgt: "role:edge", tgt_type: "grain" });
  await waitFor("the job to start", () => minion!.tookJob(jid) || undefined);
  stop.abort();
  await running;
  // The running job finished within the grace period and its return went out before exit.
  const r = await d.ret(jid, "daemon1");
  assert.equal(r.success, true);
});

test("minion - a wrong config key or type stops the minion naming the key", async () => {
  const f = join(fx.tmp, "bad.yaml");
  writeFileSync(f, "job_timeuot: 5\n");
  await assert.rejects(runMinion({ config: f }), /unknown key "job_timeuot" \(did you mean "job_timeout"\?\)/);
  writeFileSync(f, "job_timeout: soon\n");
  await assert.rejects(runMinion({ config: f }), /key "job_timeout"/);
});

test("minion - a swarm of 200 identities starts, is accepted and answers", async () => {
  const d = await Driver.start(fx.nats.url);
  fx.cleanups.push(() => d.close());
  // auto_accept, as a master would do it: accept every key from its start event.
  const c = await d.js.consumers.get(d.s.stream, { filter_subjects: `${d.s.ns}.minion.*.start` });
  void (async () => {
    const msgs = await c.consume();
    for await (const m of msgs) {
      const o = openAs("minion.start", m.subject, m.data, m.headers);
      const rec: MinionKeyRecord = { id: o.body.id, state: "accepted", pub: o.body.pub, box_pub: o.body.box_pub, finger: fingerprint(o.body.pub), ts: Date.now() };
      await d.buckets.keys.put(registryKeys.minionKey(o.body.id), encode(rec));
    }
  })().catch(() => {}); // ends when the driver's connection closes
  const swarm = await startSwarm({ url: fx.nats.url, ns: d.s.ns, count: 200, connections: 2, log: quiet, waitAccepted: true, grains: { role: "swarm" } });
  fx.cleanups.push(() => swarm.stop());
  assert.equal(swarm.ids.length, 200);
  assert.equal(new Set(swarm.ids).size, 200);
  const { jid } = await d.publish({ tgt: "role:swarm", tgt_type: "grain" });
  await waitFor("200 returns", async () => (await d.count(`${d.s.ns}.job.${jid}.ret.*`)) === 200 || undefined, 60_000, 200);
  const one = await d.ret(jid, swarm.ids[123]);
  assert.equal(one.return, true);
  await swarm.stop();
});

test("minion - keys derived by node:crypto are the keys tweetnacl derives", async () => {
  const nacl = (await import("tweetnacl")).default;
  const { sign: s2, verify } = await import("../../contracts/sign.js");
  for (let i = 0; i < 50; i++) {
    const k = ephemeralKeys();
    const sig = s2(k.sign, "a.b", new Uint8Array([1, 2, 3]));
    verify(k.sign.pub, "a.b", new Uint8Array([1, 2, 3]), sig);
    assert.equal(Buffer.from(nacl.sign.keyPair.fromSeed(k.sign.seed).publicKey).toString("base64"), k.sign.pub);
    assert.equal(Buffer.from(nacl.box.keyPair.fromSecretKey(k.boxSecret).publicKey).toString("base64"), k.boxPub);
  }
});
