// Every returner that ships, and the example users copy, under the conformance suite. One line each.
import { join } from "node:path";
import { before, after } from "node:test";
import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
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
before(async () => {
  pg = await startPostgres();
  await new Promise<void>((r) => hook.listen(0, "127.0.0.1", () => r()));
});
after(async () => {
  await pg?.stop();
  await new Promise((r) => hook.close(r));
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

