// Keys and users against a real nats-server: pending keys get nothing until an admin accepts
// them, autosign, reject and delete (and the minion presenting its key again), signed requests
// (unknown user, wrong key, replay, expiry) and the ACL checked against resolved minions.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { connect } from "@nats-io/transport-node";
import { jetstream, DeliverPolicy } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { startNats } from "../helpers/nats.js";
import { waitFor } from "../helpers/ports.js";
import { startMinion } from "../helpers/minions.js";
import { Master } from "../../services/master/master.js";
import { ephemeralKeys } from "../../services/common/keys.js";
import { createLogger } from "../../services/common/log.js";
import { signedRequest, toHeaders } from "../../services/common/bus.js";
import { subjects } from "../../contracts/subjects.js";
import { open } from "../../contracts/message.js";
import { sealRequest, type Identity } from "../../contracts/request.js";
import { decode } from "../../contracts/codec.js";
import { registryKeys } from "../../contracts/registry.js";
import { RemoteError } from "../../contracts/errors.js";
import type { KeysReply, KeysRequest, PublishReply, PublishRequest } from "../../contracts/api.js";
import { rejectsRemote as rejects } from "../helpers/remote.js";

const quiet = createLogger({ svc: "test" }, "quiet");

const ping = (tgt: string | string[], fun = "test.ping"): PublishRequest => ({ v: 1, tgt, tgt_type: Array.isArray(tgt) ? "list" : "glob", fun, arg: [], kwarg: {}, timeout: 0.2 });

