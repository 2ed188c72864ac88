// The webhook returner against a real HTTP server on loopback: what the receiver gets (body,
// headers, a signature it can verify), which failures are retried in the call, which are
// permanent, and that a 30 s outage of the target loses nothing once the host redelivers.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createHmac, timingSafeEqual } from "node:crypto";
import { createWebhookReturner, webhookSignature } from "../../services/returners/webhook.js";
import { DeliveryError, PermanentDeliveryError, ReturnerConfigError } from "../../services/returners/errors.js";
import type { ReturnerModule } from "../../services/returners/sdk.js";
import { freePort, waitFor } from "../helpers/ports.js";
import { eventOf, jidOf, makeDone, makeJob, makeReturn, memoryLog } from "../helpers/returns.js";

interface Received {
  headers: IncomingMessage["headers"];
  body: string;
  url: string;
}

type Handler = (req: Received, res: ServerResponse) => void;

/** A webhook receiver on a loopback port that records every request and answers by `handler`. */
class Receiver {
  requests: Received[] = [];
  server?: Server;
  constructor(public port: number, public handler: Handler = (_r, res) => res.end("ok")) {}

  static async start(handler?: Handler): Promise<Receiver> {
    const r = new Receiver(await freePort(), handler);
    await r.listen();
    return r;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  listen(): Promise<void> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const r = { headers: req.headers, body: Buffer.concat(chunks).toString("utf8"), url: req.url ?? "" };
        this.requests.push(r);
        this.handler(r, res);
      });
    });
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, "127.0.0.1", () => resolve());
    });
  }

  /** Stop listening and cut every open connection, as a crashed target would. */
  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    const closed = new Promise((r) => s.close(r));
    s.closeAllConnections();
    await closed;
  }
}

const receivers: Receiver[] = [];
const modules: ReturnerModule[] = [];
after(async () => {
  for (const m of modules) await m.close?.();
  for (const r of receivers) await r.close();
});

async function receiver(handler?: Handler): Promise<Receiver> {
  const r = await Receiver.start(handler);
  receivers.push(r);
  return r;
}

async function webhook(config: Record<string, unknown>, signal = new AbortController().signal, log = memoryLog()): Promise<ReturnerModule> {
  const m = createWebhookReturner();
  modules.push(m);
  await m.setup!({ name: "webhook", ns: "natrium", config, log, signal });
  return m;
}

/** The receiver's check, written from the docs rather than from the module's code. */
function verifies(secret: string, r: Received): boolean {
  const ts = String(r.headers["x-natrium-timestamp"]);
  const sig = String(r.headers["x-natrium-signature"]);
  const mac = createHmac("sha256", secret).update(ts + "." + r.body).digest("hex");
  const want = Buffer.from(`sha256=${mac}`);
  const got = Buffer.from(sig);
  return got.length === want.length && timingSafeEqual(got, want) && Math.abs(Date.now() / 1000 - Number(ts)) < 300;
}

test("webhook - a return arrives as JSON with the headers and a signature the receiver verifies", async () => {
  const r = await receiver();
  const m = await webhook({ url: r.url, secret: "s3cret" });
  const ret = makeReturn({ ret: { "pkg.installed": { changes: { new: "1.2", old: "" } }, big: 10n ** 20n } });
  await m.returner(ret);
  assert.equal(r.requests.length, 1);
  const got = r.requests[0];
  assert.equal(got.url, "/hook");
  assert.equal(got.headers["content-type"], "application/json");
  assert.equal(got.headers["x-natrium-kind"], "job.ret");
  assert.equal(got.headers["x-natrium-event-id"], ret.eid);
  assert.equal(got.headers["x-natrium-namespace"], "natrium");
  assert.match(String(got.headers["x-natrium-signature"]), /^sha256=[0-9a-f]{64}$/);
  assert.ok(verifies("s3cret", got), "the signature verifies with the shared secret");
  assert.ok(!verifies("other", got), "and not with another secret");
  const body = JSON.parse(got.body);
  assert.equal(body.eid, ret.eid);
  assert.equal(body.jid, ret.jid);
  assert.equal(body.id, "web1.example.com");
  assert.equal(body.subject, ret.subject);
  assert.deepEqual(body.return["pkg.installed"], { changes: { new: "1.2", old: "" } });
  assert.equal(body.return.big, "100000000000000000000", "a BigInt travels as its decimal string");
  // A tampered body no longer verifies.
  assert.ok(!verifies("s3cret", { ...got, body: got.body.replace('"success":true', '"success":false') }));
  assert.equal(webhookSignature("s3cret", String(got.headers["x-natrium-timestamp"]), got.body), got.headers["x-natrium-signature"]);
});

