import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Type } from "@sinclair/typebox";
import { loadConfig, describeConfig, CommonConfig, ConfigError } from "../../services/common/config.js";

const Schema = Type.Object({
  ...CommonConfig,
  database_url: Type.String({ default: "", description: "Postgres URL; DATABASE_URL overrides" }),
  batch_size: Type.Integer({ default: 100, minimum: 1, description: "events per transaction" }),
  auto_accept: Type.Boolean({ default: false }),
});

const dir = mkdtempSync(join(tmpdir(), "natrium-config-test-"));
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(text: string): string {
  const p = join(dir, `c${n++}.yaml`);
  writeFileSync(p, text);
  return p;
}

function configError(fn: () => unknown): ConfigError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof ConfigError, `expected ConfigError, got ${caught === undefined ? "a config" : String(caught)}`);
  assert.equal((caught as ConfigError).code, "bad_config");
  return caught as ConfigError;
}

test("config - defaults when there is no file", () => {
  const c = loadConfig(Schema, undefined, {}, {});
  assert.deepEqual(c, {
    nats_url: "nats://127.0.0.1:4222",
    nats_seed: "",
    ns: "natrium",
    log_level: "info",
    pki_dir: "",
    data_dir: "/var/lib/natrium",
    database_url: "",
    batch_size: 100,
    auto_accept: false,
  });
});

test("config - a file's values win over defaults, and an empty file is all defaults", () => {
  const c = loadConfig(Schema, file("ns: prod\nbatch_size: 500\nauto_accept: true\nlog_level: debug\n"), {}, {});
  assert.equal(c.ns, "prod");
  assert.equal(c.batch_size, 500);
  assert.equal(c.auto_accept, true);
  assert.equal(c.log_level, "debug");
  assert.equal(c.nats_url, "nats://127.0.0.1:4222");
  assert.deepEqual(loadConfig(Schema, file(""), {}, {}), loadConfig(Schema, undefined, {}, {}));
  assert.deepEqual(loadConfig(Schema, file("# only a comment\n"), {}, {}), loadConfig(Schema, undefined, {}, {}));
});

test("config - unknown key names the key and suggests the near one", () => {
  const f = file("nats-url: nats://x:4222\n");
  const e = configError(() => loadConfig(Schema, f, {}, {}));
  assert.equal(e.key, "nats-url");
  assert.equal(e.file, f);
  assert.match(e.message, /unknown key "nats-url" \(did you mean "nats_url"\?\)/);
  assert.ok(e.message.startsWith(f + ": "), e.message);
  assert.match(e.message, /known keys: nats_url, ns, log_level/);

  assert.match(configError(() => loadConfig(Schema, file("LogLevel: debug\n"), {}, {})).message, /did you mean "log_level"/);
  // a typo, not only a different spelling of the separators
  const typo = configError(() => loadConfig(Schema, file("nats_ulr: nats://x:4222\n"), {}, {}));
  assert.equal(typo.key, "nats_ulr");
  assert.match(typo.message, /did you mean "nats_url"/);
  assert.match(configError(() => loadConfig(Schema, file("bach_size: 5\n"), {}, {})).message, /did you mean "batch_size"/);
  // nothing near: no suggestion
  const far = configError(() => loadConfig(Schema, file("colour: blue\n"), {}, {}));
  assert.equal(far.key, "colour");
  assert.doesNotMatch(far.message, /did you mean/);
  // unknown keys from flags are named too
  assert.equal(configError(() => loadConfig(Schema, undefined, { timeuot: 5 }, {})).key, "timeuot");
});

test("config - a wrong type names the key", () => {
  const cases: [string, string][] = [
    ["ns: 5\n", "ns"],
    ["ns: Bad.NS\n", "ns"],
    ["batch_size: many\n", "batch_size"],
    ["batch_size: 1.5\n", "batch_size"],
    ["batch_size: 0\n", "batch_size"],
    ["auto_accept: \"yes please\"\n", "auto_accept"],
    ["nats_url: [a, b]\n", "nats_url"],
    ["log_level: loud\n", "log_level"],
  ];
  for (const [text, key] of cases) {
    const e = configError(() => loadConfig(Schema, file(text), {}, {}));
    assert.equal(e.key, key, text);
    assert.match(e.message, new RegExp(`key "${key}"`), text);
  }
  const e = configError(() => loadConfig(Schema, file("log_level: loud\n"), {}, {}));
  assert.match(e.message, /got "loud"/);
  assert.match(e.message, /trace, debug, info, warning, error or quiet/);
});

test("config - environment NATS_URL and DATABASE_URL override the file; flags override both", () => {
  const f = file("nats_url: nats://file:4222\ndatabase_url: postgres://file/db\n");
  const env = { NATS_URL: "nats://env:4222", DATABASE_URL: "postgres://env/db" };
  const c = loadConfig(Schema, f, {}, env);
  assert.equal(c.nats_url, "nats://env:4222");
  assert.equal(c.database_url, "postgres://env/db");
  const c2 = loadConfig(Schema, f, { nats_url: "nats://flag:4222", ns: undefined }, env);
  assert.equal(c2.nats_url, "nats://flag:4222");
  assert.equal(c2.ns, "natrium", "an undefined flag does not override");
  // an empty variable does not override
  assert.equal(loadConfig(Schema, f, {}, { NATS_URL: "" }).nats_url, "nats://file:4222");
  // DATABASE_URL is ignored by a schema that has no database_url
  const Small = Type.Object({ ...CommonConfig });
  assert.equal(loadConfig(Small, undefined, {}, { DATABASE_URL: "postgres://x/y", NATS_URL: "nats://e:1" }).nats_url, "nats://e:1");
  // process.env is the default
  const saved = process.env.NATS_URL;
  process.env.NATS_URL = "nats://process-env:4222";
  try {
    assert.equal(loadConfig(Schema, undefined).nats_url, "nats://process-env:4222");
  } finally {
    if (saved === undefined) delete process.env.NATS_URL;
    else process.env.NATS_URL = saved;
  }
});

test("config - unreadable files, bad YAML and a non-mapping top level are refused", () => {
  const missing = join(dir, "does-not-exist.yaml");
  const e = configError(() => loadConfig(Schema, missing, {}, {}));
  assert.match(e.message, /cannot read config file/);
  assert.match(configError(() => loadConfig(Schema, file("ns: [unclosed\n"), {}, {})).message, /not valid YAML/);
  assert.match(configError(() => loadConfig(Schema, file("- a\n- b\n"), {}, {})).message, /top level must be a mapping/);
  assert.match(configError(() => loadConfig(Schema, file("just a string\n"), {}, {})).message, /top level must be a mapping/);
});

test("config - the caller's objects are not modified", () => {
  const overrides = { batch_size: 7 };
  const c = loadConfig(Schema, undefined, overrides, {});
  assert.equal(c.batch_size, 7);
  assert.deepEqual(overrides, { batch_size: 7 });
});

test("config - describeConfig lists every key with its default and description", () => {
  const d = describeConfig(Schema);
  assert.deepEqual(d.map((x) => x.key), Object.keys(Schema.properties));
  const nats = d.find((x) => x.key === "nats_url")!;
  assert.equal(nats.default, "nats://127.0.0.1:4222");
  assert.match(nats.description, /NATS_URL overrides/);
  assert.equal(d.find((x) => x.key === "auto_accept")!.description, "");
});
