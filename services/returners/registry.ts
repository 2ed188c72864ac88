// Where returners live on the bus, besides their durable consumer on the events stream:
//   `{ns}_returners` bucket  settings.<name> (mode, filters, where it started), status.<name>
//                            (last error, last start)
//   `{NS}_DEAD` stream       `{ns}.dead.<name>.failed|refused`: messages a returner gave up on
// The master creates both at start (on a locked-down server only it may); on an open server the
// first returner or `returners add` does, so a returner works without a master for tests.

import type { NatsConnection } from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, ReplayPolicy, type ConsumerConfig, type ConsumerInfo, type JetStreamManager, type StreamConfig } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { encode, decode } from "../../contracts/codec.js";
import { NatriumError } from "../../contracts/errors.js";
import { returnerDurable } from "../../contracts/permissions.js";
import { returnerKeys, returnerSettings, returnerStatus, type ReturnerInfo, type ReturnerSettings, type ReturnerStatus } from "../../contracts/returners.js";
import type { Subjects } from "../../contracts/subjects.js";
import { deleteConsumer, isJsNotFound } from "../common/bus.js";

export class ReturnerStoreError extends NatriumError {
  constructor(what: string, cause: unknown) {
    super("returner_store", `${what} does not exist and cannot be created from here (${(cause as Error)?.message ?? cause}): start the master, which creates it`, { cause });
  }
}

export class BadFromError extends NatriumError {
  constructor(from: string) {
    super("bad_from", `--from "${from}" is neither now, start, a stream sequence, nor a date and time (e.g. 2026-11-27T08:00:00Z)`);
  }
}

export class UnknownReturnerError extends NatriumError {
  constructor(name: string) {
    super("not_found", `no returner named "${name}" (natrium returners list shows them)`);
  }
}

const DEAD_DUPLICATE_WINDOW_SEC = 120;


/** The dead-letter stream's settings: kept until someone purges them (`returners remove`, or by hand). */
export function deadStreamConfig(s: Subjects, replicas = 1): Partial<StreamConfig> & { name: string } {
  return {
    name: s.deadStream,
    subjects: s.deadSubjects,
    storage: "file" as StreamConfig["storage"],
    retention: "limits" as StreamConfig["retention"],
    duplicate_window: DEAD_DUPLICATE_WINDOW_SEC * 1_000_000_000,
    num_replicas: replicas,
    max_msg_size: 9 * 1024 * 1024,
  };
}

/** Make the dead-letter stream and the returners bucket if they are missing. */
export async function ensureReturnerStores(nc: NatsConnection, jsm: JetStreamManager, s: Subjects, replicas = 1): Promise<KV> {
  try {
    await jsm.streams.info(s.deadStream);
  } catch (err) {
    if (!isJsNotFound(err)) throw err;
    try {
      await jsm.streams.add(deadStreamConfig(s, replicas));
    } catch (e2) {
      if (!/already in use|exists/i.test(String((e2 as Error).message))) throw new ReturnerStoreError(`the dead-letter stream ${s.deadStream}`, e2);
    }
  }
  const kvm = new Kvm(nc);
  // Kvm.open binds without looking, so ask the bucket's stream whether it exists.
  if (await bucketExists(jsm, s)) return kvm.open(s.returnersBucket);
  try {
    return await kvm.create(s.returnersBucket, { history: 1, replicas });
  } catch (e2) {
    throw new ReturnerStoreError(`the returners bucket ${s.returnersBucket}`, e2);
  }
}

export async function bucketExists(jsm: JetStreamManager, s: Subjects): Promise<boolean> {
  try {
    await jsm.streams.info(`KV_${s.returnersBucket}`);
    return true;
  } catch (err) {
    if (isJsNotFound(err)) return false;
    throw err;
  }
}

/** `now`, `start` or a time, as a consumer's deliver policy. */
export function deliverFrom(from: string): Pick<ConsumerConfig, "deliver_policy" | "opt_start_time" | "opt_start_seq"> {
  if (from === "start") return { deliver_policy: DeliverPolicy.All };
  if (from === "now" || from === "") return { deliver_policy: DeliverPolicy.New };
  if (/^[1-9]\d*$/.test(from)) return { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: Number(from) };
  const t = Date.parse(from);
  if (!/\d{4}-\d{2}-\d{2}/.test(from) || Number.isNaN(t)) throw new BadFromError(from);
  return { deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(t).toISOString() };
}

/**
 * The returner's durable: every event (`{ns}.>`), whatever the module implements and however
 * it filters, so its filter never has to change (nats-server 2.9: one filter subject). The
 * host does the filtering; redelivery and dead letters are the host's too (max_deliver -1).
 */
export function durableConfig(s: Subjects, name: string, from: string, ackWaitSec: number, maxAckPending: number): Partial<ConsumerConfig> {
  return {
    durable_name: returnerDurable(name),
    description: `Natrium returner ${name}`,
    ack_policy: AckPolicy.Explicit,
    ...deliverFrom(from),
    filter_subject: s.all,
    replay_policy: ReplayPolicy.Instant,
    ack_wait: ackWaitSec * 1_000_000_000,
    max_ack_pending: maxAckPending,
    max_deliver: -1,
  };
}

/**
 * Create the durable if it does not exist (`created`), else keep it where it stands; `tune`:
 * bring its ack_wait and max_ack_pending to `cfg`'s (a host does, `returners add` does not).
 */
