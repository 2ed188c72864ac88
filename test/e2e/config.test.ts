// A wrong key or a wrong type in a config file stops each daemon at start, naming the key.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { cli as rawCli } from "../helpers/cli.js";

// oclif wraps long error lines with " ›   " prefixes; read the message as one line.
const cli = async (args: string[], opts: { cwd: string }) => {
  const r = await rawCli(args, opts);
  return { ...r, stderr: r.stderr.replace(/\s*›\s*/g, " ").replace(/\s+/g, " ") };
};

test("e2e - daemons refuse a bad config file with a message naming the key", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "natrium-cfg-"));
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  try {
    for (const daemon of ["master", "minion", "jobcache"]) {
      const typo = await cli([daemon, "-c", file(`${daemon}-typo.yaml`, `nats_ulr: nats://127.0.0.1:1\ndata_dir: ${dir}\n`)], { cwd: dir });
      assert.equal(typo.code, 2, `${daemon}: ${typo.stderr}`);
      assert.match(typo.stderr, /unknown key "nats_ulr" \(did you mean "nats_url"\?\)/, daemon);
      const type = await cli([daemon, "-c", file(`${daemon}-type.yaml`, `log_level: loud\ndata_dir: ${dir}\n`)], { cwd: dir });
      assert.equal(type.code, 2, `${daemon}: ${type.stderr}`);
      assert.match(type.stderr, /key "log_level"/, daemon);
    }
    const master = await cli(["master", "-c", file("m.yaml", `timeout: soon\ndata_dir: ${dir}\n`)], { cwd: dir });
    assert.equal(master.code, 2);
    assert.match(master.stderr, /m\.yaml: key "timeout": Expected number \(got "soon"\)/);
    const yaml = await cli(["master", "-c", file("bad.yaml", "a: [unclosed\n")], { cwd: dir });
    assert.equal(yaml.code, 2);
    assert.match(yaml.stderr, /bad\.yaml: not valid YAML/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
