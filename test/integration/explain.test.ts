// The history queries stay on indexes at scale: 1,000,000 returns (100,000 jobs x 10 minions
// over 30 days) in a real PostgreSQL, then every query the job cache runs for `jobs list`
// (each filter), `jobs show`, `jobs minion` and `audit tail` is captured as drizzle sends it
// and EXPLAINed: no sequential scan of jobs, job_returns or events. Plans, not timings.
import { test } from "node:test";
import assert from "node:assert/strict";
import postgres from "postgres";
import { drizzle } from "drizzle-orm/postgres-js";
import { startPostgres } from "../helpers/postgres.js";
import { openStore } from "../../services/jobcache/store.js";
import { listAudit, listJobs, showJob } from "../../services/jobcache/queries.js";
import { createLogger } from "../../services/common/log.js";
import * as schema from "../../migrations/schema.js";
import type { Db } from "../../services/jobcache/store.js";

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  Plans?: PlanNode[];
}

function seqScans(n: PlanNode, out: string[] = []): string[] {
  if (n["Node Type"] === "Seq Scan" && n["Relation Name"]) out.push(n["Relation Name"]);
  for (const c of n.Plans ?? []) seqScans(c, out);
  return out;
}

const BIG = new Set(["jobs", "job_returns", "events"]);

test("explain - history queries on 1,000,000 returns use indexes, never a sequential scan", { timeout: 600_000 }, async (t) => {
  const pg = await startPostgres();
  const log = createLogger({ svc: "test" }, "quiet");
  const store = await openStore({ databaseUrl: pg.url, dataDir: "/nonexistent", log });
  const sql = postgres(pg.url, { max: 2, onnotice: () => {} });
  try {
    // 100,000 jobs over 30 days, 20 functions, 5 users; 10 minions each; 1% of returns failed.
    await sql`insert into jobs (jid, fun, arg, kwarg, tgt, tgt_type, "user", master, expected, ret, timeout, created, expires, finished, seq)
      select lpad(i::text, 20, '0'), 'mod' || (i % 20) || '.fun', '[]', '{}',
             case when i % 3 = 0 then '["web1","web2"]'::jsonb else to_jsonb('web' || (i % 7) || '*') end,
             case when i % 3 = 0 then 'list' else 'glob' end,
             'user' || (i % 5), 'master', array['m0','m1','m2','m3','m4','m5','m6','m7','m8','m9'], '{}', 5,
             now() - (100000 - i) * interval '26 seconds', now(), now(), i
      from generate_series(1, 100000) i`;
    await sql`insert into job_returns (jid, minion, fun, fun_args, return, retcode, success, start, "end", duration_ms, eid, seq)
      select lpad(i::text, 20, '0'), 'm' || m, 'mod' || (i % 20) || '.fun', '[]', 'true',
             case when (i * 10 + m) % 100 = 0 then 1 else 0 end, (i * 10 + m) % 100 <> 0,
             now(), now(), 1, i || '.' || m, 1000000 + i * 10 + m
      from generate_series(1, 100000) i, generate_series(0, 9) m`;
    await sql`insert into events (seq, eid, subject, type, jid, minion, signer, ts, body)
      select 1000000 + i * 10 + m, 'e' || i || '.' || m, 'ns.job.x.ret.m', 'job.ret', lpad(i::text, 20, '0'), 'm' || m, 'k', now(), '{}'
      from generate_series(1, 100000) i, generate_series(0, 9) m`;
    await sql`insert into audit (seq, subject, kind, reason, origin, ts)
      select i, 'ns.audit.denied', case when i % 10 = 0 then 'denied' else 'bad_signature' end, 'why', 'stream', now()
      from generate_series(1, 20000) i`;
    await sql`analyze`;
    const [{ n }] = await sql`select count(*)::int as n from job_returns`;
    assert.equal(n, 1_000_000);

    // Capture every statement the job cache's own query functions send, then EXPLAIN each.
    const captured: { query: string; params: unknown[] }[] = [];
    const client = postgres(pg.url, { max: 2, onnotice: () => {} });
    const db = drizzle(client, { schema, logger: { logQuery: (query, params) => captured.push({ query, params }) } }) as unknown as Db;
    const now = Date.now();
    const cases: [string, () => Promise<unknown>][] = [
      ["jobs list", () => listJobs(db, {})],
      ["jobs list --fun", () => listJobs(db, { fun: "mod7.fun" })],
      ["jobs list --fun glob", () => listJobs(db, { fun: "mod1*" })],
      ["jobs list --user", () => listJobs(db, { user: "user3" })],
      ["jobs list --since/--until", () => listJobs(db, { since: now - 7 * 86_400_000, until: now - 6 * 86_400_000 })],
      ["jobs list --failed", () => listJobs(db, { failed: true })],
      ["jobs minion", () => listJobs(db, { minion: "m4" })],
      ["jobs minion --failed", () => listJobs(db, { minion: "m4", failed: true })],
      ["jobs list paging", () => listJobs(db, { before: "00000000000000050000" })],
      ["jobs show", () => showJob(db, "00000000000000012345")],
      ["audit tail", () => listAudit(db, { limit: 20 })],
      ["audit tail --kind -f", () => listAudit(db, { kind: "denied", after: 10_000 })],
    ];
    for (const [name, run] of cases) {
      await t.test(name, async () => {
        captured.length = 0;
        await run();
        assert.ok(captured.length > 0);
        for (const c of captured) {
          const [{ "QUERY PLAN": plan }] = await client.unsafe(`explain (format json) ${c.query}`, c.params as never[]);
          const scans = seqScans((plan as { Plan: PlanNode }[])[0].Plan).filter((r) => BIG.has(r));
          assert.deepEqual(scans, [], `${name}: sequential scan of ${scans.join(", ")} in\n${c.query}`);
        }
      });
    }
    await client.end({ timeout: 5 });
  } finally {
    await sql.end({ timeout: 5 });
    await store.close();
    await pg.stop();
  }
});
