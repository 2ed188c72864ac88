// A whole Natrium stack in one test process, for attacks against it: a real nats-server, a real
// PostgreSQL, the Master, real Minions (each on its own connection, keys accepted by autosign)
// and the job cache projecting into PostgreSQL. The test holds every private key, so it can
// play the attacker with a stolen minion key, a stranger's key, or a captured command.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { connect as netConnect } from "node:net";
import postgres from "postgres";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { startNats, type NatsServer } from "./nats.js";
import { startPostgres, type PgServer } from "./postgres.js";
import { waitFor } from "./ports.js";
import type { UserConfig } from "../../services/master/gate.js";
import type { Nodegroups } from "../../services/common/target.js";
import { Master } from "../../services/master/master.js";
import { Minion, type MinionOptions } from "../../services/minion/minion.js";
import { runJobcache } from "../../services/jobcache/main.js";
import { ephemeralKeys, type ServiceKeys } from "../../services/common/keys.js";
import { createLogger } from "../../services/common/log.js";
import { request, signedRequest, toHeaders } from "../../services/common/bus.js";
import { subjects, type Subjects } from "../../contracts/subjects.js";
import { open, seal, type Sealed } from "../../contracts/message.js";
import { newJid } from "../../contracts/jid.js";
import { eventIds } from "../../contracts/ids.js";
import type { Identity } from "../../contracts/request.js";
import type { SigningKey } from "../../contracts/sign.js";
import type { Audited, JobPublished } from "../../contracts/events/index.js";
import type { JobReply, PublishReply, PublishRequest, StatusReply } from "../../contracts/api.js";

const quiet = createLogger({ svc: "attack-test" }, (process.env.TEST_LOG as "debug") ?? "quiet");

export interface BusAudit {
  subject: string;
  signer: string;
  body: Audited;
}

/** Every audit event on `{ns}.audit.>` from now on, opened (an unreadable one is the job cache's business). */
export function collectAudits(nc: NatsConnection, s: Subjects): BusAudit[] {
  const out: BusAudit[] = [];
  nc.subscribe(s.allAudit, {
    callback: (_e, m) => {
      try {
        const o = open(m.subject, m.data, m.headers);
        out.push({ subject: m.subject, signer: o.signer, body: o.body as Audited });
      } catch {
        // not ours to judge
      }
    },
  });
  return out;
}

export interface AuditRow {
  seq: number;
  subject: string;
  kind: string;
  reason: string;
  origin: string;
  detail: Record<string, unknown> | null;
}

export interface Stack {
  nats: NatsServer;
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  s: Subjects;
  sql: postgres.Sql;
  /** A temp dir for marker files: a marker that exists means something ran that must not have. */
  dir: string;
  masterKeys: ServiceKeys;
  admin: Identity;
  minions: Map<string, { minion: Minion; keys: ServiceKeys; nc: NatsConnection }>;
  ids: string[];
  /** Every audit event seen on `{ns}.audit.>` since the stack started. */
  busAudits: BusAudit[];
  /** A signed request to the master as `who` (admin by default). */
  publish(req: Partial<PublishRequest> & { tgt: PublishRequest["tgt"]; fun: string }, who?: Identity): Promise<PublishReply>;
  /** A job.new body as the master would make it; seal it with any key. */
  command(p?: Partial<JobPublished>): JobPublished;
  /** Seal `body` on its job.new subject with `key` (the master's by default). */
  sealCommand(body: JobPublished, key?: SigningKey): Sealed;
  /** An audit event of `kind` on the bus matching `pred`. */
  busAudit(kind: string, pred?: (a: BusAudit) => boolean): Promise<BusAudit>;
  /** A row of the job cache's audit table of `kind` matching `pred`. */
  dbAudit(kind: string, pred?: (r: AuditRow) => boolean): Promise<AuditRow>;
  /** The job as the job cache has it, once `pred` holds. */
  cachedJob(jid: string, pred: (j: JobReply) => boolean, what: string): Promise<JobReply>;
  /** Wait until the job cache has projected everything in the stream. */
  caughtUp(): Promise<StatusReply>;
  /**
   * After an attack: the master answers, a test.ping to '*' returns from every minion, and the
   * returns land in the job cache.
   */
  assertHealthy(): Promise<void>;
  stop(): Promise<void>;
}

