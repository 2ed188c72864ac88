// redis: keep job returns and loads in Redis, as Salt's redis returner does, so other tools
// (and `natrium jobs …` through the getJid/getJids/getLoad/getMinions queries) can read them.
//
// Config keys, each with its default first (strings from `--config k=v`, or YAML values):
//
//   url            redis://127.0.0.1:6379. redis://[user:password@]host:port[/db], or rediss://
//                  for TLS. The password is never logged.
//   password       (none) overrides a password in url (keeps it out of the URL).
//   key_prefix     natrium. First part of every key (below), so several installations can
//                  share one Redis.
//   mode           hash. `hash`: the keys below. `list`: the same, and each new return is also
//                  RPUSHed to a list per job (Salt users' LRANGE scripts). `stream`: the same,
//                  and each new return is also XADDed to one stream for consumers that follow
//                  returns live (XREAD, consumer groups).
//   expire_s       86400 (Salt's keep_jobs, 24 h). TTL of a job's returns and of its load,
//                  counted from the last write; getJids lists jobs published within it.
//                  0 keeps everything forever.
//   stream_maxlen  100000. Stream mode: trim the stream to about this many entries
//                  (XADD MAXLEN ~), oldest first.
//   timeout_ms     5000. Connecting, and each command: a call fails after it rather than hang
//                  while Redis is unreachable (the host then redelivers).
//
// Keys, with P = key_prefix and NS = the namespace:
//
//   P:NS:ret:{jid}   hash: minion id → the return record as JSON (the job.ret body plus eid,
//                    seq, subject). Written with HSETNX: a redelivered return changes nothing.
//   P:NS:load:{jid}  string: the job command (job.new body plus eid, seq) as JSON.
//   P:NS:jids        sorted set: jids, scored by the job's ts (ms). Newest first in getJids.
//   P:NS:minions     set: every minion id that returned something.
//   P:NS:list:{jid}  list (list mode): the job's return records as JSON, in arrival order,
//                    each once (pushed only when the hash took it), same TTL as the hash.
//   P:NS:returns     stream (stream mode): one entry per return, fields eid, jid, id, fun,
//                    success ("true"/"false"), retcode, return (the whole record as JSON).
//
// A return is written by one Lua script (HSETNX, EXPIRE, SADD and, in stream mode, XADD only
// when the HSETNX added the field), so a return is stored once even when delivered again,
// and never half-written. (jid, minion id) is unique per return, like the event id. Because
// one script touches several keys, this needs a single Redis (or a Sentinel-managed primary),
// not Redis Cluster.
//
// getJids and getLoad know only jobs whose load was delivered: the host sends job commands to
// a returner that has saveLoad, which this one always has.
//
//   natrium returner start --module redis --config url=redis://cache.example.com:6379/2 \
//     --config mode=stream
import { Redis, type RedisOptions } from "ioredis";
import type { JidReturns, JobRecord, ReturnRecord, ReturnerContext, ReturnerModule } from "./sdk.js";
import { ConfigReader } from "./module-config.js";
import { DeliveryError } from "./errors.js";
import { toJson } from "./json.js";

export const REDIS_MODES = ["hash", "list", "stream"] as const;
export type RedisMode = (typeof REDIS_MODES)[number];

interface RedisConfig {
  url: string;
  shown: string;
  password?: string;
  prefix: string;
  mode: RedisMode;
  expireS: number;
  streamMaxlen: number;
  timeoutMs: number;
}

// KEYS: ret hash, minions set, returns stream or the job's list. ARGV: minion, record JSON,
// ttl (s, 0 = none), '1' to XADD / '2' to RPUSH, maxlen, eid, jid, fun, success, retcode.
// Returns 1 if the return was new.
const STORE_RETURN = `
local added = redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2])
if tonumber(ARGV[3]) > 0 then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
redis.call('SADD', KEYS[2], ARGV[1])
if added == 1 and ARGV[4] == '2' then
  redis.call('RPUSH', KEYS[3], ARGV[2])
  if tonumber(ARGV[3]) > 0 then redis.call('EXPIRE', KEYS[3], ARGV[3]) end
end
if added == 1 and ARGV[4] == '1' then
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[5], '*',
    'eid', ARGV[6], 'jid', ARGV[7], 'id', ARGV[1], 'fun', ARGV[8],
    'success', ARGV[9], 'retcode', ARGV[10], 'return', ARGV[2])
end
return added
`;

