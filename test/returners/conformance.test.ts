// Every returner that ships, and the example users copy, under the conformance suite. One line each.
import { join } from "node:path";
import { returnerConformance } from "./conformance.js";
import { jsonlEids } from "./kit.js";

returnerConformance("jsonl", { module: "jsonl", config: (dir) => ({ path: join(dir, "returns.jsonl"), max_bytes: 4096, backups: 50 }), written: (_dir, c) => new Set(jsonlEids(String(c.path), 50).keys()) });
returnerConformance("examples/returners/minimal", { module: "dist/examples/returners/minimal.js", config: () => ({ prefix: "conformance" }) });
