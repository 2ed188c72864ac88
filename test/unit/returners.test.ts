import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { subjects } from "../../contracts/subjects.js";
import { open } from "../../contracts/message.js";
import { Cast } from "../../services/jobcache/testkit.js";
import { capabilities, filters, needsJobFacts, route } from "../../services/returners/route.js";
import { backoffMs, isPermanent } from "../../services/returners/host.js";
import { deliverFrom, BadFromError } from "../../services/returners/registry.js";
import { resolveSettings } from "../../services/returners/main.js";
import { parseJsonlConfig, RotatingFile } from "../../services/returners/jsonl.js";
import { parseKeyValues, parseReturners } from "../../cli/lib/returners.js";
import { loadReturnerModule, ReturnerModuleError } from "../../services/returners/loader.js";
import { isOrdered, type ReturnerModule } from "../../services/returners/sdk.js";
import { ReturnerConfig } from "../../services/returners/config.js";
import { loadConfig } from "../../services/common/config.js";
import type { Sealed } from "../../contracts/message.js";

const s = subjects("unit");
const cast = new Cast(s);
const J = "20261127082615123456";
const opened = (e: Sealed) => open(e.subject, e.payload, { get: (k: string) => e.headers[k] ?? "" });
const meta = { seq: 7, time: 1000, signer: "master" };
const everything = { saveLoad: true, jobDone: true, eventReturn: false };

test("returners route - all mode delivers every return with its eid, seq and subject", () => {
  const d = route(opened(cast.jobRet(J, "web1")), meta, filters("r", "all"), everything);
  assert.equal(d.returner?.eid, `${J}.ret.web1`);
  assert.equal(d.returner?.seq, 7);
  assert.equal(d.returner?.subject, s.jobRet(J, "web1"));
  assert.equal(d.returner?.id, "web1");
  assert.equal(d.event, undefined);
});

test("returners route - requested mode delivers only jobs whose ret names the returner", () => {
  const f = filters("audit", "requested");
  const ret = opened(cast.jobRet(J, "web1"));
  assert.equal(needsJobFacts(ret, f, everything), J);
  assert.equal(route(ret, meta, f, everything, { fun: "test.echo", ret: ["audit"] }).returner?.id, "web1");
  assert.equal(route(ret, meta, f, everything, { fun: "test.echo", ret: ["other"] }).returner, undefined);
  assert.equal(route(ret, meta, f, everything, undefined).returner, undefined, "a job whose job.new is gone is not delivered");
  assert.ok(route(opened(cast.jobNew(J, ["web1"], { ret: ["x", "audit"] })), meta, f, everything).saveLoad);
  assert.equal(route(opened(cast.jobNew(J, ["web1"], { ret: [] })), meta, f, everything).saveLoad, undefined);
  assert.equal(needsJobFacts(ret, filters("audit", "all"), everything), undefined);
});

test("returners route - function and minion globs; loads and dones are not filtered by minion", () => {
  const f = filters("r", "all", "state.*", "web*");
  assert.ok(route(opened(cast.jobRet(J, "web1", { fun: "state.apply" })), meta, f, everything).returner);
  assert.equal(route(opened(cast.jobRet(J, "db1", { fun: "state.apply" })), meta, f, everything).returner, undefined);
  assert.equal(route(opened(cast.jobRet(J, "web1", { fun: "test.ping" })), meta, f, everything).returner, undefined);
  assert.ok(route(opened(cast.jobNew(J, ["db1"], { fun: "state.apply" })), meta, f, everything).saveLoad);
  const done = opened(cast.jobDone(J, ["db1"], ["db1"]));
  assert.equal(needsJobFacts(done, f, everything), J, "a function filter on a job.done needs its job.new");
  assert.ok(route(done, meta, f, everything, { fun: "state.sls", ret: [] }).jobDone);
  assert.equal(route(done, meta, f, everything, { fun: "test.ping", ret: [] }).jobDone, undefined);
});

test("returners route - eventReturn gets every verified event, unfiltered; absent functions get nothing", () => {
  const caps = capabilities({ returner() {}, eventReturn() {} });
  assert.deepEqual(caps, { saveLoad: false, jobDone: false, eventReturn: true });
  const d = route(opened(cast.minionStart("web1")), meta, filters("r", "requested", "x.*"), caps);
  assert.equal(d.event?.type, "minion.start");
  assert.equal(d.event?.seq, 7);
  assert.equal(d.returner, undefined);
  assert.equal(route(opened(cast.jobNew(J, ["a"])), meta, filters("r", "all"), caps).saveLoad, undefined);
});

test("returners host - backoff doubles up to its cap; permanent errors are duck-typed", () => {
  assert.deepEqual([1, 2, 3, 4, 10].map((a) => backoffMs(a, 100, 1000)), [100, 200, 400, 800, 1000]);
  assert.equal(backoffMs(0, 100, 1000), 100);
  assert.equal(backoffMs(1e9, 100, 5000), 5000);
  class PermanentDeliveryError extends Error { readonly permanent = true; }
  assert.equal(isPermanent(new PermanentDeliveryError("400")), true);
  assert.equal(isPermanent(Object.assign(new Error("x"), { permanent: "yes" })), false);
  assert.equal(isPermanent(new Error("503")), false);
  assert.equal(isPermanent(undefined), false);
});

