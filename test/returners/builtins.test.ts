// The built-in table: every name loads a module whose default export is a returner the host
// can run, and whose header comment documents every config key it reads.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { builtins } from "../../services/returners/builtins.js";
import { ReturnerConfigError } from "../../services/returners/errors.js";
import { ROOT } from "../helpers/cli.js";
import { memoryLog } from "../helpers/returns.js";

test("builtins - webhook, syslog, redis and pg load as returner modules", async () => {
  for (const name of ["webhook", "syslog", "redis", "pg"]) {
    assert.ok(builtins[name], name);
    const mod = (await builtins[name]()).default;
    assert.equal(typeof mod.returner, "function", `${name}.returner`);
    assert.equal(typeof mod.setup, "function", `${name}.setup`);
    assert.equal(typeof mod.close, "function", `${name}.close`);
    assert.ok(mod.description && mod.description.length > 10, `${name}.description`);
  }
});

test("builtins - each header documents the keys its setup accepts", async () => {
  for (const name of ["webhook", "syslog", "redis", "pg"]) {
    const source = readFileSync(join(ROOT, "services/returners", `${name}.ts`), "utf8");
    const header = source.slice(0, source.indexOf("\nimport "));
    // The unknown-key error lists every key the module read: each must be in the header.
    const mod = (await builtins[name]()).default;
    const err = await Promise.resolve()
      .then(() => mod.setup!({ name, ns: "natrium", config: { ...(name === "webhook" ? { url: "http://127.0.0.1:1/" } : name === "pg" ? { url: "postgres://127.0.0.1:1/x" } : {}), zz_unknown: 1 }, log: memoryLog(), signal: new AbortController().signal }))
      .then(() => undefined, (e: unknown) => e);
    assert.ok(err instanceof ReturnerConfigError, `${name}: ${err}`);
    const known = /known keys: (.*)$/.exec(err.message)?.[1].split(", ") ?? [];
    assert.ok(known.length >= 5, `${name}: ${err.message}`);
    for (const key of known) assert.match(header, new RegExp(`^//   ${key} `, "m"), `${name}'s header documents ${key}`);
    const docs = readFileSync(join(ROOT, "docs/returners-builtin.md"), "utf8");
    const section = docs.slice(docs.indexOf(`## ${name}`));
    for (const key of known) assert.ok(section.includes(`| \`${key}\` |`), `docs/returners-builtin.md documents ${name}'s ${key}`);
  }
});
