// The master: wiring of registry, key keeper, publisher and tracker onto one NATS connection.
// It keeps no state of its own between restarts: keys and grains are in KV, jobs in the stream.

import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, AckPolicy, DeliverPolicy, type ConsumerMessages } from "@nats-io/jetstream";
import { encode, decode } from "../../contracts/codec.js";
import { parseSubject, subjects, type ApiVerb, type Subjects } from "../../contracts/subjects.js";
import { fingerprint } from "../../contracts/sign.js";
import { masterKeyRecord, registryKeys, type MasterKeyRecord } from "../../contracts/registry.js";
import { NatriumError } from "../../contracts/errors.js";
import { ensureBuckets, ensureProgressStream, ensureStream, serve } from "../common/bus.js";
import { Auditor } from "../common/audit.js";
import { ensureReturnerStores } from "../returners/registry.js";
import type { ServiceKeys } from "../common/keys.js";
import type { Logger } from "../common/log.js";
import { MinionRegistry } from "./registry.js";
import { KeyKeeper } from "./keykeeper.js";
import { Publisher } from "./publisher.js";
import { JobTracker } from "./tracker.js";
import type { JobPublished } from "../../contracts/events/job.js";
import { findOpenJobs } from "./recovery.js";
import { handleAudit, handleJob, handleJobs } from "./history.js";
import { Gate, type UserConfig } from "./gate.js";
import { checkKeys, DeniedError, type Principal } from "./acl.js";
import { handleKeys } from "./keyapi.js";
import { Kvm } from "@nats-io/kv";
import { Objm } from "@nats-io/obj";
import { FileStore } from "./filestore.js";
import { checkNodegroups, type Nodegroups } from "../common/target.js";
import { handleMatch } from "./match.js";
import { PresenceKeeper } from "./presencekeeper.js";
import { handleMinions } from "./minionsapi.js";
import { checkMinions } from "./acl.js";

export const VERSION = "0.1.0";

export interface MasterOptions {
  id: string;
  ns: string;
  timeout: number;
  autoAccept: boolean;
  commandTtl: number;
  streamMaxAgeHours: number;
  /** Seconds the progress stream keeps output chunks (default 3600). */
  progressMaxAgeSec?: number;
  /** Bytes the progress stream may hold (default 256 MiB). */
  progressMaxBytes?: number;
  /** Largest file the file store takes (file_max_bytes). */
  fileMaxBytes?: number;
  replicas: number;
  /** Seconds back to look for this master's open jobs at start; 0 = off. */
  resumeWindowSec?: number;
  autosign?: string[];
  users?: Record<string, UserConfig>;
  /** Salt's nodegroups: name -> compound expression or list of ids; expanded before publishing. */
  nodegroups?: Nodegroups;
  /**
   * Seconds a find_job waits for answers when a job times out with minions silent (Salt's
   * gather_job_timeout); 0 or absent: off, the timeout closes the job. The daemon passes the
   * config key gather_job_timeout (default 10).
   */
  gatherJobTimeoutSec?: number;
  /** Seconds after publication the master waits at most for minions that still run a job. Default 3600. */
  jobMaxWaitSec?: number;
  /** Seconds a signed request stays valid. */
  requestWindowSec?: number;
  /** The admin key's public key: requests it signs may do everything. */
  adminPub: string;
  /**
   * Seconds without a heartbeat (or other verified message) after which a minion is down; also
   * the grace period after start before anyone is declared down. Default 90.
   */
  presenceTimeoutSec?: number;
}

export class MasterKeyConflictError extends NatriumError {
  constructor(known: string, mine: string) {
    super("master_key_conflict", `another master key (${known}) is registered for this namespace; this master's key is ${mine}. Masters of one namespace share one key: copy the pki dir, or delete the "master" entry of the keys bucket to re-key`);
  }
}

export class Master {
  readonly s: Subjects;
  readonly registry: MinionRegistry;
  private tracker!: JobTracker;
  private presence?: PresenceKeeper;
  private lifecycle?: ConsumerMessages;
  private subs: Subscription[] = [];
  private lifecycleDone?: Promise<void>;

  constructor(
    private readonly nc: NatsConnection,
    private readonly keys: ServiceKeys,
    private readonly o: MasterOptions,
    private readonly log: Logger,
  ) {
    this.s = subjects(o.ns);
    this.registry = new MinionRegistry(log);
  }