test("trust - keys, users and ACLs at the master", { timeout: 120_000 }, async (t) => {
  const nats = await startNats();
  const nc = await connect({ servers: nats.url });
  const s = subjects(`t${randomBytes(4).toString("hex")}`);
  const admin: Identity = { user: "admin", key: ephemeralKeys().sign };
  const alice: Identity = { user: "alice", key: ephemeralKeys().sign };
  const keyper: Identity = { user: "keyper", key: ephemeralKeys().sign };
  const master = new Master(
    nc,
    ephemeralKeys(),
    {
      id: "master", ns: s.ns, timeout: 5, autoAccept: false, commandTtl: 60, streamMaxAgeHours: 0, replicas: 1,
      adminPub: admin.key.pub,
      autosign: ["auto*"],
      requestWindowSec: 30,
      users: {
        alice: { pub: alice.key.pub, acl: [{ "web*": ["test.*"] }, "grains.get"] },
        keyper: { pub: keyper.key.pub, keys: true },
      },
    },
    quiet,
  );
  const api = <T>(verb: "publish" | "keys", body: unknown, who: Identity) => signedRequest<T>(nc, s.api(verb), body, who, 5000);
  const keys = (body: KeysRequest, who = admin) => api<KeysReply>("keys", body, who);
  const audits = async (kind: string) => {
    const c = await jetstream(nc).consumers.get(s.stream, { filter_subjects: s.audit(kind), deliver_policy: DeliverPolicy.All });
    const out: { reason: string; actor?: string }[] = [];
    for (;;) {
      const m = await c.next({ expires: 1000 });
      if (!m) return out;
      out.push(open(m.subject, m.data, m.headers).body as { reason: string; actor?: string });
    }
  };
  try {
    await master.start();
    const kv = await new Kvm(nc).open(s.keysBucket);

    await t.test("a new minion is pending and receives no job; autosign accepts by glob", async () => {
      await startMinion(nc, s, "web1");
      await startMinion(nc, s, "web2");
      await startMinion(nc, s, "db1");
      await startMinion(nc, s, "auto-1");
      await waitFor("four keys known", () => (master.registry.keys.size === 4 ? true : undefined));
      const list = await keys({ op: "list" });
      assert.deepEqual(list.keys.map((k) => [k.id, k.state]), [["auto-1", "accepted"], ["db1", "pending"], ["web1", "pending"], ["web2", "pending"]]);
      assert.equal(list.master.finger.split(":").length, 32);
      assert.deepEqual((await api<PublishReply>("publish", ping("*"), admin)).minions, ["auto-1"], "pending minions are never expected");
    });

    await t.test("accept by id and glob, reject, and the key events name the user", async () => {
      const acc = await keys({ op: "accept", match: ["web*"] });
      assert.deepEqual(acc.keys.map((k) => [k.id, k.state]), [["web1", "accepted"], ["web2", "accepted"]]);
      await rejects(keys({ op: "accept", match: ["nope*"] }), "not_found", /no pending key matches "nope\*"/);
      const rej = await keys({ op: "reject", match: ["db1"] });
      assert.deepEqual(rej.keys.map((k) => [k.id, k.state]), [["db1", "rejected"]]);
      // accept skips rejected keys unless asked
      assert.deepEqual((await keys({ op: "accept" })).keys, []);
      assert.deepEqual((await keys({ op: "list", include: ["rejected"] })).keys.map((k) => k.id), ["db1"]);
      const c = await jetstream(nc).consumers.get(s.stream, { filter_subjects: s.key("web1", "accepted"), deliver_policy: DeliverPolicy.All });
      const m = await c.next({ expires: 5000 });
      assert.ok(m);
      assert.equal((open(m.subject, m.data, m.headers).body as { by: string }).by, "user admin");
      assert.deepEqual((await api<PublishReply>("publish", ping("*"), admin)).minions, ["auto-1", "web1", "web2"]);
    });

    await t.test("delete removes the key; the same id can present a key again and is pending", async () => {
      const del = await keys({ op: "delete", match: ["db1"] });
      assert.deepEqual(del.keys.map((k) => k.id), ["db1"]);
      assert.equal(await kv.get(registryKeys.minionKey("db1")).then((e) => e?.operation), "DEL");
      await waitFor("db1 forgotten", () => (master.registry.keys.has("db1") ? undefined : true));
      const fresh = await startMinion(nc, s, "db1");
      await waitFor("db1 pending again", () => (master.registry.keys.get("db1")?.state === "pending" ? true : undefined));
      assert.equal(master.registry.keys.get("db1")?.pub, fresh.sign.pub);
    });

    await t.test("the ACL applies to the minions a target resolves to", async () => {
      await keys({ op: "accept", match: ["db1"] });
      assert.deepEqual((await api<PublishReply>("publish", ping("web*"), alice)).minions, ["web1", "web2"]);
      assert.deepEqual((await api<PublishReply>("publish", ping("*", "grains.get"), alice)).minions, ["auto-1", "db1", "web1", "web2"]);
      await rejects(api("publish", ping("*"), alice), "denied", /may not run test\.ping on auto-1, db1: target "\*" selects minions outside the acl/);
      await rejects(api("publish", ping(["web1", "db1"]), alice), "denied", /on db1:/);
      await rejects(api("publish", { ...ping("db1"), tgt: "^db", tgt_type: "pcre" }, alice), "denied", /on db1:/);
      await rejects(api("publish", ping("web1", "cmd.run"), alice), "denied", /may not run cmd\.run: no acl rule allows it/);
      await rejects(keys({ op: "list" }, alice), "denied", /may not manage minion keys/);
      assert.equal((await keys({ op: "list" }, keyper)).keys.length, 4);
      await rejects(api("publish", ping("web1"), keyper), "denied", /may not run jobs/);
      const denied = await audits("denied");
      assert.ok(denied.length >= 5, `denials audited: ${denied.length}`);
      assert.ok(denied.every((a) => a.actor === "alice" || a.actor === "keyper"));
    });

    await t.test("unsigned, unknown, wrongly keyed, replayed and stale requests are refused and audited", async () => {
      await rejects(
        nc.request(s.api("publish"), new Uint8Array([0x80]), { timeout: 5000 }).then((m) => {
          throw new RemoteError(m.headers!.get("Natrium-Error"), String((decode(m.data) as { message: string }).message));
        }),
        "bad_signature",
        /is not signed/,
      );
      const mallory: Identity = { user: "mallory", key: ephemeralKeys().sign };
      await rejects(api("publish", ping("web1"), mallory), "denied", /user "mallory" is not in the master's users config/);
      await rejects(api("publish", ping("web1"), { user: "alice", key: mallory.key }), "bad_signature", /not the user's key/);
      await rejects(api("publish", ping("web1"), { user: "root", key: admin.key }), "bad_signature", /must name user "admin"/);

      // The same signed bytes twice: the second is a replay.
      const r = sealRequest(s.api("publish"), ping("web1"), alice);
      const send = async () => {
        const m = await nc.request(s.api("publish"), r.payload, { timeout: 5000, headers: toHeaders(r.headers) });
        const body = decode(m.data) as { code?: string; message?: string };
        if (m.headers?.get("Natrium-Error")) throw new RemoteError(String(body.code), String(body.message));
        return body;
      };
      assert.ok(((await send()) as { jid?: string }).jid, "the first one runs");
      await rejects(send(), "replayed", /already received/);

      const old = sealRequest(s.api("publish"), ping("web1"), alice, Date.now() - 60_000);
      await rejects(
        nc.request(s.api("publish"), old.payload, { timeout: 5000, headers: toHeaders(old.headers) }).then((m) => {
          const body = decode(m.data) as { code: string; message: string };
          throw new RemoteError(body.code, body.message);
        }),
        "expired",
        /60 s old; the master accepts requests within 30 s/,
      );
      // Not msgpack at all, under a signer header: refused before anything is decoded, and audited.
      const garbage = new Uint8Array([0xc1, 0xff, 0x00, 0x13]);
      const gm = await nc.request(s.api("publish"), garbage, { timeout: 5000, headers: toHeaders({ "Natrium-Signer": alice.key.pub, "Natrium-Sig": "AAAA" }) });
      assert.ok(gm.headers?.get("Natrium-Error"), "an error reply");
      assert.ok((await audits("bad_request")).length + (await audits("bad_signature")).length >= 2, "the garbage request is audited");
      assert.ok((await audits("replayed_request")).length >= 1);
      assert.ok((await audits("expired_request")).length >= 1);
      assert.ok((await audits("unknown_user")).length >= 2);
    });
  } finally {
    await master.stop();
    await nc.close();
    await nats.stop();
  }
});
