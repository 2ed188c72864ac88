// pg: keep returns, job loads and (optionally) every event in any PostgreSQL database, in the
// tables of Salt's pgjsonb returner (salt/returners/pgjsonb.py): `jids`, `salt_returns`,
// `salt_events`. SQL and dashboards written for Salt's Postgres returner run on them. (The
// job cache's own database has views of the same names over its projection; this returner
// is for another database: a reporting server, a team's own Postgres.)
//
// Config keys, each with its default first (strings from `--config k=v`, or YAML values):
//
//   url             (required) postgres://user:password@host:port/database. The password is
//                   never logged.
//   schema          public. The schema the tables live in (made when missing).
//   create_tables   true. Create the tables and indexes when missing (CREATE … IF NOT EXISTS);
//                   false expects them to exist, with the unique indexes below.
//   events          false. Also store every verified event in salt_events (Salt's
//                   event_return), tagged as Salt tags them (salt/job/<jid>/ret/<id> …).
//   timeout_ms      5000. Connecting, and each statement: a call fails after it (and the host
//                   redelivers) rather than hang while the database is unreachable.
//   max_connections 2. Connections in the pool.
//
// Tables, as Salt's pgjsonb returner documents them, with two differences: `fun` is
// varchar(255) (Natrium allows longer function names than Salt's 50), and unique indexes on
// salt_returns (jid, id) and on salt_events (data->>'eid') make a redelivered return or event
// change nothing (INSERT … ON CONFLICT DO NOTHING). alter_time is the return's end time and
// the event's own time, not the time of the insert, so a replay writes the same rows.
//
//   jids          (jid varchar(255) primary key, load jsonb): the job command as Salt's load
//                 (jid, fun, arg, tgt, tgt_type, user, Minions …) plus Natrium's fields.
//   salt_returns  (fun, jid, return jsonb, id, success 'True'|'False', full_ret jsonb, alter_time)
//   salt_events   (id bigserial, tag, data jsonb, alter_time, master_id)
//
// getJid, getJids, getLoad and getMinions read these tables, as Salt's get_jid, get_jids,
// get_load and get_minions do.
//
//   natrium returner start --module pg --name reports --config url=postgres://reports@db/salt
import postgres from "postgres";
import type { EventRecord, JidReturns, JobRecord, ReturnRecord, ReturnerContext, ReturnerModule } from "./sdk.js";
import { ConfigReader } from "./module-config.js";
import { DeliveryError, PermanentDeliveryError } from "./errors.js";
import { toJson } from "./json.js";

interface PgConfig {
  url: string;
  shown: string;
  schema: string;
  createTables: boolean;
  events: boolean;
  timeoutMs: number;
  maxConnections: number;
}

function readConfig(name: string, raw: Record<string, unknown>): PgConfig {
  const r = new ConfigReader(name, raw);
  const url = r.required("url", "the database to write to, e.g. postgres://user@host:5432/salt");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return r.invalid("url", `is not a URL: write postgres://user:password@host:port/database`);
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") r.invalid("url", `must be postgres:// or postgresql://, not ${parsed.protocol}//`);
  if (parsed.password) parsed.password = "***";
  const cfg: PgConfig = {
    url,
    shown: parsed.toString(),
    schema: r.string("schema", "public"),
    createTables: r.bool("create_tables", true),
    events: r.bool("events", false),
    timeoutMs: r.int("timeout_ms", 5000, 10, 600_000),
    maxConnections: r.int("max_connections", 2, 1, 100),
  };
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(cfg.schema)) r.invalid("schema", "must be a lower-case SQL identifier (letters, digits, _)");
  r.done();
  return cfg;
}

