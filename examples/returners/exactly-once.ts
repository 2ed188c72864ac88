// exactly-once — an ordered returner: every job and every return lands in PostgreSQL exactly
// once, through a cursor committed in the same transaction as the rows. It implements the four
// job-cache queries, so with serve_queries it can answer `natrium jobs list` and `jobs show`.
// Compile it (`npx tsc`) and run the .js:
//
//   natrium returner start --module ./exactly-once.js --name history --config url=postgres://127.0.0.1/reports
//
// Config keys (`--config key=value`):
//
//   url      (required) postgres://user:password@host:port/database
//   prefix   what its tables are called: <prefix>_jobs, <prefix>_returns, <prefix>_cursor
//                                        default "natrium"
//
// How ordered delivery works (OrderedReturnerModule in services/returners/sdk.ts): the host
// reads position() and hands apply() every event of the stream after it, in order, in batches.
// apply() commits the rows and the batch's last sequence together; after a crash, position()
// says where that commit got to, and nothing is applied twice. Messages come raw: ctx.verify()
// checks one (schema, subject, signature against the keys bucket), and this module skips and
// logs what it refuses. Inside this repository the import below is the real one; outside it,
// copy sdk.ts's types.
import postgres from "postgres";
import type { Checked, JidReturns, JobRecord, OrderedReturnerModule, ReturnerContext, ReturnRecord, StreamMessage } from "../../services/returners/sdk.js";

let sql: postgres.Sql | undefined;
let name = "";
let t = { jobs: "natrium_jobs", returns: "natrium_returns", cursor: "natrium_cursor" };
let verify: (m: StreamMessage) => Promise<Checked> = async () => {
  throw new Error("exactly-once: setup() was not called");
};
let log: ReturnerContext["log"] | undefined;

const db = (): postgres.Sql => {
  if (!sql) throw new Error("exactly-once: setup() was not called");
  return sql;
};

const exactlyOnce: OrderedReturnerModule = {
  ordered: true,
  description: "jobs and returns in PostgreSQL, exactly once (ordered returner example)",

  async setup(ctx: ReturnerContext) {
    const url = ctx.config.url;
    if (typeof url !== "string" || !/^postgres(ql)?:\/\//.test(url)) throw new Error("exactly-once: config key url is required: postgres://user@host:port/database");
    const prefix = String(ctx.config.prefix ?? "natrium");
    if (!/^[a-z_][a-z0-9_]{0,40}$/.test(prefix)) throw new Error(`exactly-once: config key prefix "${prefix}" must be a lower-case SQL identifier`);
    for (const k of Object.keys(ctx.config)) if (k !== "url" && k !== "prefix") throw new Error(`exactly-once: unknown config key "${k}" (known: url, prefix)`);
    if (!ctx.verify) throw new Error("exactly-once: this host gives no ctx.verify(); run it with `natrium returner start`");
    t = { jobs: `${prefix}_jobs`, returns: `${prefix}_returns`, cursor: `${prefix}_cursor` };
    name = ctx.name;
    verify = ctx.verify;
    log = ctx.log;
    sql = postgres(url, { max: 2, onnotice: () => {} });
    await sql`create table if not exists ${sql(t.jobs)} (jid text primary key, seq bigint not null, load jsonb not null)`;
    await sql`create table if not exists ${sql(t.returns)} (jid text not null, id text not null, seq bigint not null, ret jsonb not null, primary key (jid, id))`;
    await sql`create table if not exists ${sql(t.cursor)} (name text primary key, last_seq bigint not null)`;
  },

  async position() {
    const q = db();
    const [row] = await q`select last_seq from ${q(t.cursor)} where name = ${name}`;
    return row ? Number(row.last_seq) : 0;
  },

  // Verifying needs no earlier batch: the host starts it while the batch before is committed.
  prepare(batch: StreamMessage[]) {
    return Promise.all(batch.map((m) => verify(m)));
  },

  async apply(batch: StreamMessage[], prepared: unknown) {
    const checked = (prepared as Checked[] | undefined) ?? (await Promise.all(batch.map((m) => verify(m))));
    const jobs: { jid: string; seq: number; load: JobRecord }[] = [];
    const rets: { jid: string; id: string; seq: number; ret: ReturnRecord }[] = [];
    checked.forEach((c, i) => {
      const m = batch[i];
      if (!c.ok) {
        log?.warn("refused", { seq: m.seq, subject: m.subject, kind: c.kind, reason: c.reason });
        return;
      }
      const b = c.event.body;
      if (c.event.type === "job.new") jobs.push({ jid: String(b.jid), seq: m.seq, load: { ...(b as unknown as JobRecord), seq: m.seq } });
      if (c.event.type === "job.ret") rets.push({ jid: String(b.jid), id: String(b.id), seq: m.seq, ret: { ...(b as unknown as ReturnRecord), seq: m.seq, subject: m.subject } });
    });
    const last = batch[batch.length - 1].seq;
    // One transaction: the rows and the cursor commit together or not at all. A minion's
    // second return for a job (republished after JetStream's duplicate window) keeps the first.
    await db().begin(async (tx) => {
      if (jobs.length) await tx`insert into ${tx(t.jobs)} ${tx(jobs.map((j) => ({ ...j, load: tx.json(j.load as never) })))} on conflict do nothing`;
      if (rets.length) await tx`insert into ${tx(t.returns)} ${tx(rets.map((r) => ({ ...r, ret: tx.json(r.ret as never) })))} on conflict do nothing`;
      await tx`insert into ${tx(t.cursor)} (name, last_seq) values (${name}, ${last}) on conflict (name) do update set last_seq = excluded.last_seq`;
    });
  },

  // `natrium returners reset` cannot move an ordered returner: this is how it replays.
  async rewind(fromSeq: number) {
    await db().begin(async (tx) => {
      await tx`delete from ${tx(t.jobs)} where seq >= ${fromSeq}`;
      await tx`delete from ${tx(t.returns)} where seq >= ${fromSeq}`;
      await tx`insert into ${tx(t.cursor)} (name, last_seq) values (${name}, ${fromSeq - 1}) on conflict (name) do update set last_seq = excluded.last_seq`;
    });
  },

  async close() {
    await sql?.end({ timeout: 5 });
    sql = undefined;
  },

  async getJid(jid: string) {
    const q = db();
    const out: JidReturns = {};
    for (const r of await q`select id, ret from ${q(t.returns)} where jid = ${jid} order by id`) out[r.id] = r.ret as ReturnRecord;
    return out;
  },

  async getJids(limit = 50) {
    const q = db();
    return (await q`select load from ${q(t.jobs)} order by jid desc limit ${limit}`).map((r) => r.load as JobRecord);
  },

  async getLoad(jid: string) {
    const q = db();
    const [r] = await q`select load from ${q(t.jobs)} where jid = ${jid}`;
    return r ? (r.load as JobRecord) : undefined;
  },

  async getMinions() {
    const q = db();
    return (await q`select distinct id from ${q(t.returns)} order by id`).map((r) => r.id as string);
  },
};

export default exactlyOnce;
