// Ordered returners (exactly once, through the module's own cursor) as separate processes of the
// built CLI: the example module (examples/returners/exactly-once.ts) writing into a real
// Postgres is killed with kill -9 in the middle of a burst and holds every return exactly once
// after a restart; it refuses a forged return, answers `natrium jobs` with serve_queries, and
// replays with --rewind-from; a database outage shows in `returners list` and loses nothing.
// `returners reset` refuses to move it, saying how instead.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import postgres from "postgres";
import { natsFixture } from "../helpers/fixture.js";
import { startPostgres } from "../helpers/postgres.js";
import { publishAll } from "../../services/jobcache/testkit.js";
import { cli, ROOT } from "../helpers/cli.js";
import { request } from "../../services/common/bus.js";
import { freshNs, jid, killProc, openBus, publishJobs, returnerInfo, startReturnerCli, until } from "../returners/kit.js";
import type { JobReply } from "../../contracts/api.js";

const fx = natsFixture("natrium-ordered-");
const MODULE = join(ROOT, "dist/examples/returners/exactly-once.js");

test("returners - an ordered returner killed with kill -9 mid-burst of 10,000 returns holds each exactly once after a restart, and replays with --rewind-from", { timeout: 300_000 }, async () => {
  const ns = freshNs("ord");
  const minions = ["m1", "m2", "m3", "m4", "m5"];
  const bus = await openBus(fx.nats.url, ns, minions);
  const pg = await startPostgres();
  fx.cleanups.push(() => pg.stop());
  const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
  fx.cleanups.push(() => sql.end());
  const cfg = join(fx.tmp, `history-${ns}.yaml`);
  writeFileSync(cfg, stringify({ name: "history", ns, nats_url: fx.nats.url, log_level: "info", module: MODULE, batch_size: 200, serve_queries: true, config: { url: pg.url, prefix: "hist" } }));
  const count = async () => {
    const [r] = await sql`select count(*)::int as n, count(distinct (jid, id))::int as pairs from hist_returns`.catch(() => [{ n: 0, pairs: 0 }]);
    return r as { n: number; pairs: number };
  };
  const cursor = async () => Number((await sql`select last_seq from hist_cursor where name = 'history'`.catch(() => []))[0]?.last_seq ?? 0);

  let r = startReturnerCli(["-c", cfg]);
  fx.cleanups.push(() => killProc(r.proc, "SIGKILL"));
  try {
    await r.started;
    // A return signed by a minion whose key is not accepted: refused, never stored.
    await publishAll(bus.js, [bus.cast.jobRet(jid(999_999), "intruder")]);
    const publishing = publishJobs(bus, 0, 2000, minions);
    await until("the first returns in Postgres", count, (c) => c.n >= 1500);
    await killProc(r.proc, "SIGKILL");
    const firstLog = r.log();
    const atKill = (await count()).n;
    const eids = await publishing;
    assert.equal(eids.length, 10_000);
    assert.ok(atKill < 10_000, `the kill came after the burst (${atKill} stored)`);

    r = startReturnerCli(["-c", cfg]);
    await r.started;
    const last = (await bus.jsm.streams.info(bus.s.stream)).state.last_seq;
    await until("the returner to reach the end of the stream", cursor, (c) => c === last, 120_000);
    assert.deepEqual(await count(), { n: 10_000, pairs: 10_000 });
    const [{ jobs }] = await sql`select count(*)::int as jobs from hist_jobs`;
    assert.equal(jobs, 2000);
    const [{ intruders }] = await sql`select count(*)::int as intruders from hist_returns where id = 'intruder'`;
    assert.equal(intruders, 0);
    assert.match(firstLog, /"msg":"refused".*intruder/);
    // Listed like any returner; its consumer has nothing left.
    const info = await until("returners list to show it caught up", () => returnerInfo(bus, "history"), (x) => !!x && x.pending === 0 && x.ack_pending === 0);
    assert.equal(info?.consumer, "returner_history");

    // The database goes away: the returner keeps running, says why in `returners list`, and
    // once the database is back holds what was published meanwhile, each return once.
    await pg.crash();
    const more = await publishJobs(bus, 2000, 100, minions);
    const down = await until("the database error in returners list", () => returnerInfo(bus, "history"), (x) => !!x?.last_error && (x.last_error_ts ?? 0) > 0, 60_000);
    assert.match(down!.last_error!, /ECONNREFUSED|connect|terminat|shut/i);
    await pg.start();
    const last2 = (await bus.jsm.streams.info(bus.s.stream)).state.last_seq;
    await until("the returner to catch up after the database came back", cursor, (c) => c === last2, 120_000);
    assert.deepEqual(await count(), { n: 10_000 + more.length, pairs: 10_000 + more.length });

    // serve_queries: what `natrium jobs show` asks is answered from the module's tables (no job
    // cache runs in this namespace).
    const show = await request<JobReply>(bus.nc, bus.s.cache("job"), { jid: jid(1234) }, 10_000);
    assert.deepEqual(show.returns.map((x) => x.minion).sort(), minions);

    // `returners reset` cannot move it, and says how to replay instead.
    const reset = await cli(["returners", "reset", "history", "--from", "start", "--url", fx.nats.url, "--ns", ns], { cwd: fx.tmp });
    assert.notEqual(reset.code, 0);
    assert.match(reset.stderr, /is ordered.*--rewind-from/s);

    // Replay from the middle of the stream: the same rows, none twice.
    await killProc(r.proc);
    const before = await sql`select jid, id, ret from hist_returns order by jid, id`;
    r = startReturnerCli(["-c", cfg, "--rewind-from", String(Math.floor(last / 2))]);
    await r.started;
    await until("the replay to reach the end of the stream", cursor, (c) => c === last2, 120_000);
    const after = await sql`select jid, id, ret from hist_returns order by jid, id`;
    assert.equal(after.length, 10_500);
    assert.deepEqual(after, before);
    assert.match(r.log(), /rewinding before consuming/);
  } finally {
    await killProc(r.proc);
    await bus.close();
  }
});
