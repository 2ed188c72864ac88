import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { stringify } from "yaml";
import { loadConfig, ConfigError } from "../../services/common/config.js";
import { MasterConfig } from "../../services/master/config.js";
import { MinionConfig, loadMinionConfig } from "../../services/minion/config.js";
import { JobcacheConfig } from "../../services/jobcache/config.js";
import { compileAcl } from "../../services/master/acl.js";
import { NatriumError } from "../../contracts/errors.js";
import { RUNS, typedOrValue, rejects, wrongValue, HUGE_STRING } from "./hostile.js";
import { minion } from "./samples.js";

const dir = mkdtempSync(join(tmpdir(), "natrium-prop-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(text: string): string {
  const f = join(dir, `c${n++}.yaml`);
  writeFileSync(f, text);
  return f;
}

const schemas = [MasterConfig, MinionConfig, JobcacheConfig];
const keys = [...new Set(schemas.flatMap((s) => Object.keys(s.properties)))];

/** Every way a service reads a config file: the value, or a ConfigError. */
function loadAll(f: string | undefined, overrides: Record<string, unknown> = {}): void {
  for (const schema of schemas) {
    const r = typedOrValue(() => loadConfig(schema, f, overrides, {}));
    if (!r.ok) assert.ok(r.err instanceof ConfigError, `${r.err.name}: ${r.err.message}`);
  }
  const r = typedOrValue(() => loadMinionConfig(f, overrides, {}));
  if (!r.ok) assert.ok(r.err instanceof ConfigError, `${r.err.name}: ${r.err.message}`);
}

const validMaster = `ns: prod\ntimeout: 10\nautosign: ['web*']\nusers:\n  alice:\n    pub: ${minion.pub}\n    acl: [test.ping, {'web*': [cmd.run]}]\ngrains: {}\n`;

const hostileYaml = fc.constantFrom(
  "grains: &a { x: *a }", "module_dirs: &a [ *a ]", "users: &u { alice: *u }", "autosign: &a [a, *a]",
  "grains: { x: " + "[".repeat(5_000) + "]".repeat(5_000) + " }",
  "grains: {x: " + "{a: ".repeat(150) + "1" + "}".repeat(150) + "}",
  "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]",
  "id: !!binary aGVsbG8=", "? [a, b]\n: 1", "__proto__: {id: x}", "constructor: 1", "job_timeout: 123456789012345678901234567890",
  "x".repeat(2_000) + ": 1", `id: ${HUGE_STRING}`, "\u0000\uffff", "- a\n- b", "42", "~", "", "---\n...\n---", "%YAML 9.9\n---\na: 1",
  "grains: [a, b]", "grains: {0: a, 1: b}", "users: {'bad name!': {pub: x}}", "stream_replicas: .inf", "ns: .nan",
);

test("config - any YAML text: a config or a ConfigError", () => {
  fc.assert(
    fc.property(
      fc.oneof(
        hostileYaml,
        fc.string({ maxLength: 200 }),
        fc.string({ unit: "binary", maxLength: 200 }),
        fc.dictionary(fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 12 })), fc.anything({ maxDepth: 3 }), { maxKeys: 4 }).map((d) => stringify(d)),
        fc.tuple(fc.nat(validMaster.length), fc.nat(validMaster.length), fc.string({ maxLength: 10 })).map(([a, b, s]) => validMaster.slice(0, Math.min(a, b)) + s + validMaster.slice(Math.max(a, b))),
      ),
      (text) => loadAll(file(text)),
    ),
    { numRuns: RUNS },
  );
});

test("config - any value for any key, as an override: a config or a ConfigError", () => {
  fc.assert(
    fc.property(fc.dictionary(fc.oneof(fc.constantFrom(...keys), fc.string({ maxLength: 12 })), wrongValue, { maxKeys: 3 }), (overrides) => loadAll(undefined, overrides)),
    { numRuns: RUNS },
  );
});

test("config - regression: a YAML alias inside its own anchor overflowed the stack", () => {
  // Found by the YAML property: `grains: &a { x: *a }` parses to a circular object, and
  // Value.Clone recursed until a raw RangeError escaped. Now a ConfigError names the key.
  for (const [text, key] of [["grains: &a { x: *a }", "grains"], ["module_dirs: &a [ *a ]", "module_dirs"], ["users: &u { alice: *u }", "users"]]) {
    const err = rejects(() => loadConfig(text.startsWith("module") || text.startsWith("grains") ? MinionConfig : MasterConfig, file(text), {}, {}), ConfigError);
    assert.equal(err.key, key);
    assert.match(err.message, /contains itself/);
  }
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  rejects(() => loadConfig(MinionConfig, undefined, { grains: circular }, {}), ConfigError);
  // A shared, not circular, alias is fine.
  const ok = loadConfig(MasterConfig, file("autosign: &a ['web*']\nusers: {alice: {pub: " + minion.pub + ", acl: *a}}"), {}, {});
  assert.deepEqual(ok.users.alice.acl, ["web*"]);
});

test("config - regression: a BigInt or huge override value broke the error message", () => {
  // Found by the override property: the message used JSON.stringify (a raw TypeError on a
  // BigInt) and echoed the whole value.
  assert.match(rejects(() => loadConfig(MinionConfig, undefined, { job_timeout: 10n }, {}), ConfigError).message, /got 10n/);
  const long = rejects(() => loadConfig(MinionConfig, undefined, { job_timeout: HUGE_STRING }, {}), ConfigError).message;
  assert.ok(long.length < 600, `message of ${long.length} characters`);
});

test("config - valid files load back what they say", () => {
  fc.assert(
    fc.property(
      fc.stringMatching(/^[a-z][a-z0-9_-]{0,31}$/),
      fc.double({ min: 0.1, max: 86_400, noNaN: true }),
      fc.array(fc.stringMatching(/^[a-z0-9*?.-]{1,20}$/), { maxLength: 5 }),
      (ns, timeout, autosign) => {
        const cfg = loadConfig(MasterConfig, file(stringify({ ns, timeout, autosign })), {}, {});
        assert.equal(cfg.ns, ns);
        assert.equal(cfg.timeout, timeout);
        assert.deepEqual(cfg.autosign, autosign);
      },
    ),
    { numRuns: RUNS },
  );
});

test("config - compileAcl of any ACL a valid config can hold: rules or a typed error", () => {
  const pattern = fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.constantFrom("[z-a]", "[", "]", "web*", "test.*", "[!a]", "\\"));
  fc.assert(
    fc.property(fc.array(fc.oneof(pattern, fc.dictionary(pattern, fc.array(pattern, { maxLength: 3 }), { maxKeys: 3 })), { maxLength: 5 }), (acl) => {
      const r = typedOrValue(() => compileAcl("alice", acl));
      if (!r.ok) assert.ok(r.err instanceof NatriumError && r.err.code === "bad_config");
    }),
    { numRuns: RUNS },
  );
});
