// The job cache's tables: a projection of the events stream. Every column is derived from the
// events (their bodies, subjects, stream sequences and stream timestamps) and never from the
// clock of the process writing them, so dropping the tables and replaying the stream gives the
// same rows (services/jobcache/rebuild, test/integration/jobcache-rebuild.test.ts).
//
// Migrations are generated from this file: `npx drizzle-kit generate --name <what>` writes SQL
// into migrations/sql/. Generated SQL is history: never edit a migration once it is committed.

import { sql } from "drizzle-orm";
import { bigint, boolean, doublePrecision, index, jsonb, pgTable, pgView, primaryKey, text, timestamp, varchar } from "drizzle-orm/pg-core";

const tstz = (name: string) => timestamp(name, { withTimezone: true, mode: "date" });
const seqCol = (name: string) => bigint(name, { mode: "number" });

/** One row per job.new event: the command as the master published it, plus how it closed. */
export const jobs = pgTable(
  "jobs",
  {
    jid: text("jid").primaryKey(),
    fun: text("fun").notNull(),
    arg: jsonb("arg").$type<unknown[]>().notNull(),
    kwarg: jsonb("kwarg").$type<Record<string, unknown>>().notNull(),
    tgt: jsonb("tgt").$type<string | string[]>().notNull(),
    tgtType: text("tgt_type").notNull(),
    user: text("user").notNull(),
    master: text("master").notNull(),
    /** Minions the master expected to answer. */
    expected: text("expected").array().notNull(),
    /** Returners the job asked for (`--return`). */
    ret: text("ret").array().notNull(),
    timeout: doublePrecision("timeout").notNull(),
    created: tstz("created").notNull(),
    expires: tstz("expires").notNull(),
    /** From job.done; null while the job is open. */
    finished: tstz("finished"),
    doneReason: text("done_reason"),
    missing: text("missing").array(),
    unexpected: text("unexpected").array(),
    /** Of `missing`, the minions still running the job when the master stopped waiting (job.done's `running`). */
    running: text("running").array(),
    /** Stream sequences of the job.new and job.done events. */
    seq: seqCol("seq").notNull(),
    doneSeq: seqCol("done_seq"),
  },
  // Descending keys are NULLS FIRST, as `ORDER BY x DESC` is in Postgres: drizzle-kit's default
  // (NULLS LAST) gives an index that ORDER BY ... DESC cannot walk, and the planner falls back to
  // a sequential scan (test/integration/explain.test.ts caught it on a million returns).
  (t) => [
    index("jobs_created_idx").on(t.created.desc().nullsFirst(), t.jid.desc().nullsFirst()),
    index("jobs_fun_idx").on(t.fun, t.created.desc().nullsFirst()),
    // A user's own history (every non-admin listing is narrowed to it).
    index("jobs_user_idx").on(t.user, t.created.desc().nullsFirst()),
  ],
);

/**
 * One row per (job, minion): the first valid job.ret in stream order wins. Partitioned by range
 * of jid, one partition per UTC day (migration 0005, services/jobcache/partitions.ts): drizzle-kit
 * does not model partitioning, so a change to this table needs its migration edited by hand.
 */
export const jobReturns = pgTable(
  "job_returns",
  {
    jid: text("jid").notNull(),
    minion: text("minion").notNull(),
    fun: text("fun").notNull(),
    funArgs: jsonb("fun_args").$type<unknown[]>().notNull(),
    return: jsonb("return"),
    retcode: bigint("retcode", { mode: "number" }).notNull(),
    success: boolean("success").notNull(),
    error: jsonb("error").$type<{ code: string; message: string }>(),
    start: tstz("start").notNull(),
    end: tstz("end").notNull(),
    durationMs: doublePrecision("duration_ms").notNull(),
    eid: text("eid").notNull(),
    seq: seqCol("seq").notNull(),
    /** The minion's schedule entry this return is a run of (job.ret `schedule`); null for a master's command. */
    schedule: text("schedule"),
  },
  (t) => [
    primaryKey({ name: "job_returns_pkey", columns: [t.jid, t.minion] }),
    index("job_returns_minion_idx").on(t.minion, t.jid.desc().nullsFirst()),
    // One minion's scheduled runs (they have no jobs row), for `jobs minion`: small, so partial.
    index("job_returns_schedule_idx").on(t.minion, t.jid.desc().nullsFirst()).where(sql`${t.schedule} is not null`),
    index("job_returns_failed_idx").on(t.jid.desc().nullsFirst(), t.minion).where(sql`${t.success} = false`),
  ],
);

/** The raw event log mirror: every event that decoded, validated and verified. */
export const events = pgTable(
  "events",
  {
    /** The JetStream stream sequence. */
    seq: seqCol("seq").primaryKey(),
    eid: text("eid").notNull().unique("events_eid_key"),
    subject: text("subject").notNull(),
    type: text("type").notNull(),
    jid: text("jid"),
    minion: text("minion"),
    signer: text("signer").notNull(),
    /** The event's own timestamp (body.ts). */
    ts: tstz("ts").notNull(),
    body: jsonb("body").$type<Record<string, unknown>>().notNull(),
  },
  (t) => [
    index("events_jid_idx").on(t.jid, t.seq),
    index("events_minion_idx").on(t.minion, t.seq),
    index("events_type_ts_idx").on(t.type, t.ts.desc().nullsFirst()),
  ],
);

