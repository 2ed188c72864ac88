// The Python returner example (examples/returners/jsonl_returner.py), run with Debian's python3
// and its python3-msgpack and python3-nacl against a real nats-server: it writes every genuine
// return, dead-letters a forged one as refused and, when its file cannot be written, retries
// then dead-letters as failed; `natrium returners list` sees its durable. It uses only the wire
// contract, so this is the contract's test from outside TypeScript.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { natsFixture } from "../helpers/fixture.js";
import { ROOT } from "../helpers/cli.js";
import { publishAll } from "../../services/jobcache/testkit.js";
import { readDeadLetters } from "../../services/returners/deadletter.js";
import { freshNs, jid, jsonlEids, killProc, openBus, publishJobs, returnerInfo, startReturnerProcess, until, type Started } from "../returners/kit.js";

const fx = natsFixture("natrium-python-");
const SCRIPT = join(ROOT, "examples/returners/jsonl_returner.py");
// Debian's interpreter, where apt put python3-msgpack and python3-nacl (.ci/run installs them).
const PYTHON = "/usr/bin/python3";

function startPython(env: Record<string, string>): Started {
  const r = startReturnerProcess(PYTHON, [SCRIPT], { PATH: process.env.PATH ?? "", ...env });
  fx.cleanups.push(() => killProc(r.proc, "SIGKILL"));
  return r;
}

test("returners - the Python example writes every genuine return, dead-letters a forged one, and a write that keeps failing", { timeout: 120_000 }, async () => {
  const ns = freshNs("py");
  const minions = ["web1", "db.example.com"];
  const bus = await openBus(fx.nats.url, ns, minions);
  const out = join(fx.tmp, `${ns}.jsonl`);
  const py = startPython({ NATS_URL: fx.nats.url, NATRIUM_NS: ns, NAME: "py", OUT: out, FROM: "all" });
  const full = startPython({ NATS_URL: fx.nats.url, NATRIUM_NS: ns, NAME: "py-full", OUT: "/dev/full", FROM: "all", MAX_DELIVER: "2", RETRY_BASE: "0.05" });
  try {
    await Promise.all([py.started, full.started]);
    const eids = await publishJobs(bus, 0, 100, minions);
    await publishAll(bus.js, [bus.cast.jobRet(jid(900), "intruder")]);

    await until("every return in the file", async () => jsonlEids(out).size, (n) => n >= eids.length).catch((err: Error) => {
      throw new Error(`${err.message}\n${py.log()}`);
    });
    const got = jsonlEids(out);
    assert.deepEqual(eids.filter((e) => !got.has(e)), []);
    assert.equal(got.size, eids.length, "something other than the genuine returns was written");
    const info = await until("returners list to show it caught up", () => returnerInfo(bus, "py"), (x) => !!x && x.pending === 0 && x.ack_pending === 0);
    assert.equal(info?.consumer, "returner_py");
    const refused = await until("the forged return's dead letter", () => readDeadLetters(bus.nc, bus.s, "py", 10), (d) => d.length >= 1);
    assert.equal(refused.length, 1);
    assert.equal(refused[0].why, "refused");
    assert.equal(refused[0].eid, `${jid(900)}.ret.intruder`);
    assert.match(refused[0].error, /unknown_signer/);

    // /dev/full takes the open and fails every write: two attempts each, then a dead letter.
    const failed = await until("py-full's dead letters", () => readDeadLetters(bus.nc, bus.s, "py-full", 1000), (d) => d.length >= eids.length + 1);
    const writeFailed = failed.filter((d) => d.why === "failed");
    assert.equal(writeFailed.length, eids.length);
    assert.ok(writeFailed.every((d) => d.attempts === 2 && /No space left on device/.test(d.error)), JSON.stringify(writeFailed[0]));
    assert.equal(failed.filter((d) => d.why === "refused").length, 1);
    await until("py-full's durable to drain", () => returnerInfo(bus, "py-full"), (x) => !!x && x.pending === 0 && x.ack_pending === 0);

    // SIGTERM: it leaves between two pulls, cleanly.
    const exited = new Promise<number | null>((r) => py.proc.once("exit", r));
    py.proc.kill("SIGTERM");
    assert.equal(await exited, 0, py.log());
  } finally {
    await killProc(py.proc);
    await killProc(full.proc);
    await bus.close();
  }
});