test("webhook - loads, job closings and events are sent only when configured", async () => {
  const r = await receiver();
  const plain = await webhook({ url: r.url, secret: "k" });
  assert.equal(plain.saveLoad, undefined);
  assert.equal(plain.jobDone, undefined);
  assert.equal(plain.eventReturn, undefined);

  const all = await webhook({ url: r.url, secret: "k", loads: "true", job_done: "yes", events: true });
  const job = makeJob(jidOf(7));
  const ret = makeReturn({ jid: job.jid });
  await all.saveLoad!(job);
  await all.returner(ret);
  await all.jobDone!(makeDone(job.jid));
  await all.eventReturn!([eventOf(ret), eventOf(makeReturn({ jid: job.jid, id: "db-01" }))]);
  assert.deepEqual(r.requests.map((q) => [q.headers["x-natrium-kind"], q.headers["x-natrium-event-id"]]), [
    ["job.new", `${job.jid}.new`],
    ["job.ret", `${job.jid}.ret.web1=2eexample=2ecom`],
    ["job.done", `${job.jid}.done`],
    ["event", `${job.jid}.ret.web1=2eexample=2ecom`],
    ["event", `${job.jid}.ret.db-01`],
  ]);
  assert.ok(r.requests.every((q) => verifies("k", q)));
  assert.equal(JSON.parse(r.requests[0].body).fun, "cmd.run");
  assert.deepEqual(JSON.parse(r.requests[2].body).missing, ["db-01"]);
  assert.equal(JSON.parse(r.requests[4].body).body.id, "db-01");
});

test("webhook - 503 is retried in the call, and the retry succeeds", async () => {
  let n = 0;
  const r = await receiver((_q, res) => {
    n++;
    res.statusCode = n <= 2 ? 503 : 200;
    res.end(n <= 2 ? "busy" : "ok");
  });
  const m = await webhook({ url: r.url, secret: "k", retries: 3, backoff_ms: 10 });
  const ret = makeReturn();
  await m.returner(ret);
  assert.equal(r.requests.length, 3);
  assert.ok(r.requests.every((q) => q.headers["x-natrium-event-id"] === ret.eid && q.body === r.requests[0].body));
  assert.ok(r.requests.every((q) => verifies("k", q)), "each attempt is signed");
});

test("webhook - 429 with Retry-After and 408 are retried too", async () => {
  const statuses = [429, 408, 204];
  const r = await receiver((_q, res) => {
    const s = statuses.shift()!;
    if (s === 429) res.setHeader("retry-after", "0");
    res.statusCode = s;
    res.end();
  });
  const m = await webhook({ url: r.url, retries: 2, backoff_ms: 10 });
  await m.returner(makeReturn());
  assert.equal(r.requests.length, 3);
  assert.equal(r.requests[0].headers["x-natrium-signature"], undefined, "no secret, no signature");
});