  async start(): Promise<void> {
    const { s, nc, log } = this;
    const nodegroups = this.o.nodegroups ?? {};
    try {
      checkNodegroups(nodegroups);
    } catch (err) {
      throw new NatriumError("bad_config", `nodegroups: ${(err as Error).message}`);
    }
    const jsm = await jetstreamManager(nc);
    const js = jetstream(nc);
    await ensureStream(jsm, s, { maxAgeSec: this.o.streamMaxAgeHours * 3600, replicas: this.o.replicas });
    await ensureProgressStream(jsm, s, { maxAgeSec: this.o.progressMaxAgeSec ?? 3600, maxBytes: this.o.progressMaxBytes ?? 256 * 1024 * 1024, replicas: this.o.replicas });
    const kv = await ensureBuckets(nc, s, this.o.replicas);
    // Returners' dead letters and settings: made here because on a locked-down server only the
    // master may create streams and buckets (services/returners/registry.ts).
    await ensureReturnerStores(nc, jsm, s, this.o.replicas);
    await this.registerMasterKey(kv.keys);
    await this.registry.start(kv.keys, kv.minions);

    const audit = new Auditor(js, s, this.keys.sign, log);
    const presence = new PresenceKeeper(nc, js, jsm, s, this.keys.sign, this.registry, audit, log, { masterId: this.o.id, timeoutSec: this.o.presenceTimeoutSec ?? 90 });
    this.presence = presence;
    await presence.start();
    const keeper = new KeyKeeper(js, s, this.keys.sign, kv, this.registry, audit, log, this.o.autoAccept, this.o.autosign ?? [], (id, eid, via, at) => presence.seen(id, eid, via, at));
    const windowMs = (this.o.requestWindowSec ?? 120) * 1000;
    const seen = await new Kvm(nc).create(s.requestsBucket, { history: 1, ttl: 2 * windowMs, replicas: this.o.replicas });
    const gate = new Gate(this.o.users ?? {}, this.o.adminPub, windowMs, seen, audit);
    const masterInfo = { id: this.o.id, pub: this.keys.sign.pub, finger: fingerprint(this.keys.sign.pub) };
    /** Serve a signed verb: admitted by the gate, refusals by the ACL audited. */
    const serveSigned = (verb: ApiVerb, handle: (body: unknown, who: Principal) => Promise<unknown>) =>
      serve(nc, s.api(verb), "master", async (_req, msg) => {
        const { who, body } = await gate.admit(msg);
        try {
          return await handle(body, who);
        } catch (err) {
          if (err instanceof DeniedError) gate.denied(err, msg.subject, who);
          throw err;
        }
      }, log, false);
    const publisher = new Publisher(js, s, this.keys.sign, this.registry, { masterId: this.o.id, defaultTimeout: this.o.timeout, commandTtl: this.o.commandTtl, nodegroups }, log);
    const hooks = {
      track: (job: JobPublished) => this.tracker.track(job),
      untrack: (jid: string) => this.tracker.forget(jid),
      published: (jid: string) => this.tracker.published(jid),
    };
    this.tracker = new JobTracker(js, s, this.keys.sign, this.registry, audit, log, {
      gatherJobTimeoutSec: this.o.gatherJobTimeoutSec ?? 0,
      jobMaxWaitSec: this.o.jobMaxWaitSec ?? 3600,
      onVerified: (minion, eid) => presence.seen(minion, eid, "return"),
      // Salt's way: ask the silent minions whether they still run the job.
      probe: async (parent, minions, timeoutSec, onJid) => {
        await publisher.internal({ fun: "saltutil.find_job", arg: [parent.jid], minions, timeout: timeoutSec, user: parent.user }, {
          ...hooks,
          track: (job) => {
            onJid(job.jid);
            hooks.track(job);
          },
        });
      },
    });

    // Returns are watched on a core subscription: every master sees every return and keeps only
    // its own jobs; a subscription made before the first publish cannot miss a return.
    this.subs.push(nc.subscribe(s.allJobRet, { callback: (_e, m) => this.tracker.onReturn(m) }));
    if (this.o.resumeWindowSec) {
      // After the subscription: a return that lands while the stream is read is seen either way.
      const open = await findOpenJobs({ js, jsm, s, masterId: this.o.id, masterPub: this.keys.sign.pub, registry: this.registry, windowSec: this.o.resumeWindowSec, log, onOpen: (job) => this.tracker.track(job) });
      for (const o of open) this.tracker.resume(o.job.jid, o.returned);
    }

    serveSigned("publish", async (body, who) => {
      const { reply } = await publisher.publish(body, who, hooks);
      return reply;
    });
    serveSigned("keys", async (body, who) => {
      checkKeys(who);
      return handleKeys(body, who, this.registry, keeper, masterInfo);
    });
    serveSigned("jobs", (body, who) => handleJobs(nc, s, body, who));
    serveSigned("job", (body, who) => handleJob(nc, s, body, who));
    serveSigned("audit", (body, who) => handleAudit(nc, s, body, who));
    // Any admitted user may ask which minions a target selects; nothing runs.
    serveSigned("match", async (body) => handleMatch(body, this.registry, nodegroups));
    const files = new FileStore(await new Objm(nc).create(s.filesBucket, { replicas: this.o.replicas, description: "Natrium file store (salt://), written by the master" }), s.ns, this.keys.sign, this.o.fileMaxBytes ?? 64 * 1024 * 1024, log);
    serveSigned("files", (body, who) => files.handle(body, who));
    serveSigned("minions", async (body, who) => {
      checkMinions(who);
      return handleMinions(body, this.registry, presence, { masterId: this.o.id, timeoutSec: this.o.presenceTimeoutSec ?? 90 });
    });
    serve(nc, s.api("ping"), "master", async () => ({
      master: this.o.id,
      version: VERSION,
      finger: fingerprint(this.keys.sign.pub),
      minions: [...this.registry.keys.values()].filter((k) => k.state === "accepted").map((k) => k.id).sort(),
    }), log);

    // Minion lifecycle through a durable consumer shared by all masters: a start that happens
    // while every master is down is handled when one comes back.
    await jsm.consumers.add(s.stream, {
      durable_name: s.lifecycleConsumer,
      filter_subject: s.allMinion,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_ack_pending: 1000,
      ack_wait: 30_000_000_000,
    }).catch((err) => {
      if (!/already in use|exists/i.test(String(err.message))) throw err;
    });
    const consumer = await js.consumers.get(s.stream, s.lifecycleConsumer);
    this.lifecycle = await consumer.consume({ max_messages: 200 });
    this.lifecycleDone = this.followLifecycle(this.lifecycle, keeper);
    await nc.flush();
    log.info("master ready", { ns: s.ns, id: this.o.id, finger: fingerprint(this.keys.sign.pub), minions: this.registry.keys.size });
  }

