// The master against a real nats-server. The test plays the minions with the contract (signed
// start, grains and return events), which is what a minion written in any language would do.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, DeliverPolicy } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { startNats } from "../helpers/nats.js";
import { waitFor } from "../helpers/ports.js";
import { publishEv, startMinion } from "../helpers/minions.js";
import { Master } from "../../services/master/master.js";
import { ephemeralKeys } from "../../services/common/keys.js";
import { createLogger } from "../../services/common/log.js";
import { request, signedRequest, toHeaders } from "../../services/common/bus.js";
import { subjects, type Subjects } from "../../contracts/subjects.js";
import { open } from "../../contracts/message.js";
import { eventIds } from "../../contracts/ids.js";
import { decode } from "../../contracts/codec.js";
import { registryKeys, minionKeyRecord } from "../../contracts/registry.js";
import { RemoteError } from "../../contracts/errors.js";
import type { PublishReply } from "../../contracts/api.js";
import type { JobDone, JobReturned } from "../../contracts/events/index.js";

const quiet = createLogger({ svc: "test" }, "quiet");
/** The master's admin: every request below is signed by it. */
const admin = { user: "admin", key: ephemeralKeys().sign };

function ret(jid: string, id: string): JobReturned {
  const now = Date.now();
  return { v: 1, type: "job.ret", eid: eventIds.jobRet(jid, id), ts: now, jid, id, fun: "test.ping", fun_args: [], return: true, retcode: 0, success: true, start: now, end: now, duration_ms: 0.1 };
}

async function nextDone(nc: NatsConnection, s: Subjects, jid: string): Promise<JobDone> {
  const c = await jetstream(nc).consumers.get(s.stream, { filter_subjects: s.jobDone(jid), deliver_policy: DeliverPolicy.All });
  const m = await c.next({ expires: 10_000 });
  assert.ok(m, "a done event");
  return open(m.subject, m.data, m.headers).body as JobDone;
}

test("master - accepts minions, tracks returns, closes jobs, refuses what it must", { timeout: 120_000 }, async (t) => {
  const nats = await startNats();
  const nc = await connect({ servers: nats.url });
  const s = subjects(`m${randomBytes(4).toString("hex")}`);
  const master = new Master(nc, ephemeralKeys(), { id: "master", ns: s.ns, timeout: 5, autoAccept: true, commandTtl: 60, streamMaxAgeHours: 0, replicas: 1, adminPub: admin.key.pub }, quiet);
  try {
    await master.start();
    const kv = await new Kvm(nc).open(s.keysBucket);
    const web1 = await startMinion(nc, s, "web1", undefined, { os: "Debian", roles: ["web"] });
    const db1 = await startMinion(nc, s, "db1.example.com", undefined, { os: "Alpine" });
    await waitFor("both minions accepted", () => (master.registry.accepted("web1") && master.registry.accepted("db1.example.com") && master.registry.grains.get("db1.example.com") ? true : undefined));
    const rec = minionKeyRecord.parse(decode((await kv.get(registryKeys.minionKey("web1")))!.value));
    assert.equal(rec.state, "accepted");
    assert.equal(rec.pub, web1.sign.pub);

    await t.test("targets resolve against the registry", async () => {
      const pub = (tgt: string | string[], tgt_type: string) =>
        signedRequest<PublishReply>(nc, s.api("publish"), { v: 1, tgt, tgt_type, fun: "test.ping", arg: [], kwarg: {}, timeout: 0.2 }, admin, 5000);
      assert.deepEqual((await pub("*", "glob")).minions, ["db1.example.com", "web1"]);
      assert.deepEqual((await pub("db1.*", "glob")).minions, ["db1.example.com"]);
      assert.deepEqual((await pub(["web1", "ghost"], "list")).minions, ["web1"]);
      assert.deepEqual((await pub("os:Deb*", "grain")).minions, ["web1"]);
      assert.deepEqual((await pub("roles:web", "grain")).minions, ["web1"]);
      assert.deepEqual((await pub("^db", "pcre")).minions, ["db1.example.com"]);
    });

    await t.test("all returned: done at once with every minion", async () => {
      const r = await signedRequest<PublishReply>(nc, s.api("publish"), { v: 1, tgt: "*", tgt_type: "glob", fun: "test.ping", arg: [], kwarg: {}, timeout: 30 }, admin, 5000);
      await publishEv(nc, s.jobRet(r.jid, "web1"), ret(r.jid, "web1"), web1);
      await publishEv(nc, s.jobRet(r.jid, "db1.example.com"), ret(r.jid, "db1.example.com"), db1);
      const done = await nextDone(nc, s, r.jid);
      assert.equal(done.reason, "all_returned");
      assert.deepEqual(done.returned, ["db1.example.com", "web1"]);
      assert.deepEqual(done.missing, []);
    });

    await t.test("timeout: done names the missing minion; a forged return does not count", async () => {
      const r = await signedRequest<PublishReply>(nc, s.api("publish"), { v: 1, tgt: "*", tgt_type: "glob", fun: "test.ping", arg: [], kwarg: {}, timeout: 1 }, admin, 5000);
      await publishEv(nc, s.jobRet(r.jid, "web1"), ret(r.jid, "web1"), web1);
      // db1's return signed by web1's key: a forgery
      await publishEv(nc, s.jobRet(r.jid, "db1.example.com"), ret(r.jid, "db1.example.com"), web1);
      const done = await nextDone(nc, s, r.jid);
      assert.equal(done.reason, "timeout");
      assert.deepEqual(done.returned, ["web1"]);
      assert.deepEqual(done.missing, ["db1.example.com"]);
    });

    await t.test("a second minion with an accepted id but another key is refused and audited", async () => {
      const audit = await jetstream(nc).consumers.get(s.stream, { filter_subjects: s.audit("key_conflict"), deliver_policy: DeliverPolicy.New });
      const next = audit.next({ expires: 10_000 });
      await startMinion(nc, s, "web1");
      const m = await next;
      assert.ok(m, "an audit event");
      assert.match(String((open(m.subject, m.data, m.headers).body as { reason: string }).reason), /differs from its accepted key/);
      assert.equal(master.registry.accepted("web1")?.pub, web1.sign.pub, "the real minion keeps its key");
    });

    await t.test("bad requests get typed error replies and create no job", async () => {
      const bad = async (body: unknown, code: string) => {
        await assert.rejects(signedRequest(nc, s.api("publish"), body, admin, 5000), (e: unknown) => e instanceof RemoteError && e.code === code);
      };
      await bad({ v: 1 }, "invalid");
      await bad({ v: 1, tgt: "*", tgt_type: "glob", fun: "nodot", arg: [], kwarg: {} }, "invalid");
      await bad({ v: 1, tgt: "(", tgt_type: "pcre", fun: "test.ping", arg: [], kwarg: {} }, "bad_target");
      await bad({ v: 1, tgt: "nocolon", tgt_type: "grain", fun: "test.ping", arg: [], kwarg: {} }, "bad_target");
      const garbage = await nc.request(s.api("publish"), new Uint8Array([0xc1, 0xff]), { timeout: 5000 });
      assert.ok(garbage.headers?.get("Natrium-Error"));
    });

    await t.test("garbage on lifecycle subjects leaves the master running", async () => {
      const js = jetstream(nc);
      await js.publish(s.minionStart("evil"), new Uint8Array([1, 2, 3]));
      await js.publish(s.minionGrains("evil"), new Uint8Array([0x80]), { headers: toHeaders({ "Natrium-Type": "minion.grains", "Natrium-Signer": "x", "Natrium-Sig": "y" }) });
      const pong = await request<{ minions: string[] }>(nc, s.api("ping"), {}, 5000);
      assert.deepEqual(pong.minions, ["db1.example.com", "web1"]);
    });
  } finally {
    await master.stop();
    await nc.close();
    await nats.stop();
  }
});

