// The NATS side every service shares: connecting, making sure the stream and buckets exist,
// publishing signed events until JetStream acknowledges them, and request/reply with typed
// errors. Nothing here spells a subject; the builders in contracts/ do.

import { connect, headers as natsHeaders, type NatsConnection, type Msg, type MsgHdrs } from "@nats-io/transport-node";
import { type ConsumerMessages, type JetStreamClient, type JetStreamManager, type PubAck, type StreamConfig } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { encode, decode } from "../../contracts/codec.js";
import { H, type Sealed } from "../../contracts/message.js";
import { NatriumError, RemoteError } from "../../contracts/errors.js";
import { errorReply } from "../../contracts/api.js";
import type { Subjects } from "../../contracts/subjects.js";
import type { Logger } from "./log.js";
import { sealRequest, type Identity } from "../../contracts/request.js";
import { nkeyAuthenticator } from "../../contracts/nkey.js";

export class UnreachableError extends NatriumError {
  constructor(readonly url: string, cause: unknown) {
    super("unreachable", `cannot reach NATS at ${url}: ${(cause as Error)?.message ?? cause}`, { cause });
  }
}

/** How a party proves itself to a locked-down nats-server (ignored by one without authorization). */
export interface NatsAuth {
  /** An nkey user seed ("SU...") as bytes: contracts/nkey.ts makes one from an Ed25519 seed. None: anonymous. */
  seed?: Uint8Array;
  /** The party's inbox prefix (contracts/permissions.ts), the only inbox it may subscribe to. */
  inboxPrefix: string;
}

export interface BusOptions {
  url: string;
  name: string;
  auth?: NatsAuth;
  log?: Logger;
  /** Keep retrying the first connection until it succeeds (daemons); CLI commands fail fast. */
  waitForServer?: boolean;
}

export async function connectBus(opts: BusOptions): Promise<NatsConnection> {
  const servers = opts.url.split(",").map((s) => s.trim()).filter(Boolean);
  let nc: NatsConnection;
  try {
    nc = await connect({
      servers,
      name: opts.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      waitOnFirstConnect: opts.waitForServer ?? false,
      // Async stack traces cost half of JetStream publish throughput (MEASURED.md).
      noAsyncTraces: true,
      pingInterval: 20_000,
      ...(opts.auth?.seed ? { authenticator: nkeyAuthenticator(opts.auth.seed) } : {}),
      ...(opts.auth ? { inboxPrefix: opts.auth.inboxPrefix } : {}),
    });
  } catch (err) {
    throw new UnreachableError(opts.url, err);
  }
  if (opts.log) {
    const log = opts.log;
    (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect") log.warn("disconnected from NATS", { server: (s as { server?: string }).server });
        else if (s.type === "reconnect") log.info("reconnected to NATS", { server: (s as { server?: string }).server });
        else if (s.type === "error") log.warn("NATS error", { error: String((s as { error?: unknown }).error) });
      }
    })().catch(() => {});
  }
  return nc;
}

export interface StreamOptions {
  /** Seconds events are kept; 0 = forever. */
  maxAgeSec: number;
  replicas: number;
  /** Seconds a Nats-Msg-Id is remembered for dedupe. */
  dedupeSec?: number;
}

/** Create the events stream, or bring its subjects and limits up to date. Safe to race (addOrUpdate). */
export async function ensureStream(jsm: JetStreamManager, s: Subjects, o: StreamOptions): Promise<void> {
  const cfg: Partial<StreamConfig> & { name: string } = {
    name: s.stream,
    subjects: s.streamSubjects,
    storage: "file" as StreamConfig["storage"],
    retention: "limits" as StreamConfig["retention"],
    max_age: o.maxAgeSec * 1_000_000_000,
    duplicate_window: (o.dedupeSec ?? 120) * 1_000_000_000,
    num_replicas: o.replicas,
    max_msg_size: 8 * 1024 * 1024,
  };
  await addOrUpdate(jsm, cfg);
}

export interface ProgressStreamOptions {
  /** Seconds chunks are kept (must be > 0: progress is for watching, not for history). */
  maxAgeSec: number;
  /** Bytes the stream may hold; the oldest chunks go first. */
  maxBytes: number;
  replicas: number;
}

