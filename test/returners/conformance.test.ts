// Every returner that ships, and the example users copy, under the conformance suite. One line each.
import { join } from "node:path";
import { before, after } from "node:test";
import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { createServer } from "node:http";
import { createServer as createTcpServer, type AddressInfo } from "node:net";
import { Redis } from "ioredis";
import { startRedis, type RedisServer } from "../helpers/redis.js";
import { returnerConformance } from "./conformance.js";
import { jsonlEids } from "./kit.js";
import { startPostgres, type PgServer } from "../helpers/postgres.js";

let pg: PgServer | undefined;
// A webhook receiver: every event id it was sent.
const hooked = new Set<string>();
const hook = createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    hooked.add(String(req.headers["x-natrium-event-id"]));
    res.writeHead(204).end();
  });
});
// A syslog receiver over TCP: the eid of every message it got (from the structured data).
const logged = new Set<string>();
const syslogd = createTcpServer((sock) => {
  let buf = "";
  sock.on("data", (d) => {
    buf += d.toString("utf8");
    for (const m of buf.matchAll(/ eid="([^"]+)"/g)) logged.add(m[1]);
    buf = buf.slice(Math.max(0, buf.lastIndexOf(" eid=")));
  });
});
let redis: RedisServer | undefined;
before(async () => {
  pg = await startPostgres();
  redis = await startRedis();
  await new Promise<void>((r) => hook.listen(0, "127.0.0.1", () => r()));
  await new Promise<void>((r) => syslogd.listen(0, "127.0.0.1", () => r()));
});
after(async () => {
  await pg?.stop();
  await redis?.stop();
  await new Promise((r) => hook.close(r));
  syslogd.close();
});
const pgSchema = `conf_${randomBytes(4).toString("hex")}`;

returnerConformance("jsonl", { module: "jsonl", config: (dir) => ({ path: join(dir, "returns.jsonl"), max_bytes: 4096, backups: 50 }), written: (_dir, c) => new Set(jsonlEids(String(c.path), 50).keys()) });
returnerConformance("examples/returners/minimal", { module: "dist/examples/returners/minimal.js", config: () => ({ prefix: "conformance" }) });
returnerConformance("pg", {
  module: "pg",
  config: () => ({ url: pg!.url, schema: pgSchema, timeout_ms: 10_000 }),
  written: async () => {
    const sql = postgres(pg!.url, { max: 1, onnotice: () => {} });
    try {
      return new Set((await sql.unsafe(`select full_ret->>'eid' as eid from "${pgSchema}".salt_returns`)).map((r) => r.eid as string));
    } finally {
      await sql.end();
    }
  },
});
returnerConformance("webhook", {
  module: "webhook",
  config: () => ({ url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/natrium`, secret: "conformance" }),
  written: () => hooked,
});
returnerConformance("syslog", {
  module: "syslog",
  config: () => ({ host: "127.0.0.1", port: (syslogd.address() as AddressInfo).port, protocol: "tcp" }),
  written: () => logged,
});
returnerConformance("redis", {
  module: "redis",
  config: () => ({ url: redis!.url, key_prefix: "conformance" }),
  written: async () => {
    const c = new Redis(redis!.url);
    try {
      const out = new Set<string>();
      for (const key of await c.keys("conformance:*:ret:*")) for (const v of Object.values(await c.hgetall(key))) out.add((JSON.parse(v) as { eid: string }).eid);
      return out;
    } finally {
      c.disconnect();
    }
  },
});

