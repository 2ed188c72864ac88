// Salt's "replace the default job cache": the returner host with serve_queries answers the job
// cache's history queries (`{ns}.cache.jobs`, `.job`: what the master asks for `natrium jobs
// list|show`) from the module's getJid/getJids/getLoad, here the pg built-in on a real
// PostgreSQL, with no job cache running.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { natsFixture } from "../helpers/fixture.js";
import { startPostgres } from "../helpers/postgres.js";
import { rejectsRemote } from "../helpers/remote.js";
import { createLogger } from "../../services/common/log.js";
import { request } from "../../services/common/bus.js";
import { ReturnerHost } from "../../services/returners/host.js";
import { createPgReturner } from "../../services/returners/pg.js";
import { freshNs, jid, openBus, publishJobs, returnerInfo, until } from "../returners/kit.js";
import type { JobReply, JobsReply } from "../../contracts/api.js";

const fx = natsFixture("natrium-rqueries-");
const quiet = createLogger({ svc: "returner-test" }, "quiet");

test("returners - serve_queries: natrium jobs list/show answered by the pg returner in place of the job cache", { timeout: 180_000 }, async () => {
  const pg = await startPostgres();
  after(() => pg.stop());
  const bus = await openBus(fx.nats.url, freshNs(), ["web1", "web2"]);
  const host = new ReturnerHost({
    nc: bus.nc, s: bus.s, name: "history", module: createPgReturner(), config: { url: pg.url }, mode: "all", from: "start", serveQueries: true,
    maxDeliver: 5, ackWaitSec: 10, retryBackoffMs: 50, retryBackoffMaxMs: 200, batchSize: 50, batchWaitMs: 10, log: quiet,
  });
  try {
    await host.start();
    await publishJobs(bus, 0, 3, ["web1", "web2"], { fun: "test.ping", withDone: true });
    await publishJobs(bus, 3, 2, ["web1", "web2"], { fun: "cmd.run", withDone: true });
    await until("delivered", () => returnerInfo(bus, "history"), (r) => !!r && r.pending === 0 && r.ack_pending === 0);
    const jobs = (q: Record<string, unknown> = {}) => request<JobsReply>(bus.nc, bus.s.cache("jobs"), q, 10_000);

    const all = await jobs();
    assert.deepEqual(all.jobs.map((j) => j.jid), [jid(4), jid(3), jid(2), jid(1), jid(0)], "newest first");
    assert.deepEqual(
      (({ fun, expected, returned, failed, finished, user }) => ({ fun, expected, returned, failed, finished, user }))(all.jobs[0]),
      { fun: "cmd.run", expected: 2, returned: 2, failed: 0, finished: null, user: "root" },
    );
    assert.deepEqual((await jobs({ fun: "cmd.*" })).jobs.map((j) => j.jid), [jid(4), jid(3)]);
    assert.deepEqual((await jobs({ limit: 2 })).jobs.map((j) => j.jid), [jid(4), jid(3)]);
    assert.deepEqual((await jobs({ before: jid(2), limit: 1 })).jobs.map((j) => j.jid), [jid(1)]);
    const mine = await jobs({ minion: "web2", fun: "test.ping" });
    assert.deepEqual(mine.jobs.map((j) => [j.jid, j.minion?.id, j.minion?.success]), [[jid(2), "web2", true], [jid(1), "web2", true], [jid(0), "web2", true]]);
    assert.deepEqual((await jobs({ failed: true })).jobs, []);

    const one = await request<JobReply>(bus.nc, bus.s.cache("job"), { jid: jid(3) }, 10_000);
    assert.deepEqual(one.minions, ["web1", "web2"]);
    assert.deepEqual(one.missing, []);
    assert.deepEqual(one.returns.map((r) => [r.minion, r.success, r.retcode]), [["web1", true, 0], ["web2", true, 0]]);
    assert.equal(one.job.fun, "cmd.run");
    await rejectsRemote(request(bus.nc, bus.s.cache("job"), { jid: jid(99) }, 10_000), "not_found", /not in returner history/);
  } finally {
    await host.stop();
    await bus.close();
  }
});

test("returners - serve_queries with a module that lacks the queries is refused at start, naming them", async () => {
  const bus = await openBus(fx.nats.url, freshNs(), ["web1"]);
  const host = new ReturnerHost({
    nc: bus.nc, s: bus.s, name: "nope", module: { returner() {} }, config: {}, mode: "all", from: "now", serveQueries: true,
    maxDeliver: 5, ackWaitSec: 10, retryBackoffMs: 50, retryBackoffMaxMs: 200, batchSize: 50, batchWaitMs: 10, log: quiet,
  });
  try {
    await assert.rejects(host.start(), /serve_queries needs a module with getJid, getJids, getLoad and getMinions; it lacks getJid, getJids, getLoad, getMinions/);
  } finally {
    await host.stop().catch(() => {});
    await bus.close();
  }
});