/**
 * Create the progress stream (job output chunks), or bring its limits up to date. Its own
 * stream, so chunks never reach the events stream's consumers (job cache, returners) and go
 * away by age and size on their own.
 */
export async function ensureProgressStream(jsm: JetStreamManager, s: Subjects, o: ProgressStreamOptions): Promise<void> {
  const maxAge = Math.max(1, o.maxAgeSec);
  const cfg: Partial<StreamConfig> & { name: string } = {
    name: s.progressStream,
    subjects: s.progressSubjects,
    storage: "file" as StreamConfig["storage"],
    retention: "limits" as StreamConfig["retention"],
    discard: "old" as StreamConfig["discard"],
    max_age: maxAge * 1_000_000_000,
    max_bytes: o.maxBytes,
    duplicate_window: Math.min(maxAge, 120) * 1_000_000_000,
    num_replicas: o.replicas,
    max_msg_size: 64 * 1024,
  };
  await addOrUpdate(jsm, cfg);
}

async function addOrUpdate(jsm: JetStreamManager, cfg: Partial<StreamConfig> & { name: string }): Promise<void> {
  try {
    await jsm.streams.info(cfg.name);
    await jsm.streams.update(cfg.name, cfg);
  } catch (err) {
    if (!isJsNotFound(err)) throw err;
    try {
      await jsm.streams.add(cfg);
    } catch (e2) {
      // Another service created it between our info and add.
      if (!/already in use|exists/i.test(String((e2 as Error).message))) throw e2;
    }
  }
}

/** A JetStream API "not found" (404): no such stream, consumer or message. */
export function isJsNotFound(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; api_error?: { code?: number } };
  return e?.api_error?.code === 404 || e?.code === 404 || /not found/i.test(String(e?.message ?? err));
}

/**
 * Delete a consumer; false if there was none. nats-server releases without its PR #7886 (the
 * Debian package, 2.9, among them) can fail a delete with "unlinkat …: directory not empty"
 * when the consumer's state is written as its directory is removed, e.g. while a returner
 * acknowledges; seen in CI on `returners reset`. The delete is tried again, as the fix does.
 */
export async function deleteConsumer(jsm: JetStreamManager, stream: string, name: string): Promise<boolean> {
  for (let attempt = 1; ; attempt++) {
    try {
      await jsm.consumers.delete(stream, name);
      return true;
    } catch (err) {
      // After a failed first attempt the server may already have dropped the consumer itself.
      if (isJsNotFound(err)) return attempt > 1;
      if (attempt < 6 && /directory not empty/i.test(String((err as Error)?.message ?? err))) {
        await sleep(50 * attempt);
        continue;
      }
      throw err;
    }
  }
}

export interface Buckets {
  keys: KV;
  minions: KV;
}

export async function ensureBuckets(nc: NatsConnection, s: Subjects, replicas = 1): Promise<Buckets> {
  const kvm = new Kvm(nc);
  const keys = await kvm.create(s.keysBucket, { history: 5, replicas });
  const minions = await kvm.create(s.minionsBucket, { history: 1, replicas });
  return { keys, minions };
}

export function toHeaders(h: Record<string, string>): MsgHdrs {
  const out = natsHeaders();
  for (const [k, v] of Object.entries(h)) out.set(k, v);
  return out;
}

/**
 * Publish a sealed event and wait for JetStream's acknowledgement, retrying with backoff until
 * it comes or `signal` aborts. The event id makes retries safe: the stream drops duplicates.
 */