/** The DDL of Salt's pgjsonb returner, idempotent, plus the unique indexes redelivery needs. */
function ddl(schema: string): string[] {
  const q = `"${schema}"`;
  return [
    `CREATE SCHEMA IF NOT EXISTS ${q}`,
    `CREATE TABLE IF NOT EXISTS ${q}.jids (jid varchar(255) NOT NULL PRIMARY KEY, load jsonb NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS idx_jids_jsonb ON ${q}.jids USING gin (load) WITH (fastupdate=on)`,
    `CREATE TABLE IF NOT EXISTS ${q}.salt_returns (fun varchar(255) NOT NULL, jid varchar(255) NOT NULL, return jsonb NOT NULL, id varchar(255) NOT NULL, success varchar(10) NOT NULL, full_ret jsonb NOT NULL, alter_time timestamp with time zone DEFAULT now())`,
    `CREATE INDEX IF NOT EXISTS idx_salt_returns_id ON ${q}.salt_returns (id)`,
    `CREATE INDEX IF NOT EXISTS idx_salt_returns_jid ON ${q}.salt_returns (jid)`,
    `CREATE INDEX IF NOT EXISTS idx_salt_returns_fun ON ${q}.salt_returns (fun)`,
    `CREATE INDEX IF NOT EXISTS idx_salt_returns_return ON ${q}.salt_returns USING gin (return) WITH (fastupdate=on)`,
    `CREATE INDEX IF NOT EXISTS idx_salt_returns_full_ret ON ${q}.salt_returns USING gin (full_ret) WITH (fastupdate=on)`,
    `CREATE UNIQUE INDEX IF NOT EXISTS natrium_salt_returns_jid_id ON ${q}.salt_returns (jid, id)`,
    `CREATE TABLE IF NOT EXISTS ${q}.salt_events (id bigserial NOT NULL PRIMARY KEY, tag varchar(255) NOT NULL, data jsonb NOT NULL, alter_time timestamp with time zone DEFAULT now(), master_id varchar(255) NOT NULL)`,
    `CREATE INDEX IF NOT EXISTS idx_salt_events_tag ON ${q}.salt_events (tag)`,
    `CREATE INDEX IF NOT EXISTS idx_salt_events_data ON ${q}.salt_events USING gin (data) WITH (fastupdate=on)`,
    `CREATE UNIQUE INDEX IF NOT EXISTS natrium_salt_events_eid ON ${q}.salt_events ((data->>'eid'))`,
  ];
}

/** Salt's tag for an event (the job cache's salt_events view uses the same). */
export function saltTag(e: EventRecord): string {
  const b = e.body as { jid?: string; id?: string; kind?: string };
  switch (e.type) {
    case "job.new":
      return `salt/job/${b.jid}/new`;
    case "job.ret":
      return `salt/job/${b.jid}/ret/${b.id}`;
    case "job.done":
      return `salt/job/${b.jid}/done`;
    case "minion.start":
      return `salt/minion/${b.id}/start`;
    case "minion.grains":
      return `salt/minion/${b.id}/grains`;
    case "key":
      return "salt/key";
    case "audit":
      return `natrium/audit/${b.kind ?? ""}`;
    default:
      return e.subject.slice(0, 255);
  }
}

/** Postgres error classes a retry cannot fix: bad data (22), constraint (23), syntax or undefined objects (42). */
function permanent(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return typeof code === "string" && /^(22|23|42)/.test(code);
}

