// The pg returner against a real PostgreSQL started by the test: Salt's pgjsonb tables, written
// once per return and event however often they are delivered, read by the queries Salt's own
// returner issues and by getJid/getJids/getLoad/getMinions; a frozen server makes a call fail
// in time (retryable), and deliveries succeed once it answers again.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import postgres from "postgres";
import { createPgReturner, saltTag } from "../../services/returners/pg.js";
import { DeliveryError, PermanentDeliveryError, ReturnerConfigError } from "../../services/returners/errors.js";
import type { ReturnerModule } from "../../services/returners/sdk.js";
import { startPostgres, type PgServer } from "../helpers/postgres.js";
import { BASE_TS, eventOf, jidOf, makeJob, makeReturn, memoryLog } from "../helpers/returns.js";

let pg: PgServer;
let sql: postgres.Sql;
const modules: ReturnerModule[] = [];
before(async () => {
  pg = await startPostgres();
  sql = postgres(pg.url, { max: 2, onnotice: () => {} });
});
after(async () => {
  for (const m of modules) await Promise.resolve(m.close?.()).catch(() => {});
  await sql?.end();
  await pg?.stop();
});

/** Processes whose parent is `pid` (from /proc). */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

let n = 0;
async function returner(config: Record<string, unknown> = {}, log = memoryLog()) {
  const schema = `r${++n}`;
  const m = createPgReturner();
  modules.push(m);
  await m.setup!({ name: "pg", ns: "natrium", config: { url: pg.url, schema, ...config }, log, signal: new AbortController().signal });
  return { m, schema, log };
}

test("pg - Salt's pgjsonb tables: a return once however often delivered, the load, Salt's own queries", async () => {
  const { m, schema } = await returner();
  const job = makeJob(jidOf(1));
  const ok = makeReturn({ jid: job.jid, id: "web1.example.com", ret: { pid: 7, stdout: "up 3 days" } });
  const bad = makeReturn({ jid: job.jid, id: "db-01", success: false, ret: "boom" });
  await m.saveLoad!(job);
  await m.saveLoad!(job);
  for (const r of [ok, bad, ok, bad]) await m.returner(r);

  await sql.unsafe(`set search_path to "${schema}"`);
  // The queries of salt/returners/pgjsonb.py, verbatim in their SQL.
  const getJid = await sql.unsafe(`SELECT id, full_ret FROM salt_returns WHERE jid = $1 ORDER BY id`, [job.jid]);
  assert.deepEqual(getJid.map((r) => [r.id, r.full_ret.eid]), [["db-01", bad.eid], ["web1.example.com", ok.eid]]);
  const getLoad = await sql.unsafe(`SELECT load FROM jids WHERE jid = $1;`, [job.jid]);
  assert.equal(getLoad.length, 1);
  assert.deepEqual([getLoad[0].load.fun, getLoad[0].load.tgt, getLoad[0].load.Minions], ["cmd.run", "*", ["web1.example.com", "db-01"]]);
  const getMinions = await sql.unsafe(`SELECT DISTINCT id FROM salt_returns`);
  assert.deepEqual(getMinions.map((r) => r.id).sort(), ["db-01", "web1.example.com"]);
  const rows = await sql.unsafe(`SELECT fun, jid, return, id, success, alter_time FROM salt_returns ORDER BY id`);
  assert.deepEqual(rows.map((r) => [r.fun, r.jid, r.return, r.id, r.success, r.alter_time.getTime()]), [
    ["test.ping", job.jid, "boom", "db-01", "False", bad.end],
    ["test.ping", job.jid, { pid: 7, stdout: "up 3 days" }, "web1.example.com", "True", ok.end],
  ]);
  // A jsonb query a Salt dashboard would run.
  const failed = await sql.unsafe(`SELECT id FROM salt_returns WHERE success = 'False' AND full_ret @> '{"retcode": 1}'`);
  assert.deepEqual(failed.map((r) => r.id), ["db-01"]);
  await sql.unsafe(`set search_path to public`);

  assert.deepEqual(Object.keys(await m.getJid!(job.jid)), ["db-01", "web1.example.com"]);
  assert.deepEqual((await m.getJid!(job.jid))["web1.example.com"], ok);
  assert.deepEqual(await m.getLoad!(job.jid), job);
  assert.equal(await m.getLoad!(jidOf(99)), undefined);
  assert.deepEqual(await m.getMinions!(), ["db-01", "web1.example.com"]);
});

test("pg - getJids lists the newest jobs first, at most limit", async () => {
  const { m } = await returner();
  for (let i = 1; i <= 5; i++) await m.saveLoad!(makeJob(jidOf(i), ["web1"], i));
  assert.deepEqual((await m.getJids!(3)).map((j) => j.jid), [jidOf(5), jidOf(4), jidOf(3)]);
  assert.equal((await m.getJids!()).length, 5);
});

