// The master's side of the minion protocol, spelled with contracts/ only: a test driver that
// creates the stream and buckets, publishes the master key record, accepts minion keys from
// their signed start events, publishes signed commands and reads verified returns. Not a mock.

import { randomBytes } from "node:crypto";
import { connect, headers as natsHeaders, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { subjects, type Subjects } from "../../contracts/subjects.js";
import { seal, openAs, verifyAs, H } from "../../contracts/message.js";
import { encode } from "../../contracts/codec.js";
import { newJid } from "../../contracts/jid.js";
import { eventIds } from "../../contracts/ids.js";
import { fingerprint, type SigningKey } from "../../contracts/sign.js";
import { registryKeys, type MinionKeyRecord } from "../../contracts/registry.js";
import type { JobPublished, JobReturned, Audited, MinionStarted } from "../../contracts/events/index.js";
import { ensureStream, ensureBuckets, type Buckets } from "../../services/common/bus.js";
import { ephemeralKeys, type ServiceKeys } from "../../services/common/keys.js";
import { createLogger } from "../../services/common/log.js";
import { waitFor } from "./ports.js";

export const quiet = createLogger({ svc: "minion-test" }, (process.env.TEST_LOG as "debug") ?? "quiet");

/** The master's side of the protocol, spelled with contracts/ only. */
export class Driver {
  readonly s: Subjects;
  master: ServiceKeys = ephemeralKeys();
  private constructor(
    readonly nc: NatsConnection,
    readonly js: JetStreamClient,
    readonly jsm: JetStreamManager,
    readonly buckets: Buckets,
    ns: string,
  ) {
    this.s = subjects(ns);
  }

  static async start(url: string, opts: { stream?: boolean } = {}): Promise<Driver> {
    const ns = `m${randomBytes(5).toString("hex")}`;
    const nc = await connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
    const jsm = await jetstreamManager(nc);
    const s = subjects(ns);
    let buckets = undefined as unknown as Buckets;
    if (opts.stream !== false) {
      await ensureStream(jsm, s, { maxAgeSec: 0, replicas: 1 });
      buckets = await ensureBuckets(nc, s);
    }
    const d = new Driver(nc, jetstream(nc), jsm, buckets, ns);
    if (opts.stream !== false) await d.putMaster();
    return d;
  }

  async setup(): Promise<void> {
    await ensureStream(this.jsm, this.s, { maxAgeSec: 0, replicas: 1 });
    (this as { buckets: Buckets }).buckets = await ensureBuckets(this.nc, this.s);
    await this.putMaster();
  }

  async putMaster(keys: ServiceKeys = this.master): Promise<void> {
    await this.buckets.keys.put(
      registryKeys.master,
      encode({ id: "master", pub: keys.sign.pub, box_pub: keys.boxPub, finger: fingerprint(keys.sign.pub), ts: Date.now() }),
    );
  }

  /** The minion's start event, verified against the key it presents (self-signed). */
  async started(id: string): Promise<MinionStarted> {
    return waitFor(`start event of ${id}`, async () => {
      const m = await this.jsm.streams.getMessage(this.s.stream, { last_by_subj: this.s.minionStart(id) }).catch(() => null);
      if (!m) return undefined;
      const o = openAs("minion.start", m.subject, m.data, m.header);
      verifyAs(o, o.body.pub, "the minion itself");
      return o.body;
    });
  }

  async setKey(id: string, state: MinionKeyRecord["state"]): Promise<MinionStarted> {
    const st = await this.started(id);
    const rec: MinionKeyRecord = { id, state, pub: st.pub, box_pub: st.box_pub, finger: fingerprint(st.pub), ts: Date.now() };
    await this.buckets.keys.put(registryKeys.minionKey(id), encode(rec));
    return st;
  }

  job(p: Partial<JobPublished> = {}): JobPublished {
    const jid = p.jid ?? newJid();
    return {
      v: 1,
      type: "job.new",
      eid: eventIds.jobNew(jid),
      ts: Date.now(),
      jid,
      fun: "test.ping",
      arg: [],
      kwarg: {},
      tgt: "*",
      tgt_type: "glob",
      user: "root",
      master: "master",
      minions: [],
      timeout: 30,
      expires: Date.now() + 60_000,
      ret: [],
      ...p,
    };
  }

  /** Publish a signed command as the master does (JetStream, so it is in the stream too). */
  async publish(p: Partial<JobPublished> = {}, key: SigningKey = this.master.sign): Promise<{ jid: string; raw: ReturnType<typeof seal> }> {
    const body = this.job(p);
    const raw = seal(this.s.jobNew(body.jid), body, key);
    await this.sendRaw(raw);
    return { jid: body.jid, raw };
  }

  async sendRaw(raw: ReturnType<typeof seal>): Promise<void> {
    const h = natsHeaders();
    for (const [k, v] of Object.entries(raw.headers)) h.set(k, v);
    // Core publish: a retransmission must reach minions even though the stream dedupes it.
    this.nc.publish(raw.subject, raw.payload, { headers: h });
    await this.nc.flush();
  }

  /** A minion's return for `jid`, its signature checked against the minion's accepted key. */
  async ret(jid: string, id: string, timeoutMs = 20_000): Promise<JobReturned> {
    const st = await this.started(id);
    return waitFor(`return of ${id} for ${jid}`, async () => {
      const m = await this.jsm.streams.getMessage(this.s.stream, { last_by_subj: this.s.jobRet(jid, id) }).catch(() => null);
      if (!m) return undefined;
      const o = openAs("job.ret", m.subject, m.data, m.header);
      verifyAs(o, st.pub, `minion ${id}`);
      return o.body;
    }, timeoutMs);
  }

  /** How many messages the stream holds on `subject` (wildcards allowed). */
  async count(subject: string): Promise<number> {
    const si = await this.jsm.streams.info(this.s.stream, { subjects_filter: subject });
    return Object.values(si.state.subjects ?? {}).reduce((a, b) => a + b, 0);
  }

  /** Audit events of `kind` so far, verified. */
  async audits(kind: string): Promise<Audited[]> {
    const out: Audited[] = [];
    const n = await this.count(this.s.audit(kind));
    if (n === 0) return out;
    const c = await this.js.consumers.get(this.s.stream, { filter_subjects: this.s.audit(kind) });
    const it = await c.fetch({ max_messages: n, expires: 5000 });
    for await (const m of it) {
      const o = openAs("audit", m.subject, m.data, m.headers);
      verifyAs(o, m.headers!.get(H.signer), "the signer it names");
      out.push(o.body);
      if (out.length >= n) break;
    }
    return out;
  }

  async audit(kind: string, pred: (a: Audited) => boolean = () => true): Promise<Audited> {
    return waitFor(`an audit event of kind ${kind}`, async () => (await this.audits(kind)).find(pred));
  }

  async close(): Promise<void> {
    await this.nc.close();
  }
}

