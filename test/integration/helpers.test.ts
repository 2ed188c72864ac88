import { test } from "node:test";
import assert from "node:assert/strict";
import postgres from "postgres";
import { connect } from "@nats-io/transport-node";
import { startNats } from "../helpers/nats.js";
import { startPostgres } from "../helpers/postgres.js";

test("helpers - a real nats-server and a real postgres start, answer and stop", async () => {
  const [nats, pg] = await Promise.all([startNats(), startPostgres()]);
  try {
    const nc = await connect({ servers: nats.url });
    assert.ok(nc.info?.jetstream, "JetStream is enabled");
    await nc.close();
    const sql = postgres(pg.url, { max: 1, onnotice: () => {} });
    const [{ v }] = await sql`select 41 + 1 as v`;
    assert.equal(v, 42);
    await sql.end();
  } finally {
    await Promise.all([nats.stop(), pg.stop()]);
  }
});