interface WithScript {
  natriumStoreReturn(k1: string, k2: string, k3: string, ...argv: (string | number)[]): Promise<number>;
}

function readConfig(name: string, raw: Record<string, unknown>): RedisConfig {
  const r = new ConfigReader(name, raw);
  const url = r.string("url", "redis://127.0.0.1:6379");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return r.invalid("url", `is not a URL: ${JSON.stringify(url)} (write redis://host:port/db)`);
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") r.invalid("url", `must be redis:// or rediss://, not ${parsed.protocol}//`);
  if (parsed.pathname.length > 1 && !/^\/\d{1,2}$/.test(parsed.pathname)) r.invalid("url", `has ${parsed.pathname} where a database number (/0 … /15) belongs`);
  if (parsed.password) parsed.password = "***";
  const cfg: RedisConfig = {
    url,
    shown: parsed.toString(),
    password: r.string("password"),
    prefix: r.string("key_prefix", "natrium"),
    mode: r.oneOf("mode", REDIS_MODES, "hash"),
    expireS: r.int("expire_s", 86_400, 0, 10 * 365 * 86_400),
    streamMaxlen: r.int("stream_maxlen", 100_000, 1, 1_000_000_000),
    timeoutMs: r.int("timeout_ms", 5000, 10, 600_000),
  };
  if (!/^[^\s]{1,100}$/.test(cfg.prefix)) r.invalid("key_prefix", "must be 1-100 characters without white space");
  r.done();
  return cfg;
}

