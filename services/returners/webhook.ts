// webhook: POST every job return, as JSON, to an HTTP(S) endpoint, signed with HMAC-SHA256.
// Optionally job commands (loads), job closings and every event of the stream, by config.
//
// Config keys, each with its default first (strings from `--config k=v`, or YAML values):
//
//   url             required. http:// or https:// endpoint that receives the POSTs. Credentials
//                   in the URL are sent as Basic auth and never logged.
//   secret          (none) HMAC-SHA256 key. When set, every request carries
//                   X-Natrium-Timestamp and X-Natrium-Signature: sha256=<hex of
//                   HMAC(secret, timestamp + "." + body)>. Without it requests are unsigned and
//                   setup logs a warning.
//   authorization   (none) value of an Authorization header, e.g. "Bearer abc".
//   timeout_ms      5000. Per request, from connecting to the end of the response body.
//   retries         2. Further attempts within one call for a connection error, a timeout, 408,
//                   429 or 5xx, before the call throws and the host's redelivery takes over.
//   backoff_ms      250. Wait before the first in-call retry; doubled for each further one (with
//                   jitter), capped at 30 s. A Retry-After header (seconds) wins, up to that cap.
//                   Keep timeout_ms × (retries + 1) plus the waits under the host's ack_wait.
//   loads           false. Also POST each job command (X-Natrium-Kind: job.new).
//   job_done        false. Also POST each job closing (X-Natrium-Kind: job.done).
//   events          false. Also POST every event of the stream, one request each
//                   (X-Natrium-Kind: event; body: the EventRecord).
//
// setup() leaves saveLoad, jobDone and eventReturn on the module only when loads, job_done and
// events are on, so a host that subscribes by capability reads no more than is sent.
//
// The receiver sees: POST <url>, Content-Type: application/json, body = the record as JSON
// (a return: the job.ret body plus eid, seq, subject), and the headers
//   X-Natrium-Kind       job.ret | job.new | job.done | event
//   X-Natrium-Event-Id   the event id: the same on every retry and redelivery, so a receiver
//                        that stores it (unique key) drops the duplicates at-least-once brings
//   X-Natrium-Namespace  the namespace
//   X-Natrium-Timestamp  Unix seconds when this attempt was signed (each attempt is signed anew)
//   X-Natrium-Signature  sha256=<lower-case hex>
// A 2xx answer means delivered. 408, 429 and 5xx are retried; any other status (4xx, or a 3xx:
// configure the final URL) is permanent and the host dead-letters the message at once.
//
// Verifying on the receiver: take the raw body bytes (before any JSON parsing), compute
// HMAC-SHA256(secret, X-Natrium-Timestamp + "." + body), compare its hex with the signature
// in constant time, refuse a timestamp more than 5 minutes from now, then dedupe by
// X-Natrium-Event-Id. Python and Node examples: docs/returners-builtin.md.
//
//   natrium returner start --module webhook --config url=https://hooks.example.com/natrium \
//     --config secret=s3cret --config job_done=true
import { createHmac } from "node:crypto";
import type { EventRecord, JobRecord, ReturnRecord, ReturnerContext, ReturnerModule } from "./sdk.js";
import type { JobDone } from "../../contracts/events/job.js";
import { ConfigReader } from "./module-config.js";
import { DeliveryError, PermanentDeliveryError } from "./errors.js";
import { toJson } from "./json.js";

export const WEBHOOK_KINDS = ["job.ret", "job.new", "job.done", "event"] as const;
export type WebhookKind = (typeof WEBHOOK_KINDS)[number];

const MAX_WAIT_MS = 30_000;

interface WebhookConfig {
  url: URL;
  /** The URL as logs and errors show it: without credentials. */
  shown: string;
  basicAuth?: string;
  secret?: string;
  authorization?: string;
  timeoutMs: number;
  retries: number;
  backoffMs: number;
}

/** `sha256=<hex>` over `timestamp + "." + body`: the X-Natrium-Signature value. */
export function webhookSignature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

