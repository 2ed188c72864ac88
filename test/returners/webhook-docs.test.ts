// The receiver-side verification snippets of docs/returners-builtin.md, taken from the page
// and run against real deliveries of the webhook returner: a reader who copies them gets code
// that accepts a genuine request and refuses a tampered one or another secret.
import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { createWebhookReturner } from "../../services/returners/webhook.js";
import type { ReturnerModule } from "../../services/returners/sdk.js";
import { ROOT } from "../helpers/cli.js";
import { freePort } from "../helpers/ports.js";
import { makeReturn, memoryLog } from "../helpers/returns.js";

const DOC = readFileSync(join(ROOT, "docs/returners-builtin.md"), "utf8");

/** The first fenced block of `lang` after the line `marker`. */
function snippet(marker: string, lang: string): string {
  const at = DOC.indexOf(marker);
  assert.ok(at >= 0, `docs/returners-builtin.md has "${marker}"`);
  const m = new RegExp("```" + lang + "\\n([\\s\\S]*?)```").exec(DOC.slice(at));
  assert.ok(m, `a ${lang} block after "${marker}"`);
  return m[1];
}

let server: Server;
let dir: string;
let module_: ReturnerModule;
let delivered: { headers: IncomingHttpHeaders; body: Buffer };
before(async () => {
  dir = mkdtempSync(join(tmpdir(), "natrium-webhook-docs-"));
  const port = await freePort();
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      delivered = { headers: req.headers, body: Buffer.concat(chunks) };
      res.end();
    });
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  module_ = createWebhookReturner();
  await module_.setup!({ name: "webhook", ns: "natrium", config: { url: `http://127.0.0.1:${port}/`, secret: "s3cret" }, log: memoryLog(), signal: new AbortController().signal });
  await module_.returner(makeReturn({ ret: { motd: "grüß dich" } }));
});
after(async () => {
  await module_?.close?.();
  await new Promise((r) => server?.close(r));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("webhook docs - the Node snippet verifies a delivery and refuses forgeries", async () => {
  const file = join(dir, "verify.mjs");
  writeFileSync(file, snippet("In Node:", "js"));
  const { verify } = (await import(pathToFileURL(file).href)) as { verify: (s: string, h: IncomingHttpHeaders, b: Buffer) => Record<string, unknown> };
  const { headers, body } = delivered;
  const rec = verify("s3cret", headers, body);
  assert.equal(rec.eid, headers["x-natrium-event-id"]);
  assert.deepEqual(rec.return, { motd: "grüß dich" });
  assert.throws(() => verify("other", headers, body), /bad signature/);
  assert.throws(() => verify("s3cret", headers, Buffer.from(body.toString().replace("dich", "euch"))), /bad signature/);
  assert.throws(() => verify("s3cret", { ...headers, "x-natrium-timestamp": "1" }, body), /bad signature/, "the timestamp is signed");
});

test("webhook docs - the Python snippet verifies a delivery and refuses forgeries", (t) => {
  if (spawnSync("python3", ["--version"]).status !== 0) return t.skip("python3 is not installed");
  const harness = `${snippet("In Python", "python")}
import base64, sys
from email.message import Message
req = json.load(sys.stdin)
headers = Message()
for k, v in req["headers"].items():
    headers[k] = v
try:
    print(json.dumps({"ok": verify(req["secret"].encode(), headers, base64.b64decode(req["body"]))["eid"]}))
except ValueError as e:
    print(json.dumps({"error": str(e)}))
`;
  const file = join(dir, "verify.py");
  writeFileSync(file, harness);
  const run = (secret: string, body: Buffer, headers = delivered.headers) => {
    const r = spawnSync("python3", [file], { input: JSON.stringify({ secret, headers, body: body.toString("base64") }), encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return JSON.parse(r.stdout) as { ok?: string; error?: string };
  };
  assert.deepEqual(run("s3cret", delivered.body), { ok: delivered.headers["x-natrium-event-id"] });
  assert.deepEqual(run("other", delivered.body), { error: "bad signature" });
  assert.deepEqual(run("s3cret", Buffer.from(delivered.body.toString().replace("dich", "euch"))), { error: "bad signature" });
});
