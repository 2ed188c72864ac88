// A webhook target that is down for 30 s loses nothing: the real returner host, with its
// default retry settings, and the webhook built-in, against a local HTTP server that refuses
// connections for 30 s while returns keep arriving. Every return arrives, signed, and nothing
// is dead-lettered.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { createHmac } from "node:crypto";
import { natsFixture } from "../helpers/fixture.js";
import { freePort } from "../helpers/ports.js";
import { createLogger } from "../../services/common/log.js";
import { ReturnerHost } from "../../services/returners/host.js";
import { ReturnerConfig } from "../../services/returners/config.js";
import { createWebhookReturner } from "../../services/returners/webhook.js";
import { freshNs, openBus, publishJobs, returnerInfo, until } from "../returners/kit.js";

const fx = natsFixture("natrium-rwebhook-");
const SECRET = "s3cret";

test("returners - a webhook target down for 30 s loses nothing under the host's default retries", { timeout: 240_000 }, async () => {
  const defaults = ReturnerConfig.properties;
  const port = await freePort();
  const got = new Map<string, number>();
  let badSignatures = 0;
  let server: Server | undefined;
  const up = () =>
    new Promise<void>((resolve) => {
      server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on("data", (c: Buffer) => chunks.push(c));
        req.on("end", () => {
          const body = Buffer.concat(chunks);
          const want = "sha256=" + createHmac("sha256", SECRET).update(`${req.headers["x-natrium-timestamp"]}.`).update(body).digest("hex");
          if (req.headers["x-natrium-signature"] !== want) badSignatures++;
          const eid = String(req.headers["x-natrium-event-id"]);
          got.set(eid, (got.get(eid) ?? 0) + 1);
          res.writeHead(204).end();
        });
      });
      server.listen(port, "127.0.0.1", () => resolve());
    });
  const down = () => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));

  const bus = await openBus(fx.nats.url, freshNs(), ["web1", "web2"]);
  const host = new ReturnerHost({
    nc: bus.nc, s: bus.s, name: "hook", module: createWebhookReturner(),
    config: { url: `http://127.0.0.1:${port}/natrium`, secret: SECRET, timeout_ms: 2000 },
    mode: "all", from: "now",
    maxDeliver: defaults.max_deliver.default, ackWaitSec: defaults.ack_wait_sec.default,
    retryBackoffMs: defaults.retry_backoff_ms.default, retryBackoffMaxMs: defaults.retry_backoff_max_ms.default,
    batchSize: defaults.batch_size.default, batchWaitMs: defaults.batch_wait_ms.default,
    log: createLogger({ svc: "returner-test" }, "quiet"),
  });
  try {
    await up();
    await host.start();
    const before = await publishJobs(bus, 0, 50, ["web1", "web2"]);
    await until("the first returns at the target", async () => got.size, (n) => n === before.length);

    // The target goes away; returns keep coming for the whole 30 s.
    await down();
    const t0 = Date.now();
    const during: string[] = [];
    for (let i = 1; Date.now() - t0 < 30_000; i++) {
      during.push(...(await publishJobs(bus, 50 * i, 20, ["web1", "web2"])));
      await new Promise((r) => setTimeout(r, 2000));
    }
    const inOutage = during.filter((e) => got.has(e)).length;
    assert.equal(inOutage, 0, "nothing can have arrived while the target was down");
    await up();
    await until("every return at the target", async () => during.filter((e) => got.has(e)).length, (n) => n === during.length, 150_000).catch(async (err: Error) => {
      throw new Error(`${err.message} of ${during.length}; returner: ${JSON.stringify(await returnerInfo(bus, "hook"))}`);
    });
    const info = await until("the returner to settle", () => returnerInfo(bus, "hook"), (r) => !!r && r.pending === 0 && r.ack_pending === 0);
    assert.equal(info!.dead_failed, 0, "nothing was dead-lettered");
    assert.equal(info!.dead_refused, 0);
    assert.equal(badSignatures, 0);
    assert.ok(during.length >= 200, `${during.length} returns were sent during the outage`);
  } finally {
    await host.stop();
    await down();
    await bus.close();
  }
});
