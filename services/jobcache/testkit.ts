// Signed events as the master and minions would publish them, for tests and benchmarks that
// drive the job cache (or any returner) without running a master or minions. Keys are
// ephemeral; timestamps are passed in, so the same call gives the same bytes.

import type { NatsConnection } from "@nats-io/transport-node";
import type { JetStreamClient } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { encode } from "../../contracts/codec.js";
import { eventIds } from "../../contracts/ids.js";
import { seal, type Sealed } from "../../contracts/message.js";
import { registryKeys, type MasterKeyRecord } from "../../contracts/registry.js";
import { fingerprint } from "../../contracts/sign.js";
import type { KeyState, Subjects } from "../../contracts/subjects.js";
import type { JobPublished, JobReturned, JobDone, KeyChanged, MinionStarted, MinionGrains, MinionHeartbeat, MinionPresence, Audited } from "../../contracts/events/index.js";
import { ephemeralKeys, type ServiceKeys } from "../common/keys.js";
import { publishDurable } from "../common/bus.js";

export const BASE_TS = Date.UTC(2026, 10, 27, 8, 0, 0);

export class Cast {
  readonly master: ServiceKeys = ephemeralKeys();
  private readonly minionKeys = new Map<string, ServiceKeys>();
  private n = 0;

  constructor(readonly s: Subjects) {}

  /** The minion's keys, made on first use. */
  minion(id: string): ServiceKeys {
    let k = this.minionKeys.get(id);
    if (!k) this.minionKeys.set(id, (k = ephemeralKeys()));
    return k;
  }

  private eid(prefix: string): string {
    return `${prefix}.${(++this.n).toString().padStart(8, "0")}`;
  }

  masterRecord(ts = BASE_TS): MasterKeyRecord {
    return { id: "master", pub: this.master.sign.pub, box_pub: this.master.boxPub, finger: fingerprint(this.master.sign.pub), ts };
  }

  /** Write the master key where the master does at start (the keys bucket must exist). */
  async putMasterKey(nc: NatsConnection): Promise<void> {
    const kv = await new Kvm(nc).open(this.s.keysBucket);
    await kv.put(registryKeys.master, encode(this.masterRecord()));
  }

  key(id: string, state: KeyState, ts = BASE_TS, keys = this.minion(id)): Sealed {
    const body: KeyChanged = {
      v: 1, type: "key", eid: this.eid(`key.${state}`), ts, id, state,
      pub: keys.sign.pub, box_pub: keys.boxPub, finger: fingerprint(keys.sign.pub), by: "auto_accept",
    };
    return seal(this.s.key(id, state), body, this.master.sign);
  }

  jobNew(jid: string, minions: string[], o: Partial<JobPublished> = {}): Sealed {
    const ts = o.ts ?? BASE_TS;
    const body: JobPublished = {
      v: 1, type: "job.new", eid: eventIds.jobNew(jid), ts, jid, fun: "test.echo", arg: ["hi"], kwarg: {},
      tgt: "*", tgt_type: "glob", user: "root", master: "master", minions, timeout: 5, expires: ts + 60_000, ret: [],
      ...o,
    };
    return seal(this.s.jobNew(jid), body, this.master.sign);
  }

  jobRet(jid: string, id: string, o: Partial<JobReturned> = {}, keys = this.minion(id)): Sealed {
    const start = o.start ?? BASE_TS + 10;
    const body: JobReturned = {
      v: 1, type: "job.ret", eid: eventIds.jobRet(jid, id), ts: start + 5, jid, id, fun: "test.echo", fun_args: ["hi"],
      return: "hi", retcode: 0, success: true, start, end: start + 5, duration_ms: 5,
      ...o,
    };
    return seal(this.s.jobRet(jid, id), body, keys.sign);
  }

  jobDone(jid: string, expected: string[], returned: string[], o: Partial<JobDone> = {}): Sealed {
    const body: JobDone = {
      v: 1, type: "job.done", eid: eventIds.jobDone(jid), ts: BASE_TS + 1000, jid, expected, returned,
      missing: expected.filter((m) => !returned.includes(m)), unexpected: returned.filter((m) => !expected.includes(m)),
      reason: returned.length >= expected.length ? "all_returned" : "timeout",
      ...o,
    };
    return seal(this.s.jobDone(jid), body, this.master.sign);
  }

  minionStart(id: string, ts = BASE_TS, keys = this.minion(id)): Sealed {
    const body: MinionStarted = {
      v: 1, type: "minion.start", eid: this.eid("start"), ts, id, pub: keys.sign.pub, box_pub: keys.boxPub,
      version: "0.1.0", pid: 4242, host: `${id}.example`,
    };
    return seal(this.s.minionStart(id), body, keys.sign);
  }

  minionGrains(id: string, grains: Record<string, unknown>, ts = BASE_TS, keys = this.minion(id)): Sealed {
    const body: MinionGrains = { v: 1, type: "minion.grains", eid: this.eid("grains"), ts, id, grains };
    return seal(this.s.minionGrains(id), body, keys.sign);
  }

  /** The master's presence verdict on `id`. */
  presence(id: string, state: "up" | "down", o: Partial<MinionPresence> = {}, key = this.master.sign): Sealed {
    const body: MinionPresence = {
      v: 1, type: "minion.presence", eid: this.eid(`presence.${state}`), ts: BASE_TS + 2000, id, state,
      reason: state === "up" ? "seen" : "timeout", last_seen: BASE_TS + 1500, timeout: 90, master: "master",
      ...o,
    };
    return seal(this.s.minionPresence(id), body, key);
  }

  heartbeat(id: string, ts = BASE_TS, keys = this.minion(id)): Sealed {
    const body: MinionHeartbeat = { v: 1, type: "minion.heartbeat", eid: this.eid("hb"), ts, id, interval: 30 };
    return seal(this.s.heartbeat(id), body, keys.sign);
  }

  audit(kind: string, reason: string, ts = BASE_TS): Sealed {
    const body: Audited = { v: 1, type: "audit", eid: this.eid("audit"), ts, kind, reason, actor: "alice", detail: { why: reason } };
    return seal(this.s.audit(kind), body, this.master.sign);
  }
}

/** Publish with JetStream acks, `inFlight` at a time, in order within each window. */
export async function publishAll(js: JetStreamClient, evs: Sealed[], inFlight = 200): Promise<void> {
  for (let i = 0; i < evs.length; i += inFlight) {
    await Promise.all(evs.slice(i, i + inFlight).map((e) => publishDurable(js, e)));
  }
}
