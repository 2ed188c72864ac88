// Targeting across the whole stack: for compound, grain_pcre, ipcidr and nodegroup targets the
// minions the master expects (resolved from its minion data cache) are exactly the minions that
// select themselves and return; nodegroups are expanded at the master (nested, cycles refused);
// the ACL applies to the resolved minions whatever the target type; `match` answers over the API.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { startStack } from "../helpers/stack.js";
import { waitFor } from "../helpers/ports.js";
import { ephemeralKeys } from "../../services/common/keys.js";
import { signedRequest } from "../../services/common/bus.js";
import { NatriumError } from "../../contracts/errors.js";
import { Master } from "../../services/master/master.js";
import { createLogger } from "../../services/common/log.js";
import { matchReply, type MatchReply, type MatchRequest, type PublishRequest } from "../../contracts/api.js";
import type { Identity } from "../../contracts/request.js";
import { rejectsRemote as rejects } from "../helpers/remote.js";

const grains: Record<string, Record<string, unknown>> = {
  web1: { os: "Debian", roles: ["web"], ipv4: ["10.0.1.1", "127.0.0.1"], ipv6: ["::1", "2001:db8:1::1"], net: { dc: "par1" } },
  web2: { os: "Ubuntu", roles: ["web", "cache"], ipv4: ["10.0.1.2"], ipv6: ["fe80::2"], net: { dc: "ams1" } },
  db1: { os: "Debian", roles: ["db"], ipv4: ["10.0.2.1"], ipv6: ["2001:db8:2::1"], net: { dc: "par1" } },
  db2: { os: "CentOS", roles: ["db"], ipv4: ["192.168.0.2"], ipv6: [], net: { dc: "ams1" } },
  test1: { os: "Debian", roles: [], ipv4: ["10.9.9.9"], ipv6: [], net: { dc: "par1" } },
};
const ids = Object.keys(grains).sort();

const nodegroups = {
  webs: "web*",
  dbs: ["db1", "db2"],
  prod: "( N@webs or N@dbs ) and not E@test.*",
  debian_prod: "N@prod and G@os:Debian",
  par: "G@net:dc:par1",
};