export function createRedisReturner(): ReturnerModule {
  let name = "redis";
  let cfg: RedisConfig;
  let client: (Redis & WithScript) | undefined;
  let keys: {
    ret: (jid: string) => string;
    list: (jid: string) => string;
    load: (jid: string) => string;
    jids: string;
    minions: string;
    returns: string;
  };

  // The last connection problem ioredis reported, so that a call failing for want of a
  // connection says why (refused, NOAUTH …) rather than "stream isn't writeable".
  let lastProblem = "";

  function ready(): Redis & WithScript {
    if (!client) throw new DeliveryError(name, "setup() was not called, or the returner is closed");
    return client;
  }

  /** Run one Redis exchange; any failure is a retryable DeliveryError that names the server. */
  async function run<T>(what: string, fn: (c: Redis & WithScript) => Promise<T>): Promise<T> {
    const c = ready();
    try {
      return await fn(c);
    } catch (err) {
      const why = c.status === "ready" ? (err as Error).message : `not connected (${c.status}${lastProblem ? `; last problem: ${lastProblem}` : ""})`;
      throw new DeliveryError(name, `redis ${cfg.shown}: ${what} failed: ${why}`, { cause: err });
    }
  }

  const mod: ReturnerModule = {
    description: "Store returns and loads in Redis (a hash per job, optionally a list per job or one stream); serves the job-cache queries",

    async setup(ctx: ReturnerContext) {
      name = ctx.name || "redis";
      cfg = readConfig(name, ctx.config);
      const base = `${cfg.prefix}:${ctx.ns}`;
      keys = {
        ret: (jid) => `${base}:ret:${jid}`,
        list: (jid) => `${base}:list:${jid}`,
        load: (jid) => `${base}:load:${jid}`,
        jids: `${base}:jids`,
        minions: `${base}:minions`,
        returns: `${base}:returns`,
      };
      const options: RedisOptions = {
        lazyConnect: true,
        // Without a connection a command fails at once instead of waiting in a queue: the host's
        // redelivery is the queue, and it survives a restart of this process.
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        commandTimeout: cfg.timeoutMs,
        connectTimeout: cfg.timeoutMs,
        // Keep reconnecting in the background for as long as the returner runs.
        retryStrategy: (times: number) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
        ...(cfg.password !== undefined ? { password: cfg.password } : {}),
      };
      const c = new Redis(cfg.url, options) as Redis & WithScript;
      c.defineCommand("natriumStoreReturn", { numberOfKeys: 3, lua: STORE_RETURN });
      c.on("error", (err: Error) => {
        // ioredis reports every failed reconnect; one line per distinct problem is enough.
        if (err.message !== lastProblem) ctx.log.warn("redis connection problem", { url: cfg.shown, error: err.message });
        lastProblem = err.message;
      });
      let wasReady = false;
      c.on("close", () => {
        if (wasReady) ctx.log.warn("redis connection lost; reconnecting", { url: cfg.shown });
        wasReady = false;
      });
      c.on("ready", () => {
        if (lastProblem) ctx.log.info("redis connection back", { url: cfg.shown });
        lastProblem = "";
        wasReady = true;
      });
      client = c;
      ctx.signal.addEventListener("abort", () => c.disconnect(), { once: true });
      try {
        await c.connect();
      } catch (err) {
        // Not fatal: deliveries fail (and are redelivered) until Redis is reachable.
        ctx.log.warn("redis not reachable yet; returns wait in the stream until it is", { url: cfg.shown, error: (err as Error).message });
      }
    },

    async returner(ret: ReturnRecord) {
      const extra = cfg.mode === "stream" ? "1" : cfg.mode === "list" ? "2" : "0";
      await run(`storing return ${ret.eid}`, (c) =>
        c.natriumStoreReturn(
          keys.ret(ret.jid), keys.minions, cfg.mode === "list" ? keys.list(ret.jid) : keys.returns,
          ret.id, toJson(ret), cfg.expireS, extra, cfg.streamMaxlen,
          ret.eid, ret.jid, ret.fun, String(ret.success), ret.retcode,
        ),
      );
    },

    async saveLoad(job: JobRecord) {
      await run(`storing load ${job.eid}`, async (c) => {
        const m = c.multi();
        if (cfg.expireS > 0) {
          m.set(keys.load(job.jid), toJson(job), "EX", cfg.expireS);
          m.zremrangebyscore(keys.jids, "-inf", `(${Date.now() - cfg.expireS * 1000}`);
        } else {
          m.set(keys.load(job.jid), toJson(job));
        }
        m.zadd(keys.jids, job.ts, job.jid);
        const res = await m.exec();
        const failed = res?.find(([err]) => err);
        if (!res || failed) throw failed?.[0] ?? new Error("transaction aborted");
      });
    },

    async getJid(jid: string): Promise<JidReturns> {
      const all = await run(`reading job ${jid}`, (c) => c.hgetall(keys.ret(jid)));
      const out: JidReturns = {};
      for (const id of Object.keys(all).sort()) out[id] = JSON.parse(all[id]) as ReturnRecord;
      return out;
    },

    async getJids(limit?: number): Promise<JobRecord[]> {
      const want = limit === undefined ? Infinity : Math.max(0, Math.floor(limit));
      const out: JobRecord[] = [];
      const page = 200;
      for (let start = 0; out.length < want; start += page) {
        const jids = await run("listing jobs", (c) => c.zrevrange(keys.jids, start, start + page - 1));
        if (!jids.length) break;
        const loads = await run("reading loads", (c) => c.mget(jids.map(keys.load)));
        const gone: string[] = [];
        loads.forEach((l, i) => (l === null ? gone.push(jids[i]) : out.length < want && out.push(JSON.parse(l) as JobRecord)));
        // A load that expired leaves its jid behind in the index: drop it on the way past.
        if (gone.length) {
          await run("pruning expired jobs", (c) => c.zrem(keys.jids, ...gone));
          start -= gone.length;
        }
      }
      return out;
    },

    async getLoad(jid: string): Promise<JobRecord | undefined> {
      const l = await run(`reading load ${jid}`, (c) => c.get(keys.load(jid)));
      return l === null ? undefined : (JSON.parse(l) as JobRecord);
    },

    async getMinions(): Promise<string[]> {
      const ids = await run("listing minions", (c) => c.smembers(keys.minions));
      return ids.sort();
    },

    async close() {
      const c = client;
      client = undefined;
      if (!c) return;
      if (c.status !== "ready") return c.disconnect();
      // QUIT lets replies in flight arrive; a server that does not answer is cut off.
      await Promise.race([c.quit().catch(() => {}), new Promise((r) => setTimeout(r, cfg.timeoutMs).unref())]);
      c.disconnect();
    },
  };
  return mod;
}

export default createRedisReturner();
