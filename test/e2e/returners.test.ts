// Returners as a user meets them: `natrium up`, a jsonl returner in `requested` mode started
// from the CLI without flags for the stack, and `natrium run --return NAME`: only the job that
// named it lands in its file, with the returns real minions signed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, readFileSync, existsSync } from "node:fs";
import { spawn } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BIN, cliJson, startUp, stopUp } from "../helpers/cli.js";
import { killProc, until } from "../returners/kit.js";
import type { RunResult } from "../../cli/lib/run.js";
import type { ReturnerInfo } from "../../contracts/returners.js";

test("e2e - run --return reaches a returner in requested mode, and only that job does", { timeout: 600_000 }, async () => {
  const work = mkdtempSync(join(tmpdir(), "natrium-e2e-ret-"));
  const env: NodeJS.ProcessEnv = { ...process.env, NATRIUM_HOME: join(work, "home") };
  delete env.NATS_URL;
  delete env.NATRIUM_NS;
  delete env.DATABASE_URL;
  const up = await startUp(["--minions", "web1,web2"], { cwd: work, env });
  const path = join(work, "asked.jsonl");
  const ret = spawn(process.execPath, [BIN, "returner", "start", "--module", "jsonl", "--name", "asked", "--mode", "requested", "--config", `path=${path}`], { cwd: work, env, stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  ret.stderr!.on("data", (d) => (log += d));
  try {
    await until("the returner to start", async () => log, (l) => l.includes('"returner started"') || ret.exitCode !== null);
    assert.equal(ret.exitCode, null, log);
    const asked = await cliJson<RunResult>(["run", "*", "test.ping", "--return", "asked"], { cwd: work, env });
    assert.equal(asked.code, 0, asked.stderr);
    const plain = await cliJson<RunResult>(["run", "*", "test.ping"], { cwd: work, env });
    assert.equal(plain.code, 0, plain.stderr);
    const lines = await until(
      "both returns of the asked job in the file",
      async () => (existsSync(path) ? readFileSync(path, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { jid: string; id: string; return: unknown }) : []),
      (ls) => ls.filter((l) => l.jid === asked.data.jid).length === 2,
    );
    assert.deepEqual(lines.filter((l) => l.jid === asked.data.jid).map((l) => [l.id, l.return]).sort(), [["web1", true], ["web2", true]]);
    // The plain job went through the returner's consumer too (it reads every event): once it is
    // settled, the plain job's returns were seen and left out.
    await until("the returner to settle", async () => (await cliJson<{ returners: ReturnerInfo[] }>(["returners", "list"], { cwd: work, env })).data.returners, (rs) => rs.some((r) => r.name === "asked" && r.pending === 0 && r.ack_pending === 0));
    const all = readFileSync(path, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { jid: string });
    assert.equal(all.filter((l) => l.jid === plain.data.jid).length, 0);
  } finally {
    await killProc(ret);
    await stopUp(up.proc);
    rmSync(work, { recursive: true, force: true });
  }
});
