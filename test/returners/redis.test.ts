// The redis returner against a real redis-server started by the test: what it writes (checked
// with a separate client), idempotence by return, the job-cache queries, stream mode, and a
// Redis that dies and comes back.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { createRedisReturner } from "../../services/returners/redis.js";
import { DeliveryError, ReturnerConfigError } from "../../services/returners/errors.js";
import type { ReturnerModule } from "../../services/returners/sdk.js";
import { startRedis, type RedisServer } from "../helpers/redis.js";
import { freePort, waitFor } from "../helpers/ports.js";
import { BASE_TS, jidOf, makeJob, makeReturn, memoryLog } from "../helpers/returns.js";

let redis: RedisServer;
let peer: Redis;
const modules: ReturnerModule[] = [];
before(async () => {
  redis = await startRedis();
  peer = new Redis(redis.url, { lazyConnect: true });
  await peer.connect();
});
after(async () => {
  for (const m of modules) await m.close?.();
  peer?.disconnect();
  await redis?.stop();
});

let nsCount = 0;
async function returner(config: Record<string, unknown> = {}, ns = `t${++nsCount}`, log = memoryLog()) {
  const m = createRedisReturner();
  modules.push(m);
  await m.setup!({ name: "redis", ns, config: { url: redis.url, ...config }, log, signal: new AbortController().signal });
  return { m, ns, log };
}

/** Fails the test instead of hanging when a call does not settle. */
function settles<T>(p: Promise<T> | T, what: string, ms = 20_000): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([
    Promise.resolve(p).finally(() => clearTimeout(t)),
    new Promise<never>((_r, reject) => { t = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms); }),
  ]);
}

test("redis - a return lands in the job's hash, once, with a TTL; minions are kept", async () => {
  const { m, ns } = await returner({ expire_s: 3600 });
  const ret = makeReturn({ jid: jidOf(1), ret: { "file.managed": { result: true, comment: "ok \"quoted\"" } } });
  await m.returner(ret);
  const key = `natrium:${ns}:ret:${ret.jid}`;
  assert.deepEqual(JSON.parse((await peer.hget(key, "web1.example.com"))!), ret);
  const ttl = await peer.ttl(key);
  assert.ok(ttl > 0 && ttl <= 3600, `ttl ${ttl}`);

  // A redelivery (same eid, later seq) changes nothing.
  await m.returner({ ...ret, seq: 99 });
  assert.equal(await peer.hlen(key), 1);
  assert.equal(JSON.parse((await peer.hget(key, "web1.example.com"))!).seq, ret.seq);

  await m.returner(makeReturn({ jid: jidOf(1), id: "db-01", success: false, retcode: 2 }));
  assert.deepEqual(await peer.smembers(`natrium:${ns}:minions`).then((s) => s.sort()), ["db-01", "web1.example.com"]);
  assert.equal(await peer.exists(`natrium:${ns}:returns`), 0, "hash mode writes no stream");
});

test("redis - the queries return what was written", async () => {
  const { m, ns } = await returner();
  const jobs = [1, 2, 3].map((n) => ({ ...makeJob(jidOf(10 + n)), ts: BASE_TS + n * 1000 }));
  for (const j of jobs) await m.saveLoad!(j);
  await m.saveLoad!(jobs[1]); // redelivered
  const rets = [
    makeReturn({ jid: jobs[0].jid, id: "web1.example.com" }),
    makeReturn({ jid: jobs[0].jid, id: "db-01", ret: "out" }),
    makeReturn({ jid: jobs[2].jid, id: "zeta" }),
  ];
  for (const r of rets) await m.returner(r);

  assert.deepEqual(await m.getJid!(jobs[0].jid), { "db-01": rets[1], "web1.example.com": rets[0] });
  assert.deepEqual(await m.getJid!(jobs[1].jid), {});
  assert.deepEqual(await m.getJids!(), [jobs[2], jobs[1], jobs[0]], "newest first");
  assert.deepEqual(await m.getJids!(2), [jobs[2], jobs[1]]);
  assert.deepEqual(await m.getLoad!(jobs[1].jid), jobs[1]);
  assert.equal(await m.getLoad!(jidOf(999)), undefined);
  assert.deepEqual(await m.getMinions!(), ["db-01", "web1.example.com", "zeta"]);

  // A load that expired (removed here) is skipped and its jid dropped from the index.
  await peer.del(`natrium:${ns}:load:${jobs[1].jid}`);
  assert.deepEqual(await m.getJids!(), [jobs[2], jobs[0]]);
  assert.deepEqual(await peer.zrange(`natrium:${ns}:jids`, 0, -1), [jobs[0].jid, jobs[2].jid]);
  assert.ok((await peer.ttl(`natrium:${ns}:load:${jobs[0].jid}`)) > 0);
});