export interface StackOptions {
  ids?: string[];
  users?: Record<string, UserConfig>;
  /** Grains per minion id, over the default `{ id, os: "Linux" }`. */
  grains?: Record<string, Record<string, unknown>>;
  /** The master's nodegroups. */
  nodegroups?: Nodegroups;
  /** The master's gather_job_timeout and job_max_wait (seconds). */
  gatherJobTimeoutSec?: number;
  jobMaxWaitSec?: number;
  /** More options for a minion, by id (blackout, process_count_max, schedule…). */
  minionOptions?: Record<string, Partial<MinionOptions>>;
}

export async function startStack(opts: StackOptions = {}): Promise<Stack> {
  const ids = opts.ids ?? ["web1", "web2"];
  const [nats, pg] = await Promise.all([startNats(), startPostgres()]);
  const dir = mkdtempSync(join(tmpdir(), "natrium-attack-"));
  const nc = await connect({ servers: nats.url });
  const js = jetstream(nc);
  const jsm = await jetstreamManager(nc);
  const s = subjects(`a${randomBytes(4).toString("hex")}`);
  const masterKeys = ephemeralKeys();
  const admin: Identity = { user: "admin", key: ephemeralKeys().sign };
  const busAudits = collectAudits(nc, s);
  const master = new Master(
    nc,
    masterKeys,
    {
      id: "master", ns: s.ns, timeout: 10, autoAccept: false, autosign: ids.map((id) => id.replace(/[*?[\]]/g, "?")),
      commandTtl: 60, streamMaxAgeHours: 0, replicas: 1, adminPub: admin.key.pub, requestWindowSec: 60, users: opts.users, nodegroups: opts.nodegroups,
      gatherJobTimeoutSec: opts.gatherJobTimeoutSec, jobMaxWaitSec: opts.jobMaxWaitSec,
    },
    quiet,
  );
  await master.start();

  const ac = new AbortController();
  const jobcacheDone = runJobcache({
    overrides: { nats_url: nats.url, ns: s.ns, database_url: pg.url, data_dir: dir, log_level: "error", batch_wait_ms: 5 },
    signal: ac.signal,
  });
  const sql = postgres(pg.url, { max: 2, onnotice: () => {} });

  const minions = new Map<string, { minion: Minion; keys: ServiceKeys; nc: NatsConnection }>();
  for (const id of ids) {
    const mnc = await connect({ servers: nats.url });
    const keys = ephemeralKeys();
    const minion = new Minion({ nc: mnc, ns: s.ns, id, keys, log: quiet, grains: { os: "Linux", ...opts.grains?.[id], id }, ...opts.minionOptions?.[id] });
    await minion.start();
    minions.set(id, { minion, keys, nc: mnc });
  }
  // Bounded: a minion that never sees its acceptance must fail the test with its name, not stall it.
  await Promise.all([...minions.entries()].map(([id, m]) => waitFor(`minion ${id} to see its key accepted`, () => m.minion.accepted || undefined, 60_000, 50)));

  const stack: Stack = {
    nats, nc, js, jsm, s, sql, dir, masterKeys, admin, minions, ids: [...ids].sort(), busAudits,
    publish: (req, who = admin) =>
      signedRequest<PublishReply>(nc, s.api("publish"), { v: 1, tgt_type: "glob", arg: [], kwarg: {}, timeout: 10, ...req }, who, 15_000),
    command(p = {}) {
      const jid = p.jid ?? newJid();
      const now = Date.now();
      return {
        v: 1, type: "job.new", eid: eventIds.jobNew(jid), ts: now, jid, fun: "test.ping", arg: [], kwarg: {},
        tgt: "*", tgt_type: "glob", user: "admin", master: "master", minions: [...ids].sort(), timeout: 10,
        expires: now + 60_000, ret: [], ...p,
      };
    },
    sealCommand: (body, key = masterKeys.sign) => seal(s.jobNew(body.jid), body, key),
    busAudit: (kind, pred = () => true) =>
      waitFor(`an audit event of kind ${kind} on the bus`, () => busAudits.find((a) => a.body.kind === kind && pred(a)), 20_000),
    dbAudit: (kind, pred = () => true) =>
      waitFor(`a row of kind ${kind} in the job cache's audit table`, async () => {
        const rows = await sql<AuditRow[]>`select seq, subject, kind, reason, origin, detail from audit where kind = ${kind} order by seq`;
        return rows.find(pred);
      }, 30_000, 100),
    cachedJob: (jid, pred, what) =>
      waitFor(`${what} (job ${jid} in the job cache)`, async () => {
        const j = await request<JobReply>(nc, s.cache("job"), { jid }, 5000).catch(() => undefined);
        return j && pred(j) ? j : undefined;
      }, 30_000, 100),
    caughtUp: () =>
      waitFor("the job cache to catch up with the stream", async () => {
        const st = await request<StatusReply>(nc, s.cache("status"), {}, 5000).catch(() => undefined);
        return st && st.stream_last_seq > 0 && st.last_seq === st.stream_last_seq ? st : undefined;
      }, 60_000, 50),
    async assertHealthy() {
      const ping = await request<{ minions: string[] }>(nc, s.api("ping"), {}, 5000);
      assert.deepEqual(ping.minions, stack.ids, "the master answers and knows every minion");
      const r = await stack.publish({ tgt: "*", fun: "test.ping" });
      assert.deepEqual(r.minions, stack.ids);
      const j = await stack.cachedJob(r.jid, (j) => j.returns.length === stack.ids.length && j.done_reason !== null, "every minion's test.ping return and the job's close");
      assert.deepEqual(j.returns.map((x) => [x.minion, x.return, x.success]), stack.ids.map((id) => [id, true, true]));
      assert.equal(j.done_reason, "all_returned");
    },
    async stop() {
      for (const m of minions.values()) {
        await m.minion.stop({ graceMs: 500, deliverMs: 2000 });
        await m.nc.close();
      }
      await master.stop();
      ac.abort();
      await jobcacheDone.catch(() => {});
      await sql.end();
      await nc.close();
      await Promise.all([nats.stop(), pg.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return stack;
}

/** Publish `ev` on core NATS (the stream stores it too: its subject is a stream subject). */
export async function corePublish(nc: NatsConnection, ev: { subject: string; payload: Uint8Array; headers: Record<string, string> }): Promise<void> {
  nc.publish(ev.subject, ev.payload, Object.keys(ev.headers).length ? { headers: toHeaders(ev.headers) } : {});
  await nc.flush();
}

/**
 * Speak the NATS protocol on a raw socket, as a client that ignores the server's max_payload
 * would: CONNECT, then PUB `subject` with `size` bytes. Resolves with what the server said
 * before it closed the connection (or after `waitMs`).
 */
export function rawPublish(port: number, subject: string, size: number, waitMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let said = "";
    const sock = netConnect({ host: "127.0.0.1", port }, () => {
      sock.write(`CONNECT {"verbose":false,"pedantic":false,"protocol":1,"headers":true,"no_responders":true}\r\nPING\r\n`);
      // The server judges the size on the PUB line; the payload would follow.
      sock.write(`PUB ${subject} ${size}\r\n`);
      sock.write(Buffer.alloc(Math.min(size, 64 * 1024), 0x61));
    });
    const t = setTimeout(() => { sock.destroy(); resolve(said); }, waitMs);
    sock.on("data", (d) => { said += d.toString("latin1"); });
    // A reset after the server refused is its answer, not a failure.
    sock.on("error", (err) => { if (!said) { clearTimeout(t); reject(err); } });
    sock.on("close", () => { clearTimeout(t); resolve(said); });
  });
}