export function createPgReturner(): ReturnerModule {
  let name = "pg";
  let cfg: PgConfig;
  let sql: postgres.Sql | undefined;
  let tablesReady = false;

  async function run<T>(what: string, fn: (sql: postgres.Sql) => Promise<T>): Promise<T> {
    if (!sql) throw new DeliveryError(name, "setup() was not called, or the returner is closed");
    const s = sql;
    let timer: NodeJS.Timeout | undefined;
    // statement_timeout needs a server that answers; a frozen one (or a dead route) is cut off here.
    const late = new Promise<never>((_r, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within timeout_ms (${cfg.timeoutMs} ms)`)), cfg.timeoutMs);
    });
    try {
      if (!tablesReady) await Promise.race([ensureTables(s), late]);
      return await Promise.race([fn(s), late]);
    } catch (err) {
      const why = `${what} in ${cfg.shown} failed: ${(err as Error).message}`;
      if (permanent(err)) throw new PermanentDeliveryError(name, why, { cause: err });
      throw new DeliveryError(name, why, { cause: err });
    } finally {
      clearTimeout(timer);
    }
  }

  async function ensureTables(s: postgres.Sql): Promise<void> {
    if (cfg.createTables) {
      // Two processes of one returner may start together: one lock, the second finds it done.
      await s.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(hashtext(${"natrium pg returner " + cfg.schema}))`;
        for (const stmt of ddl(cfg.schema)) await tx.unsafe(stmt);
      });
    }
    tablesReady = true;
  }

  const t = (table: string) => `"${cfg.schema}".${table}`;

  const mod: ReturnerModule = {
    description: "Store returns, loads and events in any PostgreSQL, in Salt's pgjsonb tables; serves the job-cache queries",

    async setup(ctx: ReturnerContext) {
      name = ctx.name || "pg";
      cfg = readConfig(name, ctx.config);
      sql = postgres(cfg.url, {
        max: cfg.maxConnections,
        connect_timeout: Math.ceil(cfg.timeoutMs / 1000),
        idle_timeout: 60,
        onnotice: () => {},
        connection: { statement_timeout: cfg.timeoutMs, application_name: `natrium-returner-${name}` },
      });
      if (!cfg.events) delete mod.eventReturn;
      try {
        await ensureTables(sql);
      } catch (err) {
        // Not fatal: deliveries fail (and are redelivered) until the database is reachable.
        ctx.log.warn("postgres not ready yet; returns wait in the stream until it is", { url: cfg.shown, error: (err as Error).message });
      }
    },

    async returner(ret: ReturnRecord) {
      await run(`storing return ${ret.eid}`, (s) =>
        s.unsafe(
          `insert into ${t("salt_returns")} (fun, jid, return, id, success, full_ret, alter_time)
           values ($1, $2, $3::text::jsonb, $4, $5, $6::text::jsonb, to_timestamp($7::double precision / 1000)) on conflict do nothing`,
          [ret.fun, ret.jid, toJson(ret.return ?? null), ret.id, ret.success ? "True" : "False", toJson(ret), ret.end],
        ),
      );
    },

    async saveLoad(job: JobRecord) {
      const load = { ...job, Minions: job.minions };
      await run(`storing load ${job.eid}`, (s) => s.unsafe(`insert into ${t("jids")} (jid, load) values ($1, $2::text::jsonb) on conflict do nothing`, [job.jid, toJson(load)]));
    },

    async eventReturn(events: EventRecord[]) {
      if (!events.length) return;
      const rows = events.map((e) => ({ tag: saltTag(e), data: { ...e.body, eid: e.eid }, time: e.time, master: String((e.body as { master?: unknown }).master ?? "") }));
      await run(`storing ${events.length} events`, (s) =>
        s.unsafe(
          `insert into ${t("salt_events")} (tag, data, alter_time, master_id)
           select r.tag, r.data, to_timestamp(r.time / 1000), r.master from jsonb_to_recordset($1::text::jsonb) as r(tag text, data jsonb, time double precision, master text)
           on conflict do nothing`,
          [toJson(rows)],
        ),
      );
    },

    async getJid(jid: string): Promise<JidReturns> {
      const rows = await run(`reading job ${jid}`, (s) => s.unsafe(`select id, full_ret from ${t("salt_returns")} where jid = $1 order by id`, [jid]));
      const out: JidReturns = {};
      for (const r of rows) out[r.id as string] = r.full_ret as ReturnRecord;
      return out;
    },

    async getJids(limit?: number): Promise<JobRecord[]> {
      const n = limit === undefined ? null : Math.max(0, Math.floor(limit));
      const rows = await run("listing jobs", (s) => s.unsafe(`select load from ${t("jids")} order by jid desc limit $1`, [n]));
      return rows.map((r) => fromLoad(r.load));
    },

    async getLoad(jid: string): Promise<JobRecord | undefined> {
      const rows = await run(`reading load ${jid}`, (s) => s.unsafe(`select load from ${t("jids")} where jid = $1`, [jid]));
      return rows.length ? fromLoad(rows[0].load) : undefined;
    },

    async getMinions(): Promise<string[]> {
      const rows = await run("listing minions", (s) => s.unsafe(`select distinct id from ${t("salt_returns")} order by id`));
      return rows.map((r) => r.id as string);
    },

    async close() {
      const s = sql;
      sql = undefined;
      await s?.end({ timeout: Math.ceil(cfg.timeoutMs / 1000) });
    },
  };
  return mod;
}

/** The stored load without the names added for Salt's readers. */
function fromLoad(load: unknown): JobRecord {
  const { Minions: _m, ...job } = load as JobRecord & { Minions?: unknown };
  return job as JobRecord;
}

export default createPgReturner();
