// Minion lifecycle on the master: a minion's start event presents its keys; the master decides
// (auto_accept, or pending for an admin), publishes the key event, then records the key in KV.
// The event goes first so that anything a minion does after it sees itself accepted lands in
// the stream after its key event (the job cache verifies returns against keys in stream order).

import type { JetStreamClient, JsMsg } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { encode } from "../../contracts/codec.js";
import { open, seal, verifyAs, type Opened } from "../../contracts/message.js";
import { eventIds } from "../../contracts/ids.js";
import { fingerprint, type SigningKey } from "../../contracts/sign.js";
import { parseSubject, type KeyState, type Subjects } from "../../contracts/subjects.js";
import { registryKeys, type MinionKeyRecord } from "../../contracts/registry.js";
import { NatriumError } from "../../contracts/errors.js";
import type { MinionStarted, MinionGrains, KeyChanged } from "../../contracts/events/minion.js";
import { publishDurable } from "../common/bus.js";
import type { Auditor } from "../common/audit.js";
import type { Logger } from "../common/log.js";
import type { MinionRegistry } from "./registry.js";
import { globMatch } from "../common/target.js";

export class KeyKeeper {
  constructor(
    private readonly js: JetStreamClient,
    private readonly s: Subjects,
    private readonly key: SigningKey,
    private readonly kv: { keys: KV; minions: KV },
    private readonly registry: MinionRegistry,
    private readonly audit: Auditor,
    private readonly log: Logger,
    private readonly autoAccept: boolean,
    /** Minion-id globs accepted on first contact (Salt's autosign_file). */
    private readonly autosign: readonly string[] = [],
    /** Called for a start or grains event verified against the minion's accepted key, with the stream's time of it (presence). */
    private readonly onVerified?: (minion: string, eid: string, via: "start", at: number) => void,
  ) {}

  /** Handle one message from the minion lifecycle consumer. Never throws for bad input. */
  async handle(m: JsMsg): Promise<void> {
    let o: Opened;
    try {
      o = open(m.subject, m.data, m.headers);
      const p = parseSubject(this.s.ns, m.subject);
      const id = (o.body as { id?: string }).id;
      if (!p || !("minion" in p) || p.minion !== id) {
        throw new NatriumError("invalid", `event on ${m.subject} names minion "${id}", not the subject's`);
      }
      const at = Math.floor(m.time.getTime());
      if (o.body.type === "minion.start") await this.started(o as Opened<MinionStarted>, at);
      else if (o.body.type === "minion.grains") await this.grains(o as Opened<MinionGrains>, at);
    } catch (err) {
      const e = err as NatriumError;
      this.audit.record({ kind: e.code === "bad_signature" ? "bad_signature" : "bad_event", reason: e.message, subject: m.subject });
    }
  }

  private async started(o: Opened<MinionStarted>, at: number): Promise<void> {
    const b = o.body;
    verifyAs(o, b.pub, `minion ${b.id} (self-signed start)`);
    const current = this.registry.keys.get(b.id);
    if (current && current.state !== "deleted") {
      if (current.pub === b.pub) {
        this.log.debug("minion restarted with its known key", { minion: b.id, state: current.state });
        if (current.state === "accepted") this.onVerified?.(b.id, b.eid, "start", at);
        return;
      }
      this.audit.record({
        kind: "key_conflict",
        reason: `minion "${b.id}" presented a key (${fingerprint(b.pub)}) that differs from its ${current.state} key (${current.finger}); refused`,
        subject: o.subject,
        actor: b.id,
        detail: { presented: fingerprint(b.pub), known: current.finger, state: current.state },
      });
      return;
    }
    const glob = this.autosign.find((g) => globMatch(g, b.id));
    const acceptedBy = this.autoAccept ? "auto_accept" : glob !== undefined ? `autosign ${glob}` : undefined;
    await this.setKey(b.id, acceptedBy ? "accepted" : "pending", b.pub, b.box_pub, acceptedBy ?? "minion");
  }

  async setKey(id: string, state: KeyState, pub: string, boxPub: string, by: string): Promise<void> {
    const now = Date.now();
    const finger = fingerprint(pub);
    const ev: KeyChanged = { v: 1, type: "key", eid: eventIds.unique("key"), ts: now, id, state, pub, box_pub: boxPub, finger, by };
    await publishDurable(this.js, seal(this.s.key(id, state), ev, this.key), { log: this.log });
    const rec: MinionKeyRecord = { id, state, pub, box_pub: boxPub, finger, ts: now };
    await this.kv.keys.put(registryKeys.minionKey(id), encode(rec));
    this.registry.keys.set(id, rec);
    this.log.info(`minion key ${state}`, { minion: id, finger, by });
  }

  /**
   * Forget a minion's key: a key.deleted event, then the registry entry goes. The minion may
   * then present a key again and starts over as pending (or is accepted by auto_accept/autosign).
   */
  async deleteKey(rec: MinionKeyRecord, by: string): Promise<void> {
    const ev: KeyChanged = { v: 1, type: "key", eid: eventIds.unique("key"), ts: Date.now(), id: rec.id, state: "deleted", pub: rec.pub, box_pub: rec.box_pub, finger: rec.finger, by };
    await publishDurable(this.js, seal(this.s.key(rec.id, "deleted"), ev, this.key), { log: this.log });
    await this.kv.keys.delete(registryKeys.minionKey(rec.id));
    this.registry.keys.delete(rec.id);
    this.log.info("minion key deleted", { minion: rec.id, finger: rec.finger, by });
  }

  private async grains(o: Opened<MinionGrains>, at: number): Promise<void> {
    const b = o.body;
    const k = this.registry.accepted(b.id);
    if (!k) {
      this.log.debug("grains from a minion that is not accepted (yet); ignored", { minion: b.id });
      return;
    }
    verifyAs(o, k.pub, `minion ${b.id}`);
    // Sent at start once accepted and on refresh: as good a sign of life as a start.
    this.onVerified?.(b.id, b.eid, "start", at);
    await this.kv.minions.put(registryKeys.minionData(b.id), encode({ id: b.id, grains: b.grains, ts: b.ts }));
    this.registry.grains.set(b.id, b.grains);
  }
}