function readConfig(name: string, raw: Record<string, unknown>) {
  const r = new ConfigReader(name, raw);
  const urlText = r.required("url", "the http:// or https:// address to POST returns to");
  let url: URL;
  try {
    url = new URL(urlText);
  } catch {
    return r.invalid("url", `is not a URL: ${JSON.stringify(urlText)}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") r.invalid("url", `must be http:// or https://, not ${url.protocol}//`);
  // fetch refuses URLs with credentials, so they travel as a Basic Authorization header instead.
  let basicAuth: string | undefined;
  if (url.username || url.password) {
    basicAuth = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString("base64")}`;
    url.username = "";
    url.password = "";
  }
  const cfg: WebhookConfig = {
    url,
    shown: url.toString(),
    basicAuth,
    secret: r.string("secret"),
    authorization: r.string("authorization"),
    timeoutMs: r.int("timeout_ms", 5000, 1, 600_000),
    retries: r.int("retries", 2, 0, 10),
    backoffMs: r.int("backoff_ms", 250, 0, MAX_WAIT_MS),
  };
  if (cfg.basicAuth && cfg.authorization) r.invalid("authorization", "cannot be used with credentials in url: keep one of them");
  const sends = { loads: r.bool("loads", false), jobDone: r.bool("job_done", false), events: r.bool("events", false) };
  r.done();
  return { cfg, sends };
}

/** Resolves after ms, or rejects as soon as the signal aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => { signal.removeEventListener("abort", onAbort); resolve(); }, ms);
    const onAbort = () => { clearTimeout(t); reject(signal.reason); };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** At most `max` characters of a response body, for an error message; the rest is dropped. */
async function bodyStart(res: Response, max = 300): Promise<string> {
  if (!res.body) return "";
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < max) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      size += value.length;
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  const text = Buffer.concat(parts).toString("utf8").replace(/\s+/g, " ").trim();
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

/** Retry-After in ms (seconds or an HTTP date), if the answer has a usable one. */
function retryAfterMs(res: Response): number | undefined {
  const h = res.headers.get("retry-after");
  if (!h) return undefined;
  if (/^\d+$/.test(h.trim())) return Number(h.trim()) * 1000;
  const at = Date.parse(h);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
}

/** What a fetch failure was, in words an operator can act on. */
function describeFetchError(err: unknown, timeoutMs: number): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === "TimeoutError") return `no complete answer within timeout_ms=${timeoutMs}`;
  const c = e?.cause;
  if (c?.code) return `${c.code}${c.message && !c.message.includes(c.code) ? ` (${c.message})` : ""}`;
  return c?.message ?? e?.message ?? String(err);
}

export function createWebhookReturner(): ReturnerModule {
  let name = "webhook";
  let ns = "";
  let cfg: WebhookConfig | undefined;
  let log: ReturnerContext["log"] | undefined;
  // Aborted by close() or by the host's signal: ends a request or a backoff wait at once.
  const stopper = new AbortController();
  let stop: AbortSignal = stopper.signal;

  async function post(kind: WebhookKind, eid: string, record: unknown): Promise<void> {
    if (!cfg) throw new DeliveryError(name, "setup() was not called before a delivery");
    const body = toJson(record);
    let failure = "";
    for (let attempt = 0; ; attempt++) {
      if (stop.aborted) throw new DeliveryError(name, `stopping: ${kind} ${eid} not delivered`, { cause: stop.reason });
      const timestamp = String(Math.floor(Date.now() / 1000));
      const headers: Record<string, string> = {
        "content-type": "application/json",
        "user-agent": "natrium-returner-webhook/1",
        "x-natrium-kind": kind,
        "x-natrium-event-id": eid,
        "x-natrium-namespace": ns,
        "x-natrium-timestamp": timestamp,
      };
      if (cfg.secret !== undefined) headers["x-natrium-signature"] = webhookSignature(cfg.secret, timestamp, body);
      if (cfg.authorization) headers.authorization = cfg.authorization;
      if (cfg.basicAuth) headers.authorization = cfg.basicAuth;
      let waitMs: number | undefined;
      try {
        const res = await fetch(cfg.url, {
          method: "POST",
          headers,
          body,
          redirect: "manual",
          signal: AbortSignal.any([stop, AbortSignal.timeout(cfg.timeoutMs)]),
        });
        const text = await bodyStart(res);
        if (res.status >= 200 && res.status < 300) return;
        const answer = `HTTP ${res.status}${text ? `: ${text}` : ""}`;
        if (res.status >= 300 && res.status < 400) {
          throw new PermanentDeliveryError(name, `POST ${cfg.shown} was redirected (${answer}, location ${res.headers.get("location") ?? "none"}): set url to the final address`);
        }
        if (res.status !== 408 && res.status !== 429 && res.status < 500) {
          throw new PermanentDeliveryError(name, `POST ${cfg.shown} refused ${kind} ${eid} with ${answer}; it is dead-lettered, not retried`);
        }
        failure = answer;
        waitMs = retryAfterMs(res);
      } catch (err) {
        if (err instanceof PermanentDeliveryError) throw err;
        if (stop.aborted) throw new DeliveryError(name, `stopping: ${kind} ${eid} not delivered`, { cause: stop.reason });
        failure = describeFetchError(err, cfg.timeoutMs);
      }
      if (attempt >= cfg.retries) {
        throw new DeliveryError(name, `POST ${cfg.shown} failed for ${kind} ${eid} after ${attempt + 1} attempt(s): ${failure}`);
      }
      const backoff = cfg.backoffMs * 2 ** attempt * (0.5 + Math.random() / 2);
      log?.debug("webhook retrying", { kind, eid, attempt: attempt + 1, failure });
      try {
        await sleep(Math.min(MAX_WAIT_MS, waitMs ?? backoff), stop);
      } catch (err) {
        throw new DeliveryError(name, `stopping: ${kind} ${eid} not delivered (last failure: ${failure})`, { cause: err });
      }
    }
  }

  const mod: ReturnerModule = {
    description: "POST returns (and optionally loads, job closings, events) as JSON to an HTTP(S) endpoint, HMAC-SHA256 signed",
    setup(ctx: ReturnerContext) {
      name = ctx.name || "webhook";
      ns = ctx.ns;
      log = ctx.log;
      const { cfg: c, sends } = readConfig(name, ctx.config);
      cfg = c;
      stop = AbortSignal.any([stopper.signal, ctx.signal]);
      if (c.secret === undefined) ctx.log.warn("webhook has no secret: requests are not signed, the receiver cannot tell them from forgeries", { url: c.shown });
      if (!sends.loads) delete mod.saveLoad;
      if (!sends.jobDone) delete mod.jobDone;
      if (!sends.events) delete mod.eventReturn;
    },
    returner: (ret: ReturnRecord) => post("job.ret", ret.eid, ret),
    saveLoad: (job: JobRecord) => post("job.new", job.eid, job),
    jobDone: (done: JobDone & { eid: string; seq: number }) => post("job.done", done.eid, done),
    // One request per event, in order: each has its own event id for the receiver's dedupe, and
    // a failure part-way throws so the host redelivers the batch (the ones before are dropped
    // as duplicates by the receiver).
    async eventReturn(events: EventRecord[]) {
      for (const e of events) await post("event", e.eid, e);
    },
    close() {
      stopper.abort(new DeliveryError(name, "closed"));
    },
  };
  return mod;
}

export default createWebhookReturner();
