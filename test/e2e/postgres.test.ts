// The same stack with the job cache on a real Postgres (DATABASE_URL) and an existing NATS
// server (NATS_URL): a user can query the tables with SQL while the stack runs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import postgres from "postgres";
import { cli, cliJson, startUp, stopUp } from "../helpers/cli.js";
import { startPostgres } from "../helpers/postgres.js";
import { startNats } from "../helpers/nats.js";
import { waitFor } from "../helpers/ports.js";
import type { RunResult } from "../../cli/lib/run.js";

test("e2e - natrium up with DATABASE_URL and NATS_URL: jobs, job_returns, events and minions in Postgres", { timeout: 300_000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), "natrium-e2e-pg-"));
  const [pg, nats] = await Promise.all([startPostgres(), startNats()]);
  const env: NodeJS.ProcessEnv = { ...process.env, NATRIUM_HOME: join(work, "home"), DATABASE_URL: pg.url, NATS_URL: nats.url };
  delete env.NATRIUM_NS;
  const opts = { cwd: work, env };
  const up = await startUp(["--ns", "pgstack", "--minions", "pg1,pg2"], opts);
  const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
  try {
    assert.match(up.output(), /job cache \(Postgres \(DATABASE_URL\)\)/);
    assert.ok(up.output().includes(`NATS with JetStream at ${nats.url}`), "uses the server NATS_URL names");
    assert.doesNotMatch(up.output(), /nats-server will listen/);
    const { code, data } = await cliJson<RunResult>(["run", "*", "cmd.run", "echo from-sql"], opts);
    assert.equal(code, 0);
    const rows = await waitFor("returns in Postgres", async () => {
      const r = await sql`select minion, success, retcode, "return" from job_returns where jid = ${data.jid} order by minion`;
      return r.length === 2 ? r : undefined;
    });
    assert.deepEqual(rows.map((r) => [r.minion, r.success, Number(r.retcode), r.return]), [["pg1", true, 0, "from-sql"], ["pg2", true, 0, "from-sql"]]);
    const [job] = await sql`select fun, tgt_type from jobs where jid = ${data.jid}`;
    assert.equal(job.fun, "cmd.run");
    const [{ n }] = await sql`select count(*)::int as n from events where jid = ${data.jid}`;
    assert.ok(n >= 3, "job.new and two returns at least");
    const minions = await waitFor("grains in Postgres", async () => {
      const r = await sql`select id, key_state, grains->>'id' as gid from minions order by id`;
      return r.every((m) => m.gid) ? r : undefined;
    });
    assert.deepEqual(minions.map((m) => [m.id, m.key_state, m.gid]), [["pg1", "accepted", "pg1"], ["pg2", "accepted", "pg2"]]);
    const audit = await sql`select kind, reason from audit`;
    assert.deepEqual([...audit], [], "nothing a healthy stack publishes is refused");
    const r = await cli(["jobs", "show", data.jid], opts);
    assert.match(r.stdout, /pg1: from-sql/);
  } finally {
    await sql.end();
    assert.equal(await stopUp(up.proc), 0);
    await Promise.all([pg.stop(), nats.stop()]);
    rmSync(work, { recursive: true, force: true });
  }
});