test("redis - getJids pages past many expired loads", async () => {
  const { m, ns } = await returner();
  const jobs = Array.from({ length: 450 }, (_, i) => ({ ...makeJob(jidOf(1000 + i)), ts: BASE_TS + i }));
  for (const j of jobs) await m.saveLoad!(j);
  // Every load but the 5 oldest is gone: the listing must walk past 445 dead entries.
  await peer.del(...jobs.slice(5).map((j) => `natrium:${ns}:load:${j.jid}`));
  assert.deepEqual((await m.getJids!(3)).map((j) => j.jid), [jobs[4].jid, jobs[3].jid, jobs[2].jid]);
  assert.deepEqual((await m.getJids!()).map((j) => j.jid), jobs.slice(0, 5).reverse().map((j) => j.jid));
});

test("redis - expire_s=0 keeps everything; key_prefix and namespace separate installations", async () => {
  const a = await returner({ expire_s: "0", key_prefix: "site-a" }, "shared");
  const b = await returner({ key_prefix: "site-b" }, "shared");
  const ret = makeReturn();
  await a.m.returner(ret);
  await a.m.saveLoad!(makeJob());
  assert.equal(await peer.ttl(`site-a:shared:ret:${ret.jid}`), -1);
  assert.equal(await peer.ttl(`site-a:shared:load:${ret.jid}`), -1);
  assert.deepEqual(await b.m.getJid!(ret.jid), {});
  assert.deepEqual(await b.m.getMinions!(), []);
  assert.deepEqual(await a.m.getMinions!(), ["web1.example.com"]);
});

test("redis - stream mode XADDs each new return once, trimmed to about stream_maxlen", async () => {
  const { m, ns } = await returner({ mode: "stream", stream_maxlen: 10 });
  const ret = makeReturn({ jid: jidOf(5), success: false, retcode: 3, fun: "cmd.run" });
  await m.returner(ret);
  await m.returner(ret);
  const stream = `natrium:${ns}:returns`;
  const entries = await peer.xrange(stream, "-", "+");
  assert.equal(entries.length, 1, "a redelivery adds no entry");
  const fields = Object.fromEntries(
    entries[0][1].reduce<[string, string][]>((acc, v, i, arr) => (i % 2 ? acc : [...acc, [v, arr[i + 1]]]), []),
  );
  assert.deepEqual(
    { ...fields, return: JSON.parse(fields.return) },
    { eid: ret.eid, jid: ret.jid, id: ret.id, fun: "cmd.run", success: "false", retcode: "3", return: ret },
  );
  assert.ok(await peer.hexists(`natrium:${ns}:ret:${ret.jid}`, ret.id), "the job hash is kept too (queries, idempotence)");
  for (let i = 0; i < 500; i++) await m.returner(makeReturn({ jid: jidOf(5), id: `m${i}` }));
  const len = await peer.xlen(stream);
  assert.ok(len < 501 && len >= 10, `trimmed: ${len} entries`);
});