test("targeting - master resolution and minion self-selection agree; nodegroups; ACL on resolved minions; match", { timeout: 240_000 }, async (t) => {
  const webops: Identity = { user: "webops", key: ephemeralKeys().sign };
  const stack = await startStack({
    ids,
    grains,
    nodegroups,
    users: { webops: { pub: webops.key.pub, acl: [{ "web*": ["test.*"] }] } },
  });
  const { nc, s } = stack;
  const match = (tgt: MatchRequest["tgt"], tgt_type: MatchRequest["tgt_type"], who = stack.admin) =>
    signedRequest<MatchReply>(nc, s.api("match"), { v: 1, tgt, tgt_type } satisfies MatchRequest, who, 10_000);
  try {
    // The master learns grains after acceptance: wait until its minion data cache has them all.
    await waitFor("the master's minion data cache to hold every minion's grains", async () => {
      const r = await match("G@net:dc:*", "compound");
      return r.minions.length === ids.length || undefined;
    }, 30_000, 100);

    /** Publish test.ping; every expected minion returns, and no other minion does. */
    const agree = async (tgt: PublishRequest["tgt"], tgt_type: PublishRequest["tgt_type"], want: string[]) => {
      const m = await match(tgt, tgt_type);
      matchReply.parse(m);
      assert.deepEqual(m.minions, want, `match ${tgt_type} ${String(tgt)}`);
      const r = await stack.publish({ tgt, tgt_type, fun: "test.ping", timeout: 5 });
      assert.deepEqual(r.minions, want, `expected by the master for ${tgt_type} ${String(tgt)}`);
      const j = await stack.cachedJob(r.jid, (j) => j.done_reason !== null, `the close of ${tgt_type} ${String(tgt)}`);
      assert.equal(j.done_reason, "all_returned", `every expected minion selected itself: ${String(tgt)} (missing ${j.missing.join(",")})`);
      await sleep(300); // a minion that wrongly selected itself would have returned by now
      const after = await stack.cachedJob(r.jid, () => true, "the job again");
      assert.deepEqual(after.returns.map((x) => x.minion).sort(), want, `the minions that returned for ${tgt_type} ${String(tgt)}`);
      assert.equal(after.job.tgt_type, m.tgt_type);
      return { match: m, job: after };
    };

    await t.test("a compound expression mixing every type", async () => {
      await agree("( web* and G@os:Debian and S@10.0.0.0/8 ) or ( P@os:cent and L@db2 ) or ( E@test\\d and not S@2001:db8::/32 )", "compound", ["db2", "test1", "web1"]);
      await agree("web* and G@os:Debian or L@db1,db2 and not E@test.*", "compound", ["db1", "db2", "web1"]);
      await agree("not ( web* or db* )", "compound", ["test1"]);
      await agree("S@2001:db8::/32 or S@fe80::/10 and G@roles:cache", "compound", ["db1", "web1", "web2"]);
    });

    await t.test("grain_pcre and ipcidr targets", async () => {
      await agree("os:(debian|centos)", "grain_pcre", ["db1", "db2", "test1", "web1"]);
      await agree("net:dc:AMS\\d", "grain_pcre", ["db2", "web2"]);
      await agree("10.0.0.0/8", "ipcidr", ["db1", "test1", "web1", "web2"]);
      await agree("10.0.2.1", "ipcidr", ["db1"]);
      await agree("2001:db8::/32", "ipcidr", ["db1", "web1"]);
    });

    await t.test("nodegroups, nested, expanded at the master", async () => {
      const { match: m } = await agree("debian_prod", "nodegroup", ["db1", "web1"]);
      assert.equal(m.tgt_type, "compound");
      assert.equal(m.tgt, "( ( web* or L@db1,db2 ) and not E@test.* ) and G@os:Debian");
      await agree("dbs", "nodegroup", ["db1", "db2"]);
      await agree("N@par and not N@webs", "compound", ["db1", "test1"]);
      // What the job carries is the expansion: minions never need the master's config.
      const r = await stack.publish({ tgt: "prod", tgt_type: "nodegroup", fun: "test.ping", timeout: 5 });
      const j = await stack.cachedJob(r.jid, (j) => j.done_reason !== null, "the nodegroup job's close");
      assert.equal(j.job.tgt_type, "compound");
      assert.equal(j.job.tgt, "( web* or L@db1,db2 ) and not E@test.*");
    });

    await t.test("bad targets are refused before a job exists, with the position", async () => {
      await rejects(stack.publish({ tgt: "web1 and ( db1", tgt_type: "compound", fun: "test.ping" }), "bad_target", /position 14.*"\)" to close the "\(" at position 9/);
      await rejects(match("web1 db1", "compound"), "bad_target", /position 5/);
      await rejects(stack.publish({ tgt: "nosuch", tgt_type: "nodegroup", fun: "test.ping" }), "bad_target", /unknown nodegroup "nosuch"; the master's nodegroups: dbs, debian_prod, par, prod, webs/);
      await rejects(match("web1 or N@nosuch", "compound"), "bad_target", /unknown nodegroup "nosuch"/);
      await rejects(stack.publish({ tgt: "10.0.0.1/8", tgt_type: "ipcidr", fun: "test.ping" }), "bad_target", /host bits/);
      await rejects(stack.publish({ tgt: "os:(?=x)", tgt_type: "grain_pcre", fun: "test.ping" }), "bad_target", /lookahead/);
      await rejects(match("(".repeat(10_000) + "web1", "compound"), "bad_target", /at most 64 levels/);
    });

    await t.test("the ACL applies to the resolved minions: web* cannot reach db1 through compound, nodegroup or ipcidr", async () => {
      // Allowed: every resolved minion is a web*.
      assert.deepEqual((await stack.publish({ tgt: "webs", tgt_type: "nodegroup", fun: "test.ping" }, webops)).minions, ["web1", "web2"]);
      assert.deepEqual((await stack.publish({ tgt: "G@roles:web and S@10.0.0.0/8", tgt_type: "compound", fun: "test.ping" }, webops)).minions, ["web1", "web2"]);
      assert.deepEqual((await stack.publish({ tgt: "10.0.1.0/24", tgt_type: "ipcidr", fun: "test.ping" }, webops)).minions, ["web1", "web2"]);
      // Refused: the target text never names db1, the resolution does.
      const denied = [
        { tgt: "web1 or G@roles:db", tgt_type: "compound" },
        { tgt: "not web2", tgt_type: "compound" },
        { tgt: "dbs", tgt_type: "nodegroup" },
        { tgt: "debian_prod", tgt_type: "nodegroup" },
        { tgt: "N@webs or N@par", tgt_type: "compound" },
        { tgt: "10.0.2.0/24", tgt_type: "ipcidr" },
        { tgt: "roles:d.", tgt_type: "grain_pcre" },
      ] as const;
      for (const d of denied) {
        await rejects(stack.publish({ ...d, fun: "test.ping" }, webops), "denied", /may not run test\.ping on .*db1|may not run test\.ping on .*(db|test)/);
      }
      const a = await stack.busAudit("denied", (x) => x.body.actor === "webops" && x.body.subject === s.api("publish"));
      assert.match(a.body.reason, /selects minions outside the acl/);
      // `match` is open to any admitted user, and shows what a target would select.
      assert.deepEqual((await match("dbs", "nodegroup", webops)).minions, ["db1", "db2"]);
    });

    await t.test("a master with a bad nodegroup does not start", async () => {
      for (const [groups, re] of [
        [{ a: "N@b", b: "web1 or N@a" }, /nodegroups: nodegroup cycle: a -> b -> a/],
        [{ a: "web1 and" }, /nodegroups: nodegroup "a": compound target is invalid at position 8/],
        [{ a: "N@nosuch" }, /unknown nodegroup "nosuch" \(in nodegroup "a"\)/],
      ] as const) {
        const other = new Master(nc, ephemeralKeys(), {
          id: "m2", ns: `${s.ns}x`, timeout: 5, autoAccept: false, commandTtl: 60, streamMaxAgeHours: 0, replicas: 1,
          adminPub: stack.admin.key.pub, nodegroups: groups as unknown as Record<string, string>,
        }, createLogger({ svc: "test" }, "quiet"));
        await assert.rejects(other.start(), (e: unknown) => e instanceof NatriumError && e.code === "bad_config" && re.test(e.message));
      }
    });

    await t.test("the stack is healthy afterwards", () => stack.assertHealthy());
  } finally {
    await stack.stop();
  }
});