export async function ensureDurable(jsm: JetStreamManager, s: Subjects, cfg: Partial<ConsumerConfig>, tune = true): Promise<{ info: ConsumerInfo; created: boolean }> {
  const durable = cfg.durable_name!;
  try {
    const info = await jsm.consumers.info(s.stream, durable);
    if (tune && (info.config.ack_wait !== cfg.ack_wait || info.config.max_ack_pending !== cfg.max_ack_pending)) {
      return { info: await jsm.consumers.update(s.stream, durable, { ack_wait: cfg.ack_wait, max_ack_pending: cfg.max_ack_pending }), created: false };
    }
    return { info, created: false };
  } catch (err) {
    if (!isJsNotFound(err)) throw err;
  }
  return { info: await jsm.consumers.add(s.stream, cfg), created: true };
}

export async function readSettings(kv: KV, name: string): Promise<ReturnerSettings | undefined> {
  const e = await kv.get(returnerKeys.settings(name));
  if (!e || e.operation !== "PUT") return undefined;
  return returnerSettings.parse(decode(e.value));
}

export async function writeSettings(kv: KV, st: ReturnerSettings): Promise<void> {
  await kv.put(returnerKeys.settings(st.name), encode(returnerSettings.parse(st)));
}

export async function readStatus(kv: KV, name: string): Promise<ReturnerStatus | undefined> {
  const e = await kv.get(returnerKeys.status(name));
  if (!e || e.operation !== "PUT") return undefined;
  return returnerStatus.is(decode(e.value)) ? (decode(e.value) as ReturnerStatus) : undefined;
}

export async function writeStatus(kv: KV, st: ReturnerStatus): Promise<void> {
  await kv.put(returnerKeys.status(st.name), encode(returnerStatus.parse(st)));
}

/** Dead letters per returner and reason, from the stream's per-subject counts. */
export async function deadCounts(jsm: JetStreamManager, s: Subjects): Promise<Map<string, { failed: number; refused: number }>> {
  const out = new Map<string, { failed: number; refused: number }>();
  let si;
  try {
    si = await jsm.streams.info(s.deadStream, { subjects_filter: s.allDead });
  } catch (err) {
    if (isJsNotFound(err)) return out;
    throw err;
  }
  for (const [subj, n] of Object.entries(si.state.subjects ?? {})) {
    const [, , name, why] = subj.split(".");
    const c = out.get(name) ?? { failed: 0, refused: 0 };
    if (why === "failed") c.failed += n;
    else if (why === "refused") c.refused += n;
    out.set(name, c);
  }
  return out;
}

const DURABLE_PREFIX = returnerDurable("x").slice(0, -1);

/** Every returner: registered (settings) or seen (a durable named returner_*), with its numbers. */
export async function listReturners(jsm: JetStreamManager, kv: KV | undefined, s: Subjects): Promise<ReturnerInfo[]> {
  const consumers = new Map<string, ConsumerInfo>();
  for await (const ci of jsm.consumers.list(s.stream)) {
    if (ci.name.startsWith(DURABLE_PREFIX)) consumers.set(ci.name.slice(DURABLE_PREFIX.length), ci);
  }
  const settings = new Map<string, ReturnerSettings>();
  const status = new Map<string, ReturnerStatus>();
  if (kv) {
    for await (const k of await kv.keys()) {
      const [kind, name] = [k.slice(0, k.indexOf(".")), k.slice(k.indexOf(".") + 1)];
      if (kind === "settings") {
        const st = await readSettings(kv, name).catch(() => undefined);
        if (st) settings.set(name, st);
      } else if (kind === "status") {
        const st = await readStatus(kv, name).catch(() => undefined);
        if (st) status.set(name, st);
      }
    }
  }
  const dead = await deadCounts(jsm, s);
  const names = [...new Set([...consumers.keys(), ...settings.keys()])].sort();
  return names.map((name) => {
    const ci = consumers.get(name);
    const st = settings.get(name);
    const stat = status.get(name);
    const d = dead.get(name) ?? { failed: 0, refused: 0 };
    return {
      name,
      ...(ci ? { consumer: ci.name } : {}),
      registered: !!st,
      mode: st?.mode ?? "all",
      ...(st?.filter_fun ? { filter_fun: st.filter_fun } : {}),
      ...(st?.filter_minion ? { filter_minion: st.filter_minion } : {}),
      ...(st?.from ? { from: st.from } : {}),
      pending: ci?.num_pending ?? 0,
      ack_pending: ci?.num_ack_pending ?? 0,
      redelivered: ci?.num_redelivered ?? 0,
      dead_failed: d.failed,
      dead_refused: d.refused,
      ...(stat?.last_error ? { last_error: stat.last_error } : {}),
      ...(stat?.last_error_ts ? { last_error_ts: stat.last_error_ts } : {}),
      waiting: ci?.num_waiting ?? 0,
    };
  });
}

/** Delete the durable, the records and the dead letters (unless `keepDead`). True if anything was there. */
export async function removeReturner(jsm: JetStreamManager, kv: KV | undefined, s: Subjects, name: string, keepDead: boolean): Promise<boolean> {
  let found = await deleteConsumer(jsm, s.stream, returnerDurable(name));
  if (kv) {
    if ((await kv.get(returnerKeys.settings(name)))?.operation === "PUT") found = true;
    await kv.purge(returnerKeys.settings(name));
    await kv.purge(returnerKeys.status(name));
  }
  if (!keepDead) {
    try {
      await jsm.streams.purge(s.deadStream, { filter: s.deadLetters(name) });
    } catch (err) {
      if (!isJsNotFound(err)) throw err;
    }
  }
  return found;
}

/** `returners reset` on an ordered returner: its position is its module's cursor, not its consumer's. */
export class OrderedReturnerError extends NatriumError {
  constructor(readonly returner: string) {
    super(
      "bad_request",
      `returner "${returner}" is ordered (exactly once, through a cursor its module keeps): moving its consumer cannot move it. Stop it and start it again with \`natrium returner start … --name ${returner} --rewind-from SEQ\` (1: everything)`,
    );
  }
}
