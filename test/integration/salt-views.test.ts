// Salt's Postgres job cache, unchanged: the views jids, salt_returns and salt_events have the
// columns and types of Salt's pgjsonb returner, and the queries Salt's own job-cache functions
// issue (salt/returners/pgjsonb.py: get_load, get_jid, get_fun, get_jids, get_jids_filter,
// get_minions) answer from Natrium's projection.
import { test } from "node:test";
import assert from "node:assert/strict";
import { startStack } from "../helpers/stack.js";

test("salt views - pgjsonb's tables as views, and Salt's job-cache queries against them", { timeout: 180_000 }, async (t) => {
  const stack = await startStack({ ids: ["web1", "web2"] });
  const { sql } = stack;
  try {
    const ping = await stack.publish({ tgt: "*", fun: "test.ping" });
    const echo = await stack.publish({ tgt: "web1", fun: "test.echo", arg: ["hi"], kwarg: {} });
    const kw = await stack.publish({ tgt: "web2", fun: "test.arg", arg: [1], kwarg: { color: "blue" } });
    const bad = await stack.publish({ tgt: "web2", fun: "test.retcode", arg: [3] });
    for (const r of [ping, echo, kw, bad]) await stack.cachedJob(r.jid, (j) => j.job.finished !== null, `job ${r.jid}`);
    await stack.caughtUp();

    await t.test("columns and types are pgjsonb's", async () => {
      const cols = await sql<{ table_name: string; column_name: string; data_type: string; character_maximum_length: number | null }[]>`
        select table_name, column_name, data_type, character_maximum_length from information_schema.columns
        where table_name in ('jids', 'salt_returns', 'salt_events') order by table_name, ordinal_position`;
      const shape = cols.map((c) => `${c.table_name}.${c.column_name} ${c.data_type}${c.character_maximum_length ? `(${c.character_maximum_length})` : ""}`);
      assert.deepEqual(shape, [
        "jids.jid character varying(255)",
        "jids.load jsonb",
        "salt_events.id bigint",
        "salt_events.tag character varying(255)",
        "salt_events.data jsonb",
        "salt_events.alter_time timestamp with time zone",
        "salt_events.master_id character varying(255)",
        "salt_returns.fun character varying(50)",
        "salt_returns.jid character varying(255)",
        "salt_returns.return jsonb",
        "salt_returns.id character varying(255)",
        "salt_returns.success character varying(10)",
        "salt_returns.full_ret jsonb",
        "salt_returns.alter_time timestamp with time zone",
      ]);
    });

    await t.test("get_load: SELECT load FROM jids WHERE jid = %s", async () => {
      const [row] = await sql`SELECT load FROM jids WHERE jid = ${kw.jid};`;
      assert.equal(row.load.fun, "test.arg");
      assert.equal(row.load.jid, kw.jid);
      assert.equal(row.load.tgt, "web2");
      assert.equal(row.load.user, "admin");
      assert.deepEqual(row.load.arg, [1, { color: "blue", __kwarg__: true }], "keyword arguments as Salt's __kwarg__ item");
      assert.deepEqual(row.load.Minions, ["web2"]);
    });

    await t.test("get_jid: SELECT id, full_ret FROM salt_returns WHERE jid = %s", async () => {
      const rows = await sql`SELECT id, full_ret FROM salt_returns WHERE jid = ${ping.jid}`;
      assert.deepEqual(rows.map((r) => r.id).sort(), ["web1", "web2"]);
      for (const r of rows) {
        assert.equal(r.full_ret.return, true);
        assert.equal(r.full_ret.fun, "test.ping");
        assert.equal(r.full_ret.id, r.id);
        assert.equal(r.full_ret.retcode, 0);
      }
      const [failed] = await sql`SELECT success, return, full_ret FROM salt_returns WHERE jid = ${bad.jid}`;
      assert.equal(failed.success, "False");
      assert.equal(failed.full_ret.retcode, 3);
    });

    await t.test("get_fun: the newest return of a function per minion", async () => {
      const rows = await sql`SELECT s.id,s.jid, s.full_ret
            FROM salt_returns s
            JOIN ( SELECT MAX(jid) as jid
                from salt_returns GROUP BY fun, id) max
            ON s.jid = max.jid
            WHERE s.fun = ${"test.ping"}`;
      // Salt's query joins on jid alone, so a jid that is the newest for two minions comes back
      // once per group: the same rows Salt's own job cache would give.
      assert.deepEqual([...new Set(rows.map((r) => `${r.id} ${r.jid}`))].sort(), [`web1 ${ping.jid}`, `web2 ${ping.jid}`]);
      assert.ok(rows.every((r) => r.full_ret.fun === "test.ping"));
    });

    await t.test("get_jids, get_jids_filter and get_minions", async () => {
      const all = await sql`SELECT jid, load FROM jids`;
      assert.deepEqual(all.map((r) => r.jid).sort(), [ping.jid, echo.jid, kw.jid, bad.jid].sort());
      const newest = await sql.unsafe(`SELECT * FROM (
               SELECT DISTINCT jid ,load FROM jids
               WHERE load->>'fun' <> 'saltutil.find_job'
               ORDER BY jid DESC limit 2
               ) tmp
             ORDER BY jid;`);
      assert.deepEqual(newest.map((r) => r.jid), [kw.jid, bad.jid].sort());
      const minions = await sql`SELECT DISTINCT id FROM salt_returns`;
      assert.deepEqual(minions.map((r) => r.id).sort(), ["web1", "web2"]);
    });

    await t.test("salt_events: Salt-style tags over every event", async () => {
      const rets = await sql`SELECT id, tag, data, master_id FROM salt_events WHERE tag LIKE ${`salt/job/${echo.jid}/ret/%`}`;
      assert.deepEqual(rets.map((r) => r.tag), [`salt/job/${echo.jid}/ret/web1`]);
      assert.equal(rets[0].data.return, "hi");
      const [pub] = await sql`SELECT tag, master_id FROM salt_events WHERE tag = ${`salt/job/${echo.jid}/new`}`;
      assert.equal(pub.master_id, "master");
      const starts = await sql`SELECT tag FROM salt_events WHERE tag LIKE 'salt/minion/%/start'`;
      assert.ok(starts.length >= 2);
    });
  } finally {
    await stack.stop();
  }
});
