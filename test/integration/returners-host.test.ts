// The returner host in-process against a real nats-server: processes of one name share the
// work, a permanent error is dead-lettered at once, eventReturn gets batches in stream order,
// and nothing is consumed (or dead-lettered) before the master key is known.
import { test } from "node:test";
import assert from "node:assert/strict";
import { connect } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { natsFixture } from "../helpers/fixture.js";
import { createLogger } from "../../services/common/log.js";
import { ensureBuckets, ensureStream } from "../../services/common/bus.js";
import { subjects } from "../../contracts/subjects.js";
import { Cast, publishAll } from "../../services/jobcache/testkit.js";
import { ReturnerHost, type HostOptions } from "../../services/returners/host.js";
import { readDeadLetters } from "../../services/returners/deadletter.js";
import type { EventRecord, ReturnerModule } from "../../services/returners/sdk.js";
import { acceptMinion, freshNs, jid, openBus, publishJobs, returnerInfo, until, type Bus } from "../returners/kit.js";

const fx = natsFixture("natrium-rhost-");
const quiet = createLogger({ svc: "returner-test" }, "quiet");

function host(bus: Bus, name: string, module: ReturnerModule, o: Partial<HostOptions> = {}): ReturnerHost {
  return new ReturnerHost({
    nc: bus.nc, s: bus.s, name, module, config: {}, mode: "all", from: "start", maxDeliver: 4, ackWaitSec: 5,
    retryBackoffMs: 50, retryBackoffMaxMs: 200, batchSize: 50, batchWaitMs: 10, log: quiet, ...o,
  });
}

test("returner host - two processes of one name share the work, and together deliver everything", { timeout: 120_000 }, async () => {
  const bus = await openBus(fx.nats.url, freshNs(), ["a", "b"]);
  // A second connection, as a second process would have.
  const nc2 = await connect({ servers: fx.nats.url });
  const seen = [new Set<string>(), new Set<string>()];
  const mod = (i: number): ReturnerModule => ({ async returner(r) { seen[i].add(r.eid); await new Promise((res) => setTimeout(res, 1)); } });
  const h1 = host(bus, "shared", mod(0));
  const h2 = host(bus, "shared", mod(1), { nc: nc2 });
  try {
    await h1.start();
    await h2.start();
    const eids = await publishJobs(bus, 0, 500, ["a", "b"]);
    await until("all delivered", async () => seen[0].size + seen[1].size, (n) => new Set([...seen[0], ...seen[1]]).size === eids.length && n >= eids.length);
    assert.ok(seen[0].size > 0 && seen[1].size > 0, `one process did all the work: ${seen[0].size} / ${seen[1].size}`);
    const all = new Set([...seen[0], ...seen[1]]);
    for (const e of eids) assert.ok(all.has(e));
  } finally {
    await h1.stop();
    await h2.stop();
    await nc2.close();
    await bus.close();
  }
});

test("returner host - an error with permanent: true is dead-lettered at the first attempt", { timeout: 120_000 }, async () => {
  const bus = await openBus(fx.nats.url, freshNs(), ["a"]);
  const tries = new Map<string, number>();
  class PermanentDeliveryError extends Error { readonly permanent = true; }
  const h = host(bus, "perm", {
    returner(r) {
      tries.set(r.eid, (tries.get(r.eid) ?? 0) + 1);
      if (r.jid === jid(3)) throw new PermanentDeliveryError("HTTP 400: the receiver will never take this");
    },
  });
  try {
    await h.start();
    await publishJobs(bus, 0, 10, ["a"]);
    const info = await until("settled", () => returnerInfo(bus, "perm"), (r) => !!r && r.pending === 0 && r.ack_pending === 0 && r.dead_failed === 1);
    assert.equal(tries.get(`${jid(3)}.ret.a`), 1);
    const [d] = await readDeadLetters(bus.nc, bus.s, "perm", 10);
    assert.equal(d.attempts, 1);
    assert.match(d.error, /HTTP 400/);
    assert.equal(info!.dead_refused, 0);
    assert.equal(tries.size, 10);
  } finally {
    await h.stop();
    await bus.close();
  }
});

test("returner host - eventReturn gets every verified event in stream order, in batches", { timeout: 120_000 }, async () => {
  const bus = await openBus(fx.nats.url, freshNs(), ["a"]);
  const batches: EventRecord[][] = [];
  const h = host(bus, "events", { returner() {}, eventReturn(evs) { batches.push(evs); } }, { batchSize: 7 });
  try {
    await h.start();
    await publishJobs(bus, 0, 20, ["a"], { withDone: true });
    await until("60 events", async () => batches.flat().length, (n) => n >= 60);
    const evs = batches.flat();
    assert.ok(batches.every((b) => b.length <= 7));
    assert.deepEqual(evs.slice(0, 3).map((e) => e.type), ["job.new", "job.ret", "job.done"]);
    assert.deepEqual(evs.map((e) => e.seq), [...evs.map((e) => e.seq)].sort((x, y) => x - y));
    assert.equal(evs.find((e) => e.type === "job.ret")?.signer, "minion a");
    assert.equal(evs.find((e) => e.type === "job.new")?.signer, "master");
  } finally {
    await h.stop();
    await bus.close();
  }
});

test("returner host - nothing is consumed before the master key is known", { timeout: 120_000 }, async () => {
  const nc = await connect({ servers: fx.nats.url });
  const s = subjects(freshNs());
  const jsm = await jetstreamManager(nc);
  await ensureStream(jsm, s, { maxAgeSec: 0, replicas: 1 });
  await ensureBuckets(nc, s);
  const cast = new Cast(s);
  const bus: Bus = { nc, js: jetstream(nc), jsm, s, cast, close: () => nc.close() };
  await acceptMinion(nc, s, cast, "a");
  const got: string[] = [];
  const h = host(bus, "early", { returner(r) { got.push(r.eid); } });
  try {
    await publishAll(bus.js, [cast.jobNew(jid(1), ["a"]), cast.jobRet(jid(1), "a")]);
    const starting = h.start();
    await new Promise((r) => setTimeout(r, 1500));
    assert.deepEqual(got, []);
    await cast.putMasterKey(nc);
    await starting;
    await until("the return", async () => got.length, (n) => n === 1);
    const info = await until("settled", () => returnerInfo(bus, "early"), (r) => !!r && r.pending === 0 && r.ack_pending === 0);
    assert.equal(info!.dead_failed + info!.dead_refused, 0);
  } finally {
    await h.stop();
    await nc.close();
  }
});

test("returner host - a durable deleted under a running host is made again at its from", { timeout: 120_000 }, async () => {
  const bus = await openBus(fx.nats.url, freshNs(), ["a"]);
  const got = new Set<string>();
  const h = host(bus, "again", { returner(r) { got.add(r.eid); } });
  try {
    await h.start();
    const first = await publishJobs(bus, 0, 10, ["a"]);
    await until("the first returns", async () => got.size, (n) => n === 10);
    await bus.jsm.consumers.delete(bus.s.stream, h.durable);
    const more = await publishJobs(bus, 10, 10, ["a"]);
    await until("the later returns too", async () => [...first, ...more].filter((e) => got.has(e)).length, (n) => n === 20);
    assert.ok(await bus.jsm.consumers.info(bus.s.stream, h.durable));
  } finally {
    await h.stop();
    await bus.close();
  }
});