test("redis - list mode RPUSHes each new return once to the job's list, with the hash's TTL", async () => {
  const { m, ns } = await returner({ mode: "list", expire_s: 600 });
  const a = makeReturn({ jid: jidOf(6), id: "web1" });
  const b = makeReturn({ jid: jidOf(6), id: "web2", success: false });
  for (const r of [a, b, a, b]) await m.returner(r);
  const list = `natrium:${ns}:list:${jidOf(6)}`;
  assert.deepEqual((await peer.lrange(list, 0, -1)).map((x) => JSON.parse(x)), [a, b], "once each, in arrival order");
  const ttl = await peer.ttl(list);
  assert.ok(ttl > 590 && ttl <= 600, `ttl ${ttl}`);
  assert.equal(await peer.exists(`natrium:${ns}:returns`), 0, "no stream in list mode");
  assert.deepEqual(Object.keys(await m.getJid!(jidOf(6))), ["web1", "web2"]);
});

test("redis - Redis killed: calls throw instead of hanging; after a restart deliveries succeed", async () => {
  const own = await startRedis();
  try {
    const m = createRedisReturner();
    const log = memoryLog();
    await m.setup!({ name: "redis", ns: "down", config: { url: own.url, timeout_ms: 2000 }, log, signal: new AbortController().signal });
    try {
      await m.returner(makeReturn({ jid: jidOf(1) }));
      await own.kill("SIGKILL");
      for (let i = 0; i < 3; i++) {
        await assert.rejects(settles(Promise.resolve().then(() => m.returner(makeReturn({ jid: jidOf(2), id: `m${i}` }))), "a delivery to a dead redis"), (err: unknown) => {
          assert.ok(err instanceof DeliveryError, String(err));
          assert.equal(err.permanent, false);
          assert.match(err.message, new RegExp(`redis redis://127\\.0\\.0\\.1:${own.port}`));
          return true;
        });
      }
      await assert.rejects(settles(Promise.resolve().then(() => m.getJid!(jidOf(1))), "a query to a dead redis"), DeliveryError);
      await waitFor("a logged warning", () => log.lines.some((l) => l.level === "warn" && /redis connection lost/.test(l.msg)));

      await own.start();
      // The server restarted empty (no persistence): the host redelivers, as it would.
      await waitFor("a delivery after the restart", async () => {
        try {
          await m.returner(makeReturn({ jid: jidOf(2), id: "m0" }));
          return true;
        } catch {
          return undefined;
        }
      }, 20_000, 200);
      for (let i = 1; i < 3; i++) await m.returner(makeReturn({ jid: jidOf(2), id: `m${i}` }));
      assert.deepEqual(Object.keys(await m.getJid!(jidOf(2))), ["m0", "m1", "m2"]);
      assert.deepEqual(await m.getMinions!(), ["m0", "m1", "m2"]);
    } finally {
      await m.close!();
    }
  } finally {
    await own.stop();
  }
});

test("redis - a Redis that stops answering: a call fails after timeout_ms, and works once it answers", async () => {
  const own = await startRedis();
  const m = createRedisReturner();
  try {
    await m.setup!({ name: "redis", ns: "frozen", config: { url: own.url, timeout_ms: 300 }, log: memoryLog(), signal: new AbortController().signal });
    await m.returner(makeReturn({ id: "before" }));
    own.proc.kill("SIGSTOP"); // the socket stays open, nothing answers
    await assert.rejects(settles(Promise.resolve().then(() => m.returner(makeReturn({ id: "during" }))), "a delivery to a frozen redis"), (err: unknown) => {
      assert.ok(err instanceof DeliveryError, String(err));
      assert.match(err.message, /timed out/i);
      return true;
    });
    own.proc.kill("SIGCONT");
    await waitFor("a delivery once redis answers again", async () => {
      try {
        await m.returner(makeReturn({ id: "during" }));
        return true;
      } catch {
        return undefined;
      }
    }, 20_000, 100);
    assert.deepEqual(Object.keys(await m.getJid!(jidOf(1))).sort(), ["before", "during"]);
  } finally {
    own.proc.kill("SIGCONT");
    await m.close!();
    await own.stop();
  }
});