test("master - a restarted master closes the jobs it left open, counting returns made while it was down", { timeout: 120_000 }, async () => {
  const nats = await startNats();
  const nc = await connect({ servers: nats.url });
  const s = subjects(`r${randomBytes(4).toString("hex")}`);
  const keys = ephemeralKeys();
  const opts = { id: "master", ns: s.ns, timeout: 5, autoAccept: true, commandTtl: 60, streamMaxAgeHours: 0, replicas: 1, resumeWindowSec: 600, adminPub: admin.key.pub };
  let master = new Master(nc, keys, opts, quiet);
  try {
    await master.start();
    const web1 = await startMinion(nc, s, "web1");
    const db1 = await startMinion(nc, s, "db1");
    await waitFor("minions accepted", () => (master.registry.accepted("web1") && master.registry.accepted("db1") ? true : undefined));
    const pub = (timeout: number) =>
      signedRequest<PublishReply>(nc, s.api("publish"), { v: 1, tgt: "*", tgt_type: "glob", fun: "test.ping", arg: [], kwarg: {}, timeout }, admin, 5000);
    const partial = await pub(3);
    const complete = await pub(60);
    await master.stop();

    // While no master runs: one return for the first job, both for the second.
    await publishEv(nc, s.jobRet(partial.jid, "web1"), ret(partial.jid, "web1"), web1);
    await publishEv(nc, s.jobRet(complete.jid, "web1"), ret(complete.jid, "web1"), web1);
    await publishEv(nc, s.jobRet(complete.jid, "db1"), ret(complete.jid, "db1"), db1);

    master = new Master(nc, keys, opts, quiet);
    await master.start();
    const done2 = await nextDone(nc, s, complete.jid);
    assert.equal(done2.reason, "all_returned", "closed at once although its timeout is 60 s");
    assert.deepEqual(done2.returned, ["db1", "web1"]);
    const done1 = await nextDone(nc, s, partial.jid);
    assert.equal(done1.reason, "timeout");
    assert.deepEqual(done1.returned, ["web1"]);
    assert.deepEqual(done1.missing, ["db1"]);
  } finally {
    await master.stop();
    await nc.close();
    await nats.stop();
  }
});
