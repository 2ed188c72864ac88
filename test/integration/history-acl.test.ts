// Job history respects users: a signed `jobs`/`job` request through the master shows a user the
// jobs they ran, a user with `jobs: true` and the admin key every job; asking for more is
// refused with the rule, audited, and answered with nothing.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startStack } from "../helpers/stack.js";
import { ephemeralKeys } from "../../services/common/keys.js";
import { request, signedRequest } from "../../services/common/bus.js";
import type { Identity } from "../../contracts/request.js";
import type { AuditReply, JobReply, JobsReply } from "../../contracts/api.js";
import { rejectsRemote as rejects } from "../helpers/remote.js";

test("history - a user sees the jobs they ran; jobs: true and admin see every job", { timeout: 180_000 }, async (t) => {
  const alice: Identity = { user: "alice", key: ephemeralKeys().sign };
  const bob: Identity = { user: "bob", key: ephemeralKeys().sign };
  const auditor: Identity = { user: "auditor", key: ephemeralKeys().sign };
  const stack = await startStack({
    ids: ["web1", "web2"],
    users: {
      alice: { pub: alice.key.pub, acl: ["test.*"] },
      bob: { pub: bob.key.pub, acl: ["test.*"] },
      auditor: { pub: auditor.key.pub, jobs: true },
    },
  });
  const { nc, s } = stack;
  const jobs = (who: Identity, q: Record<string, unknown> = {}) => signedRequest<JobsReply>(nc, s.api("jobs"), q, who, 10_000);
  const job = (who: Identity, jid: string) => signedRequest<JobReply>(nc, s.api("job"), { jid }, who, 10_000);
  try {
    const byAdmin = await stack.publish({ tgt: "*", fun: "test.ping" });
    const byAlice = await stack.publish({ tgt: "web1", fun: "test.echo", arg: ["a"] }, alice);
    const byBob = await stack.publish({ tgt: "web2", fun: "test.echo", arg: ["b"] }, bob);
    for (const r of [byAdmin, byAlice, byBob]) await stack.cachedJob(r.jid, (j) => j.job.finished !== null, `job ${r.jid} finished`);

    await t.test("a user's list holds only the jobs they ran", async () => {
      assert.deepEqual((await jobs(alice)).jobs.map((j) => j.jid), [byAlice.jid]);
      assert.deepEqual((await jobs(bob)).jobs.map((j) => j.jid), [byBob.jid]);
      // Filters narrow further, never wider.
      assert.deepEqual((await jobs(alice, { fun: "test.ping" })).jobs, []);
      assert.deepEqual((await jobs(alice, { user: "alice" })).jobs.map((j) => j.jid), [byAlice.jid]);
    });

    await t.test("asking for another user's jobs is refused and audited", async () => {
      await rejects(jobs(alice, { user: "bob" }), "denied", /user "alice" may see only the jobs they ran, not "bob"'s/);
      await rejects(job(alice, byBob.jid), "denied", new RegExp(`job ${byBob.jid} was run by "bob".*jobs: true`));
      await rejects(job(alice, byAdmin.jid), "denied");
      const a = await stack.busAudit("denied", (x) => x.body.actor === "alice" && x.body.subject === s.api("job"));
      assert.match(a.body.reason, /may see only the jobs they ran/);
      await stack.dbAudit("denied", (r) => /may see only the jobs they ran/.test(r.reason));
    });

    await t.test("a user reads a job they ran, with its returns", async () => {
      const r = await job(alice, byAlice.jid);
      assert.equal(r.job.user, "alice");
      assert.deepEqual(r.returns.map((x) => [x.minion, x.return]), [["web1", "a"]]);
    });

    await t.test("jobs: true and the admin key see every job, and may filter by user", async () => {
      for (const who of [auditor, stack.admin]) {
        assert.deepEqual((await jobs(who)).jobs.map((j) => j.jid).sort(), [byAdmin.jid, byAlice.jid, byBob.jid].sort());
        assert.deepEqual((await jobs(who, { user: "bob" })).jobs.map((j) => j.jid), [byBob.jid]);
        assert.equal((await job(who, byBob.jid)).job.user, "bob");
      }
    });

    await t.test("history requests are signed like every other: unsigned, wrong key and unknown user refused", async () => {
      await rejects(request(nc, s.api("jobs"), {}, 5000), "bad_signature");
      await rejects(jobs({ user: "alice", key: ephemeralKeys().sign }), "bad_signature", /not the user's key/);
      await rejects(jobs({ user: "mallory", key: ephemeralKeys().sign }), "denied", /not in the master's users config/);
    });

    await t.test("filters: function and target globs, time window, minion (with its own result), failures", async () => {
      const admin = stack.admin;
      const ids = (r: JobsReply) => r.jobs.map((j) => j.jid).sort();
      assert.deepEqual(ids(await jobs(admin, { fun: "test.*" })), [byAdmin.jid, byAlice.jid, byBob.jid].sort());
      assert.deepEqual(ids(await jobs(admin, { fun: "test.e?ho" })), [byAlice.jid, byBob.jid].sort());
      assert.deepEqual(ids(await jobs(admin, { fun: "test_ping" })), [], "LIKE wildcards in the glob are literal");
      assert.deepEqual(ids(await jobs(admin, { target: "web*" })), [byAlice.jid, byBob.jid].sort());
      assert.deepEqual(ids(await jobs(admin, { target: "\\*" })), [], "a backslash is literal, not an escape");
      const listed = await stack.publish({ tgt: ["web1", "web2"], tgt_type: "list", fun: "test.ping" });
      await stack.cachedJob(listed.jid, (j) => j.job.finished !== null, "list job finished");
      assert.ok(ids(await jobs(admin, { target: "web2" })).includes(listed.jid), "a member of a list target matches");
      const created = (await job(admin, byAlice.jid)).job.created;
      assert.deepEqual(ids(await jobs(admin, { since: created, until: created + 1 })), [byAlice.jid]);
      assert.deepEqual(ids(await jobs(admin, { until: created })).includes(byAlice.jid), false);
      const w2 = await jobs(admin, { minion: "web2", fun: "test.echo" });
      assert.deepEqual(w2.jobs.map((j) => [j.jid, j.minion?.id, j.minion?.success, j.minion?.retcode]), [[byBob.jid, "web2", true, 0]]);
      const failing = await stack.publish({ tgt: "web1", fun: "test.retcode", arg: [3] });
      await stack.cachedJob(failing.jid, (j) => j.job.finished !== null, "failing job finished");
      const f = await jobs(admin, { failed: true, minion: "web1" });
      assert.deepEqual(f.jobs.map((j) => [j.jid, j.minion?.success, j.minion?.retcode]), [[failing.jid, false, 3]]);
    });

    await t.test("the audit trail is for the admin: refusals with their reasons, by kind, oldest first", async () => {
      await rejects(signedRequest(nc, s.api("audit"), {}, auditor, 10_000), "denied", /may not read the audit trail/);
      const all = await signedRequest<AuditReply>(nc, s.api("audit"), { kind: "denied", limit: 100 }, stack.admin, 10_000);
      assert.ok(all.rows.some((r) => (r.detail as { actor?: string }).actor === "alice" && /may see only the jobs they ran/.test(r.reason)));
      assert.ok(all.rows.every((r) => r.kind === "denied"));
      const last = await signedRequest<AuditReply>(nc, s.api("audit"), { limit: 1 }, stack.admin, 10_000);
      assert.equal(last.rows.length, 1);
      const after = await signedRequest<AuditReply>(nc, s.api("audit"), { after: all.rows[0].seq }, stack.admin, 10_000);
      assert.ok(after.rows.every((r) => r.seq > all.rows[0].seq));
    });

    await t.test("the job cache's own errors reach the user", async () => {
      await rejects(job(stack.admin, "20200101000000000000"), "not_found", /not in the job cache/);
      await rejects(jobs(alice, { limit: 0 }), "invalid");
    });
  } finally {
    await stack.stop();
  }
});