/** What is known about each minion: its key as the master last set it, its facts, when it was seen. */
export const minions = pgTable("minions", {
  id: text("id").primaryKey(),
  keyState: text("key_state"),
  pub: text("pub"),
  boxPub: text("box_pub"),
  finger: text("finger"),
  keyChanged: tstz("key_changed"),
  grains: jsonb("grains").$type<Record<string, unknown>>(),
  version: text("version"),
  host: text("host"),
  /** From the minion's own start and grains events, and the master's presence events (last_seen). */
  firstSeen: tstz("first_seen"),
  lastSeen: tstz("last_seen"),
  /** The master's last presence verdict: up or down; null before the first. */
  up: boolean("up"),
  /** When that verdict was made. */
  presenceChanged: tstz("presence_changed"),
});

/**
 * Refusals: audit events other services published (origin 'stream'), and messages the job cache
 * itself refused to project (origin 'jobcache': bad payload, invalid, bad or unknown signature).
 */
export const audit = pgTable(
  "audit",
  {
    seq: seqCol("seq").primaryKey(),
    subject: text("subject").notNull(),
    kind: text("kind").notNull(),
    reason: text("reason").notNull(),
    origin: text("origin").notNull(),
    detail: jsonb("detail").$type<Record<string, unknown>>(),
    /** The event's ts for audit events; the stream's timestamp for refused messages. */
    ts: tstz("ts").notNull(),
  },
  (t) => [index("audit_kind_ts_idx").on(t.kind, t.ts.desc().nullsFirst())],
);

/**
 * Where the projection stands in its stream, committed in the same transaction as the rows, so
 * the database and not the JetStream consumer is the authority on what has been projected.
 */
export const projection = pgTable("projection", {
  stream: text("stream").primaryKey(),
  lastSeq: seqCol("last_seq").notNull(),
});

// Views with the tables, columns and types of Salt's pgjsonb returner (salt/returners/pgjsonb.py),
// so SQL and dashboards written for Salt's Postgres job cache run unchanged
// (test/integration/salt-views.test.ts runs the queries Salt's job-cache functions issue).

/** jids(jid varchar(255), load jsonb): keyword arguments travel in arg as Salt's {"__kwarg__": true} item. */
export const saltJids = pgView("jids", { jid: varchar("jid", { length: 255 }), load: jsonb("load") }).as(
  sql`select ${jobs.jid}::varchar(255) as jid,
    jsonb_build_object('jid', ${jobs.jid}, 'fun', ${jobs.fun},
      'arg', case when ${jobs.kwarg} = '{}'::jsonb then ${jobs.arg}
                  else ${jobs.arg} || jsonb_build_array(${jobs.kwarg} || '{"__kwarg__": true}'::jsonb) end,
      'tgt', ${jobs.tgt}, 'tgt_type', ${jobs.tgtType}, 'user', ${jobs.user},
      'ret', to_jsonb(array_to_string(${jobs.ret}, ',')), 'Minions', to_jsonb(${jobs.expected}), 'master', ${jobs.master}) as load
    from ${jobs}`,
);

/** salt_returns: success is the text 'True'/'False', as Salt writes str(ret['success']). */
export const saltReturns = pgView("salt_returns", {
  fun: varchar("fun", { length: 50 }),
  jid: varchar("jid", { length: 255 }),
  return: jsonb("return"),
  id: varchar("id", { length: 255 }),
  success: varchar("success", { length: 10 }),
  fullRet: jsonb("full_ret"),
  alterTime: tstz("alter_time"),
}).as(
  sql`select r.fun::varchar(50) as fun, r.jid::varchar(255) as jid, coalesce(r.return, 'null'::jsonb) as return,
    r.minion::varchar(255) as id, (case when r.success then 'True' else 'False' end)::varchar(10) as success,
    e.body as full_ret, r."end" as alter_time
    from ${jobReturns} r join ${events} e on e.seq = r.seq`,
);

/** salt_events: every event, tagged the way Salt tags its own (salt/job/<jid>/ret/<id>, ...). */
export const saltEvents = pgView("salt_events", {
  id: bigint("id", { mode: "number" }),
  tag: varchar("tag", { length: 255 }),
  data: jsonb("data"),
  alterTime: tstz("alter_time"),
  masterId: varchar("master_id", { length: 255 }),
}).as(
  sql`select ${events.seq}::bigint as id,
    (case ${events.type}
      when 'job.new' then 'salt/job/' || ${events.jid} || '/new'
      when 'job.ret' then 'salt/job/' || ${events.jid} || '/ret/' || ${events.minion}
      when 'job.done' then 'salt/job/' || ${events.jid} || '/done'
      when 'minion.start' then 'salt/minion/' || ${events.minion} || '/start'
      when 'minion.grains' then 'salt/minion/' || ${events.minion} || '/grains'
      when 'key' then 'salt/key'
      when 'audit' then 'natrium/audit/' || coalesce(${events.body}->>'kind', '')
      else ${events.subject} end)::varchar(255) as tag,
    ${events.body} as data, ${events.ts} as alter_time, coalesce(${events.body}->>'master', '')::varchar(255) as master_id
    from ${events}`,
);

export type Job = typeof jobs.$inferSelect;
export type NewJob = typeof jobs.$inferInsert;
export type JobReturnRow = typeof jobReturns.$inferSelect;
export type NewJobReturn = typeof jobReturns.$inferInsert;
export type EventRow = typeof events.$inferSelect;
export type NewEvent = typeof events.$inferInsert;
export type MinionRow = typeof minions.$inferSelect;
export type NewMinion = typeof minions.$inferInsert;
export type AuditRow = typeof audit.$inferSelect;
export type NewAudit = typeof audit.$inferInsert;

/** The projection's tables, in the order a rebuild empties them and a test compares them. */
export const projectionTables = { jobs, jobReturns, events, minions, audit, projection } as const;