test("pg - events=true stores every event in salt_events with Salt's tag, once", async () => {
  const { m, schema } = await returner({ events: "true" });
  assert.equal(typeof m.eventReturn, "function");
  const r = makeReturn({ jid: jidOf(3), id: "web1" });
  const ev = eventOf(r);
  const jobEv = { eid: "ev-job", seq: 1, subject: "natrium.job.x.new", type: "job.new", signer: "master", body: { jid: jidOf(3), master: "master1" }, time: BASE_TS };
  await m.eventReturn!([jobEv, ev]);
  await m.eventReturn!([ev]);
  const rows = await sql.unsafe(`SELECT tag, data, master_id, alter_time FROM "${schema}".salt_events ORDER BY id`);
  assert.deepEqual(rows.map((x) => [x.tag, x.master_id, x.alter_time.getTime()]), [
    [`salt/job/${jidOf(3)}/new`, "master1", BASE_TS],
    [`salt/job/${jidOf(3)}/ret/web1`, "", ev.time],
  ]);
  assert.equal(rows[1].data.eid, r.eid);
  assert.equal(saltTag({ ...jobEv, type: "minion.start", body: { id: "m1" } }), "salt/minion/m1/start");
  const { m: quiet } = await returner();
  assert.equal(quiet.eventReturn, undefined, "without events=true the host is not asked for events");
});

test("pg - a frozen server makes a call fail within timeout_ms, retryably; it works again once the server answers", async () => {
  const { m } = await returner({ timeout_ms: 1500 });
  await m.returner(makeReturn({ jid: jidOf(7) }));
  // The server and every backend it forked (the connections live in those), by pid.
  const freeze = (sig: NodeJS.Signals) => { for (const pid of [pg.proc.pid!, ...childrenOf(pg.proc.pid!)]) process.kill(pid, sig); };
  freeze("SIGSTOP");
  try {
    const t0 = Date.now();
    const err = await Promise.resolve(m.returner(makeReturn({ jid: jidOf(8) }))).then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof DeliveryError, String(err));
    assert.match((err as Error).message, /no answer within timeout_ms \(1500 ms\)/);
    assert.ok(Date.now() - t0 < 15_000, "the call did not hang");
  } finally {
    freeze("SIGCONT");
  }
  // The delivery that failed comes again (as the host redelivers) and lands once.
  await m.returner(makeReturn({ jid: jidOf(8) }));
  assert.deepEqual(Object.keys(await m.getJid!(jidOf(8))), ["web1.example.com"]);
});

test("pg - a value Postgres refuses is permanent (dead-lettered at once); an unreachable server is only a warning at setup", async () => {
  const { m } = await returner();
  // A NUL character cannot be stored in jsonb text: no retry can fix that.
  const err = await Promise.resolve(m.returner(makeReturn({ jid: jidOf(9), ret: "a\u0000b" }))).then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof PermanentDeliveryError, String(err));
  const log = memoryLog();
  const far = createPgReturner();
  modules.push(far);
  await far.setup!({ name: "pg", ns: "natrium", config: { url: "postgres://postgres@127.0.0.1:1/none", timeout_ms: 1000 }, log, signal: new AbortController().signal });
  assert.ok(log.lines.some((l) => l.level === "warn" && /postgres not ready yet/.test(l.msg)));
  const down = await Promise.resolve(far.returner(makeReturn())).then(() => undefined, (e: unknown) => e);
  assert.ok(down instanceof DeliveryError && !(down instanceof PermanentDeliveryError), String(down));
});

test("pg - config errors name the key", async () => {
  const bad = async (config: Record<string, unknown>) => {
    const m = createPgReturner();
    return Promise.resolve(m.setup!({ name: "pg", ns: "natrium", config, log: memoryLog(), signal: new AbortController().signal })).then(() => undefined, (e: unknown) => e);
  };
  const missing = await bad({});
  assert.ok(missing instanceof ReturnerConfigError && missing.key === "url", String(missing));
  const wrong = await bad({ url: "mysql://x/y" });
  assert.ok(wrong instanceof ReturnerConfigError && /must be postgres:\/\//.test(wrong.message), String(wrong));
  const schema = await bad({ url: pg.url, schema: "Robert'); drop" });
  assert.ok(schema instanceof ReturnerConfigError && schema.key === "schema", String(schema));
  const unknown = await bad({ url: pg.url, colour: "blue" });
  assert.ok(unknown instanceof ReturnerConfigError && unknown.key === "colour", String(unknown));
});
