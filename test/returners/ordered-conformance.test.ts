// Every ordered returner that ships, and the example users copy, under the ordered suite. One line each.
import { before, after } from "node:test";
import { randomBytes } from "node:crypto";
import { orderedConformance } from "./ordered-conformance.js";
import { startPostgres, type PgServer } from "../helpers/postgres.js";

let pg: PgServer | undefined;
before(async () => {
  pg = await startPostgres();
});
after(async () => {
  await pg?.stop();
});

orderedConformance("examples/returners/exactly-once", {
  module: "dist/examples/returners/exactly-once.js",
  config: () => ({ url: pg!.url, prefix: `oc_${randomBytes(4).toString("hex")}` }),
});