test("returners registry - --from now, start, a time or a stream sequence; anything else is refused", () => {
  assert.deepEqual(deliverFrom("start"), { deliver_policy: "all" });
  assert.deepEqual(deliverFrom("now"), { deliver_policy: "new" });
  assert.deepEqual(deliverFrom("2026-11-27T08:00:00Z"), { deliver_policy: "by_start_time", opt_start_time: "2026-11-27T08:00:00.000Z" });
  assert.deepEqual(deliverFrom("12"), { deliver_policy: "by_start_sequence", opt_start_seq: 12 });
  for (const bad of ["yesterday", "0", "-3", "012", "2026-13-45"]) assert.throws(() => deliverFrom(bad), BadFromError);
});

test("returners settings - flags win over the registration, which wins over defaults", () => {
  const cfg = loadConfig(ReturnerConfig, undefined, { name: "r", module: "jsonl" }, {});
  const fresh = resolveSettings(cfg, undefined, 5);
  assert.deepEqual(fresh, { settings: { name: "r", mode: "all", from: "now", ts: 5 }, changed: true });
  const reg = { name: "r", mode: "requested" as const, filter_fun: "state.*", from: "start", ts: 1 };
  assert.deepEqual(resolveSettings(cfg, reg, 5), { settings: reg, changed: false });
  const over = resolveSettings({ ...cfg, mode: "all", filter_minion: "web*" }, reg, 5);
  assert.equal(over.changed, true);
  assert.deepEqual(over.settings, { name: "r", mode: "all", filter_fun: "state.*", filter_minion: "web*", from: "start", ts: 5 });
});

test("returners cli - --config KEY=VALUE and --return lists", () => {
  assert.deepEqual(parseKeyValues(["path=/tmp/a=b", "x="]), { path: "/tmp/a=b", x: "" });
  assert.throws(() => parseKeyValues(["returner.yaml"]), /KEY=VALUE.*--config-file/);
  assert.deepEqual(parseReturners("a, b,a,,c"), ["a", "b", "c"]);
  assert.throws(() => parseReturners(","), /needs returner names/);
  assert.throws(() => parseReturners("ok,not.ok"), /returner name "not.ok" is invalid/);
});

test("returners loader - built-ins by name; a missing file or a TypeScript file says what to do", async () => {
  assert.equal(typeof ((await loadReturnerModule("jsonl")) as ReturnerModule).returner, "function");
  await assert.rejects(loadReturnerModule("nope"), (e: unknown) => e instanceof ReturnerModuleError && /not a built-in returner \(jsonl/.test((e as Error).message));
  const dir = mkdtempSync(join(tmpdir(), "natrium-loader-"));
  try {
    const { writeFileSync } = await import("node:fs");
    writeFileSync(join(dir, "r.ts"), "export default {}");
    await assert.rejects(loadReturnerModule(join(dir, "r.ts")), /compile it to JavaScript first/);
    writeFileSync(join(dir, "empty.mjs"), "export default { description: 'no returner' }");
    await assert.rejects(loadReturnerModule(join(dir, "empty.mjs")), /exports no returner\(ret\) function/);
    writeFileSync(join(dir, "named.mjs"), "export function returner() {}");
    assert.equal(typeof ((await loadReturnerModule(join(dir, "named.mjs"))) as ReturnerModule).returner, "function");
    // An ordered returner: position() and apply() instead of returner().
    writeFileSync(join(dir, "ordered.mjs"), "export default { ordered: true, position() { return 0 }, apply() {} }");
    assert.equal(isOrdered(await loadReturnerModule(join(dir, "ordered.mjs"))), true);
    writeFileSync(join(dir, "half.mjs"), "export default { ordered: true, position() { return 0 } }");
    await assert.rejects(loadReturnerModule(join(dir, "half.mjs")), /is ordered \(ordered: true\) but has no apply function/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("returners jsonl - config keys are checked; the file rotates by size and keeps `backups` files", () => {
  assert.throws(() => parseJsonlConfig({}), /"path" is required/);
  assert.throws(() => parseJsonlConfig({ path: "x", max_byte: 1 }), /"max_byte" is unknown/);
  assert.throws(() => parseJsonlConfig({ path: "x", backups: "-1" }), /"backups" must be a whole number/);
  assert.throws(() => parseJsonlConfig({ path: "x", fsync: "maybe" }), /"fsync" must be true or false/);
  assert.deepEqual(parseJsonlConfig({ path: "x", max_bytes: "10", save_load: "yes" }), { path: "x", max_bytes: 10, backups: 5, save_load: true, events: false, fsync: false });

  const dir = mkdtempSync(join(tmpdir(), "natrium-jsonl-"));
  try {
    const path = join(dir, "sub", "r.jsonl");
    const f = new RotatingFile({ path, max_bytes: 25, backups: 2, fsync: false });
    f.open();
    for (let i = 0; i < 10; i++) f.write(`line-${i}-xxxxxx\n`); // 14 bytes: one line per file
    f.close();
    assert.deepEqual(readdirSync(join(dir, "sub")).sort(), ["r.jsonl", "r.jsonl.1", "r.jsonl.2"]);
    assert.equal(readFileSync(path, "utf8"), "line-9-xxxxxx\n");
    assert.equal(readFileSync(`${path}.1`, "utf8"), "line-8-xxxxxx\n");
    assert.equal(readFileSync(`${path}.2`, "utf8"), "line-7-xxxxxx\n");
    // Re-opened, it appends to what is there.
    const g = new RotatingFile({ path, max_bytes: 0, backups: 2, fsync: false });
    g.open();
    g.write("more\n");
    g.close();
    assert.equal(readFileSync(path, "utf8"), "line-9-xxxxxx\nmore\n");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