test("redis - a password-protected Redis: refused without the password key, stored with it, never shown", async () => {
  const own = await startRedis({ args: ["--requirepass", "s3cret-pw"] });
  const without = createRedisReturner();
  const withPw = createRedisReturner();
  const inUrl = createRedisReturner();
  try {
    const log = memoryLog();
    await without.setup!({ name: "redis", ns: "pw", config: { url: own.url }, log, signal: new AbortController().signal });
    await assert.rejects(settles(Promise.resolve().then(() => without.returner(makeReturn())), "an unauthenticated delivery"), (err: unknown) => {
      assert.ok(err instanceof DeliveryError, String(err));
      assert.match(err.message, /NOAUTH|auth/i);
      return true;
    });
    await withPw.setup!({ name: "redis", ns: "pw", config: { url: own.url, password: "s3cret-pw" }, log, signal: new AbortController().signal });
    await withPw.returner(makeReturn());
    await inUrl.setup!({ name: "redis", ns: "pw", config: { url: `redis://:wrong@127.0.0.1:${own.port}` }, log, signal: new AbortController().signal });
    await assert.rejects(settles(Promise.resolve().then(() => inUrl.returner(makeReturn({ id: "x" }))), "a delivery with a wrong password"), (err: unknown) => {
      assert.ok(err instanceof DeliveryError, String(err));
      assert.doesNotMatch(err.message, /wrong/);
      return true;
    });
    assert.deepEqual(await withPw.getMinions!(), ["web1.example.com"]);
    assert.ok(!JSON.stringify(log.lines).includes("s3cret-pw") && !JSON.stringify(log.lines).includes(":wrong@"), "no password in the logs");
  } finally {
    for (const m of [without, withPw, inUrl]) await m.close!();
    await own.stop();
  }
});

test("redis - unreachable at start: setup warns, calls fail until it is there", async () => {
  const port = await freePort();
  const log = memoryLog();
  const m = createRedisReturner();
  try {
    await settles(m.setup!({ name: "redis", ns: "x", config: { url: `redis://127.0.0.1:${port}/3`, timeout_ms: 500 }, log, signal: new AbortController().signal }), "setup");
    assert.ok(log.lines.some((l) => l.level === "warn" && /not reachable/.test(l.msg)));
    await assert.rejects(settles(Promise.resolve().then(() => m.returner(makeReturn())), "a delivery"), DeliveryError);
  } finally {
    await m.close!();
  }
  await assert.rejects(Promise.resolve().then(() => m.returner(makeReturn())), /closed/);
});

test("redis - the host's stop signal disconnects", async () => {
  const ac = new AbortController();
  const m = createRedisReturner();
  await m.setup!({ name: "redis", ns: "sig", config: { url: redis.url }, log: memoryLog(), signal: ac.signal });
  await m.returner(makeReturn());
  ac.abort();
  await assert.rejects(settles(Promise.resolve().then(() => m.returner(makeReturn({ id: "b" }))), "a delivery after stop"), DeliveryError);
  await m.close!();
});

test("redis - bad config names the key", async () => {
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ mode: "lists" }, "mode", /hash, list, stream/],
    [{ url: "http://127.0.0.1:6379" }, "url", /redis:\/\//],
    [{ url: "redis://127.0.0.1:6379/abc" }, "url", /database number/],
    [{ expire_s: "-1" }, "expire_s", /between 0/],
    [{ stream_maxlen: "lots" }, "stream_maxlen", /whole number/],
    [{ key_prefix: "a b" }, "key_prefix", /white space/],
    [{ ttl: 5 }, "ttl", /not a redis setting/],
  ];
  for (const [config, key, msg] of cases) {
    const m = createRedisReturner();
    await assert.rejects(
      Promise.resolve().then(() => m.setup!({ name: "redis", ns: "c", config, log: memoryLog(), signal: new AbortController().signal })),
      (err: unknown) => {
        assert.ok(err instanceof ReturnerConfigError, String(err));
        assert.equal(err.key, key);
        assert.match(err.message, msg);
        return true;
      },
    );
    await m.close?.();
  }
});
