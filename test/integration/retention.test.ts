// keep_jobs: jobs older than the cutoff leave the history with their returns and events rows,
// jobs that never got a return too, and returns whose job never reached the history; newer
// jobs, minions and audit rows stay. Against the real job cache's Postgres.
import { test } from "node:test";
import assert from "node:assert/strict";
import { drizzle } from "drizzle-orm/postgres-js";
import { startStack } from "../helpers/stack.js";
import { pruneOnce } from "../../services/jobcache/retention.js";
import { ensurePartitions, listPartitions } from "../../services/jobcache/partitions.js";
import * as schema from "../../migrations/schema.js";
import type { Db } from "../../services/jobcache/store.js";

test("retention - pruning removes old jobs, their returns and events, and nothing newer", { timeout: 180_000 }, async () => {
  const stack = await startStack({ ids: ["web1", "web2"] });
  const { sql } = stack;
  try {
    const keep = await stack.publish({ tgt: "*", fun: "test.ping" });
    await stack.cachedJob(keep.jid, (j) => j.job.finished !== null, "the recent job");
    await stack.caughtUp();
    // Two old jobs as the history would hold them: one with a return, one that never got any,
    // and a return whose job.new never reached the history.
    const days = (n: number) => new Date(Date.now() - n * 86_400_000).toISOString();
    for (const [jid, created] of [["20200101000000000001", days(3)], ["20200101000000000002", days(2)]]) {
      await sql`insert into jobs (jid, fun, arg, kwarg, tgt, tgt_type, "user", master, expected, ret, timeout, created, expires, seq)
        values (${jid}, 'test.ping', '[]', '{}', '"*"', 'glob', 'admin', 'master', '{web1}', '{}', 5, ${created}, ${created}, 0)`;
    }
    const db = drizzle(sql, { schema }) as unknown as Db;
    // The day's partition, as the job cache makes it before writing a day's first return.
    await ensurePartitions(db, ["20200101000000000001"]);
    await sql`insert into job_returns (jid, minion, fun, fun_args, return, retcode, success, start, "end", duration_ms, eid, seq)
      values ('20200101000000000001', 'web1', 'test.ping', '[]', 'true', 0, true, ${days(3)}, ${days(3)}, 1, 'old-ret', 0),
             ('20200101000000000009', 'web2', 'test.ping', '[]', 'true', 0, true, ${days(3)}, ${days(3)}, 1, 'orphan-ret', 0),
             ('00000000000000000042', 'web2', 'test.ping', '[]', 'true', 0, true, ${days(3)}, ${days(3)}, 1, 'not-a-date', 0)`;
    const where = async () => Object.fromEntries((await sql`select jid, tableoid::regclass::text as part from job_returns`).map((r) => [r.jid, r.part]));
    const parts = await where();
    assert.equal(parts["20200101000000000001"], "job_returns_p20200101");
    assert.equal(parts["00000000000000000042"], "job_returns_default", "a jid that does not begin with a date goes to the default partition");
    assert.equal(parts[keep.jid], `job_returns_p${keep.jid.slice(0, 8)}`, "the job cache wrote today's returns into today's partition");
    const [{ minions: minionsBefore }] = await sql`select count(*)::int as minions from minions`;

    const pruned = await pruneOnce(db, new Date(Date.now() - 86_400_000), 1);
    // The 2020-01-01 day went whole (two returns); the default partition's old orphan row by row.
    assert.deepEqual(pruned, { jobs: 2, returns: 3, events: 0, partitions: 1 });
    assert.ok(!(await listPartitions(db)).includes("20200101"));
    const jids = (await sql`select jid from jobs order by jid`).map((r) => r.jid);
    assert.deepEqual(jids, [keep.jid], "only the recent job is left");
    assert.deepEqual((await sql`select jid, minion from job_returns order by minion`).map((r) => [r.jid, r.minion]), [[keep.jid, "web1"], [keep.jid, "web2"]]);
    assert.ok((await sql`select count(*)::int as n from events where jid = ${keep.jid}`)[0].n >= 3, "the recent job's events stay");
    const [{ minions }] = await sql`select count(*)::int as minions from minions`;
    assert.equal(minions, minionsBefore);
    // A cutoff after everything empties the history of jobs, and the job cache keeps projecting.
    const all = await pruneOnce(db, new Date(Date.now() + 60_000));
    assert.equal(all.jobs, 1);
    assert.ok(all.events >= 3);
    const again = await stack.publish({ tgt: "web1", fun: "test.ping" });
    await stack.cachedJob(again.jid, (j) => j.returns.length === 1, "a job after the prune");
  } finally {
    await stack.stop();
  }
});
