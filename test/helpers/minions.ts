// Playing minions with nothing but the contract: signed start, grains and other events, as a
// minion written in any language would publish them. For tests of the master.
import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { ephemeralKeys, type ServiceKeys } from "../../services/common/keys.js";
import { toHeaders } from "../../services/common/bus.js";
import { seal } from "../../contracts/message.js";
import { eventIds } from "../../contracts/ids.js";
import type { Subjects } from "../../contracts/subjects.js";
import type { NatriumEvent } from "../../contracts/events/index.js";

/** Seal with `keys` and publish to the stream, awaiting JetStream's ack. */
export async function publishEv(nc: NatsConnection, subject: string, body: NatriumEvent, keys: ServiceKeys): Promise<void> {
  const ev = seal(subject, body, keys.sign);
  await jetstream(nc).publish(ev.subject, ev.payload, { msgID: body.eid, headers: toHeaders(ev.headers) });
}

/** A minion's start (presenting its keys) and grains events; returns the keys. */
export async function startMinion(nc: NatsConnection, s: Subjects, id: string, keys = ephemeralKeys(), grains: Record<string, unknown> = {}): Promise<ServiceKeys> {
  await publishEv(nc, s.minionStart(id), { v: 1, type: "minion.start", eid: eventIds.unique("start"), ts: Date.now(), id, pub: keys.sign.pub, box_pub: keys.boxPub, version: "t", pid: 1, host: "h" }, keys);
  await publishEv(nc, s.minionGrains(id), { v: 1, type: "minion.grains", eid: eventIds.unique("grains"), ts: Date.now(), id, grains: { id, ...grains } }, keys);
  return keys;
}