test("webhook - retries exhausted: the call throws a retryable DeliveryError", async () => {
  const r = await receiver((_q, res) => {
    res.statusCode = 500;
    res.end("database is down");
  });
  const m = await webhook({ url: r.url, retries: "1", backoff_ms: "5" });
  await assert.rejects(async () => m.returner(makeReturn()), (err: unknown) => {
    assert.ok(err instanceof DeliveryError);
    assert.equal((err as DeliveryError).permanent, false);
    assert.match((err as Error).message, /after 2 attempt\(s\): HTTP 500: database is down/);
    return true;
  });
  assert.equal(r.requests.length, 2);
});

test("webhook - 400 is permanent: no retry, the host dead-letters it", async () => {
  const r = await receiver((_q, res) => {
    res.statusCode = 400;
    res.end("unknown field");
  });
  const m = await webhook({ url: r.url, retries: 3, backoff_ms: 5 });
  await assert.rejects(async () => m.returner(makeReturn()), (err: unknown) => {
    assert.ok(err instanceof PermanentDeliveryError);
    assert.equal((err as PermanentDeliveryError).permanent, true);
    assert.equal((err as PermanentDeliveryError).code, "delivery_refused");
    assert.match((err as Error).message, /HTTP 400: unknown field/);
    return true;
  });
  assert.equal(r.requests.length, 1);
});

test("webhook - a redirect is permanent (configure the final URL)", async () => {
  const r = await receiver((_q, res) => {
    res.statusCode = 301;
    res.setHeader("location", "https://elsewhere.invalid/hook");
    res.end();
  });
  const m = await webhook({ url: r.url });
  await assert.rejects(async () => m.returner(makeReturn()), /redirected.*elsewhere\.invalid/);
  assert.equal(r.requests.length, 1);
});

test("webhook - a target that does not answer within timeout_ms fails the call (retryable)", async () => {
  const held: ServerResponse[] = [];
  const r = await receiver((_q, res) => void held.push(res));
  const m = await webhook({ url: r.url, timeout_ms: 200, retries: 1, backoff_ms: 5 });
  await assert.rejects(async () => m.returner(makeReturn()), (err: unknown) => {
    assert.ok(err instanceof DeliveryError);
    assert.match((err as Error).message, /no complete answer within timeout_ms=200/);
    return true;
  });
  assert.equal(r.requests.length, 2);
  for (const res of held) res.destroy();
});

test("webhook - nothing listening: connection refused is retryable", async () => {
  const port = await freePort();
  const m = await webhook({ url: `http://127.0.0.1:${port}/`, retries: 0 });
  await assert.rejects(async () => m.returner(makeReturn()), (err: unknown) => {
    assert.ok(err instanceof DeliveryError);
    assert.match((err as Error).message, /ECONNREFUSED/);
    return true;
  });
});

test("webhook - the host's stop signal ends a hanging request at once", async () => {
  const held: ServerResponse[] = [];
  const r = await receiver((_q, res) => void held.push(res));
  const ac = new AbortController();
  const m = await webhook({ url: r.url, timeout_ms: 600_000, retries: 0 }, ac.signal);
  const call = Promise.resolve(m.returner(makeReturn()));
  await waitFor("the request to arrive", () => r.requests.length === 1);
  ac.abort();
  await assert.rejects(call, (err: unknown) => {
    assert.ok(err instanceof DeliveryError);
    assert.match((err as Error).message, /stopping/);
    return true;
  });
  for (const res of held) res.destroy();
});

test("webhook - close() ends a backoff wait", async () => {
  const r = await receiver((_q, res) => {
    res.statusCode = 503;
    res.setHeader("retry-after", "30");
    res.end();
  });
  const m = await webhook({ url: r.url, retries: 5 });
  const call = Promise.resolve(m.returner(makeReturn()));
  await waitFor("the first attempt", () => r.requests.length === 1);
  await m.close!();
  await assert.rejects(call, /stopping.*HTTP 503/);
  assert.equal(r.requests.length, 1);
});