export async function publishDurable(
  js: JetStreamClient,
  ev: Sealed,
  opts: { signal?: AbortSignal; log?: Logger; timeoutMs?: number } = {},
): Promise<PubAck> {
  const h = toHeaders(ev.headers);
  let wait = 50;
  for (let attempt = 1; ; attempt++) {
    try {
      return await js.publish(ev.subject, ev.payload, { msgID: ev.headers[H.msgId], headers: h, timeout: opts.timeoutMs ?? 5000 });
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      if (/max_payload|maximum payload|message size exceeds/i.test(String((err as Error).message))) throw err;
      if (attempt === 1 || attempt % 20 === 0) {
        opts.log?.warn("publish not acknowledged yet; retrying", { subject: ev.subject, attempt, error: String((err as Error).message) });
      }
      await sleep(wait, opts.signal);
      wait = Math.min(wait * 2, 2000);
    }
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener("abort", done);
      resolve();
    }
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Reply with a msgpack body. */
export function replyOk(msg: Msg, body: unknown): void {
  msg.respond(encode(body));
}

/** Reply with a typed error the caller rebuilds as RemoteError. */
export function replyError(msg: Msg, err: unknown): void {
  const e = err instanceof NatriumError ? err.toJSON() : { code: "internal", message: String((err as Error)?.message ?? err) };
  const h = natsHeaders();
  h.set(H.error, e.code);
  msg.respond(encode(e), { headers: h });
}

/**
 * Serve request/reply on `subject` in a queue group. Each request is decoded and handed to
 * `handle`; a thrown error becomes an error reply, and the service keeps serving.
 */
export function serve(
  nc: NatsConnection,
  subject: string,
  queue: string,
  handle: (req: unknown, msg: Msg) => Promise<unknown>,
  log: Logger,
  /** false: hand `handle` the raw message (a signed request is verified, and refused with an audit, by the handler). */
  decodeBody = true,
): void {
  nc.subscribe(subject, {
    queue,
    callback: (err, msg) => {
      if (err) {
        log.error("subscription failed", { subject, error: err });
        return;
      }
      (async () => {
        let req: unknown = {};
        try {
          if (decodeBody) req = msg.data.length ? decode(msg.data, msg.subject) : {};
          replyOk(msg, await handle(req, msg));
        } catch (e) {
          log.warn("request refused", { subject: msg.subject, error: e as Error });
          if (msg.reply) replyError(msg, e);
        }
      })();
    },
  });
}

/** Send a request and decode the reply; an error reply is thrown as RemoteError. */
export async function request<T>(nc: NatsConnection, subject: string, body: unknown, timeoutMs: number): Promise<T> {
  return decodeReply<T>(await nc.request(subject, encode(body), { timeout: timeoutMs }), subject);
}

/** The same, signed by `who` (contracts/request.ts): how requests to the master travel. */
export async function signedRequest<T>(nc: NatsConnection, subject: string, body: unknown, who: Identity, timeoutMs: number): Promise<T> {
  const r = sealRequest(subject, body, who);
  return decodeReply<T>(await nc.request(subject, r.payload, { timeout: timeoutMs, headers: toHeaders(r.headers) }), subject);
}

function decodeReply<T>(m: Msg, subject: string): T {
  const data = decode(m.data, subject);
  if (m.headers?.get(H.error)) {
    const e = errorReply.is(data) ? data : { code: m.headers.get(H.error), message: "error reply without a body" };
    throw new RemoteError(e.code, e.message, subject);
  }
  return data as T;
}

/**
 * Read durable `durable` of `stream` with consume(); `gone` is called if it is deleted under
 * the reader (whenConsumerGone). Both returner hosts read this way.
 */
export async function consumeDurable(
  js: JetStreamClient,
  stream: string,
  durable: string,
  maxMessages: number,
  gone: (status: string, msgs: ConsumerMessages) => Promise<void>,
): Promise<ConsumerMessages> {
  const msgs = await (await js.consumers.get(stream, durable)).consume({ max_messages: maxMessages });
  whenConsumerGone(msgs, (status) => gone(status, msgs));
  return msgs;
}

/**
 * Call `gone` when the consumer (or its stream) a `consume()` reads is deleted under it. The
 * caller's read loop then ends and makes the consumer again, each in its own way.
 */
function whenConsumerGone(msgs: ConsumerMessages, gone: (status: string) => Promise<void> | void): void {
  (async () => {
    for await (const st of msgs.status()) {
      if (st.type === "consumer_deleted" || st.type === "consumer_not_found" || st.type === "stream_not_found") await gone(st.type);
    }
  })().catch(() => {});
}

/**
 * Stop a JetStream `consume()`: its subscription and pulls end at once. Its close() promise
 * settles only once the iterator has been read past the messages it had buffered, which a
 * reader that is itself stopping no longer does, so awaiting it could hang a stop forever
 * (seen: a returner host stopping mid-batch under load). It gets a moment, no more.
 */
export async function stopConsuming(msgs: { close(): Promise<unknown> } | undefined): Promise<void> {
  if (!msgs) return;
  await Promise.race([msgs.close().catch(() => {}), sleep(500)]);
}