  /**
   * Handle lifecycle events concurrently across minions but in order for each minion: a fleet
   * of thousands joining at once is accepted in parallel (each acceptance is two round trips),
   * while one minion's start still comes before its grains.
   */
  private async followLifecycle(msgs: ConsumerMessages, keeper: KeyKeeper): Promise<void> {
    const MAX_IN_FLIGHT = 256;
    const chains = new Map<string, Promise<void>>();
    const inFlight = new Set<Promise<void>>();
    for await (const m of msgs) {
      while (inFlight.size >= MAX_IN_FLIGHT) await Promise.race(inFlight);
      const p = parseSubject(this.s.ns, m.subject);
      const key = p && "minion" in p ? p.minion : "";
      const run = (chains.get(key) ?? Promise.resolve()).then(async () => {
        try {
          await keeper.handle(m);
          m.ack();
        } catch (err) {
          // Only infrastructure failures land here (KV or stream unavailable): retry later.
          this.log.error("minion lifecycle event not handled; will be redelivered", { subject: m.subject, error: err as Error });
          m.nak(2000);
        }
      });
      chains.set(key, run);
      inFlight.add(run);
      void run.finally(() => {
        inFlight.delete(run);
        if (chains.get(key) === run) chains.delete(key);
      });
    }
    await Promise.all(inFlight);
  }

  /** Publish this master's public key where minions and the job cache find it (first contact). */
  private async registerMasterKey(keysKv: import("@nats-io/kv").KV): Promise<void> {
    const mine: MasterKeyRecord = { id: this.o.id, pub: this.keys.sign.pub, box_pub: this.keys.boxPub, finger: fingerprint(this.keys.sign.pub), ts: Date.now() };
    const existing = await keysKv.get(registryKeys.master);
    if (existing && existing.operation === "PUT") {
      const rec = masterKeyRecord.parse(decode(existing.value));
      if (rec.pub !== mine.pub) throw new MasterKeyConflictError(rec.finger, mine.finger);
      return;
    }
    try {
      await keysKv.create(registryKeys.master, encode(mine));
    } catch {
      // Another master registered at the same moment: it must be the same key.
      const again = await keysKv.get(registryKeys.master);
      const rec = again ? masterKeyRecord.parse(decode(again.value)) : undefined;
      if (!rec || rec.pub !== mine.pub) throw new MasterKeyConflictError(rec?.finger ?? "?", mine.finger);
    }
  }

  async stop(): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    await this.lifecycle?.close();
    await this.lifecycleDone?.catch(() => {});
    const open = await this.tracker?.drain();
    if (open?.length) this.log.warn("jobs left open at shutdown (no done event)", { jids: open });
    this.presence?.stop();
    this.registry.stop();
  }
}