test("webhook - credentials in the URL become Basic auth and are never shown", async () => {
  const r = await receiver((_q, res) => {
    res.statusCode = 500;
    res.end();
  });
  const m = await webhook({ url: `http://alice:p%40ss@127.0.0.1:${r.port}/hook`, retries: 0 });
  await assert.rejects(async () => m.returner(makeReturn()), (err: unknown) => {
    assert.doesNotMatch((err as Error).message, /alice|p@ss|p%40ss/);
    return true;
  });
  assert.equal(r.requests[0].headers.authorization, `Basic ${Buffer.from("alice:p@ss").toString("base64")}`);
});

test("webhook - bad config names the key", async () => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{}, "url", /is required/],
    [{ url: "ftp://x/" }, "url", /http/],
    [{ url: "not a url" }, "url", /not a URL/],
    [{ url: "http://x/", timeout_ms: "5s" }, "timeout_ms", /whole number/],
    [{ url: "http://x/", timeout_ms: 0 }, "timeout_ms", /between 1 and/],
    [{ url: "http://x/", retries: 99 }, "retries", /between 0 and 10/],
    [{ url: "http://x/", loads: "maybe" }, "loads", /true or false/],
    [{ url: "http://x/", timout_ms: 10 }, "timout_ms", /not a webhook setting/],
  ];
  for (const [config, key, msg] of cases) {
    await assert.rejects(webhook(config), (err: unknown) => {
      assert.ok(err instanceof ReturnerConfigError, String(err));
      assert.equal((err as ReturnerConfigError).key, key);
      assert.equal((err as ReturnerConfigError).code, "bad_returner_config");
      assert.match((err as Error).message, msg);
      return true;
    });
  }
});

test("webhook - a target that is down for 30 s loses nothing", async () => {
  // The module throws while the target is down; this loop stands in for the host, which
  // redelivers what was not acknowledged until it is. The receiver dedupes by event id.
  const seen = new Map<string, number>();
  const r = await receiver((q, res) => {
    const eid = String(q.headers["x-natrium-event-id"]);
    seen.set(eid, (seen.get(eid) ?? 0) + 1);
    res.end("ok");
  });
  const m = await webhook({ url: r.url, secret: "k", timeout_ms: 1000, retries: 1, backoff_ms: 50 });
  const sent: string[] = [];
  const pending: ReturnType<typeof makeReturn>[] = [];
  let failures = 0;
  const deliver = async (ret: ReturnType<typeof makeReturn>) => {
    try {
      await m.returner(ret);
    } catch (err) {
      assert.ok(err instanceof DeliveryError && !err.permanent, `an outage is retryable: ${err}`);
      failures++;
      pending.push(ret);
    }
  };
  let n = 0;
  const produce = async (count: number) => {
    for (let i = 0; i < count; i++) {
      const ret = makeReturn({ jid: jidOf(100 + n), id: `minion-${n % 7}`, seq: ++n });
      sent.push(ret.eid);
      await deliver(ret);
    }
  };
  await produce(10);
  assert.equal(pending.length, 0);

  await r.close();
  const downUntil = Date.now() + 30_000;
  let stopRedelivery = false;
  let giveUpAt = Infinity;
  const redelivery = (async () => {
    while ((!stopRedelivery || pending.length) && Date.now() < giveUpAt) {
      for (const ret of pending.splice(0)) await deliver(ret);
      await new Promise((res) => setTimeout(res, 500));
    }
  })();
  while (Date.now() < downUntil) {
    await produce(3);
    await new Promise((res) => setTimeout(res, 1000));
  }
  assert.ok(failures > 0, "deliveries failed while the target was down");
  await r.listen();
  await produce(5);
  stopRedelivery = true;
  giveUpAt = Date.now() + 60_000;
  await redelivery;
  assert.equal(pending.length, 0, "redelivery succeeded once the target was back");
  assert.deepEqual([...seen.keys()].sort(), [...new Set(sent)].sort(), "every event id arrived");
  assert.equal(sent.length, new Set(sent).size);
});
