// Job control through the whole stack (master, minions, job cache): the CLI's `jobs active` and
// `jobs kill` paths (cli/lib/jobctl*.ts over runJob), and the master's Salt-style timeouts: at a
// job's timeout it asks silent minions with saltutil.find_job, waits on for those still running
// (up to job_max_wait), and its job.done tells returned, running and not responding apart.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startStack, type Stack } from "../helpers/stack.js";
import { signedRequest } from "../../services/common/bus.js";
import { openAs, verifyAs } from "../../contracts/message.js";
import type { JobDone } from "../../contracts/events/job.js";
import type { Client } from "../../cli/lib/client.js";
import { runJob } from "../../cli/lib/run.js";
import { foldRunning } from "../../cli/lib/jobctl.js";
import { signalJob } from "../../cli/lib/jobctl-cmd.js";
import { waitFor } from "../helpers/ports.js";

let stack: Stack;
let c: Client;

before(async () => {
  stack = await startStack({ ids: ["web1", "web2"], gatherJobTimeoutSec: 1, jobMaxWaitSec: 5 });
  c = {
    nc: stack.nc,
    s: stack.s,
    identity: () => stack.admin,
    api: <T>(verb: Parameters<Client["api"]>[0], body: unknown, timeoutMs = 10_000) => signedRequest<T>(stack.nc, stack.s.api(verb), body, stack.admin, timeoutMs),
    close: async () => {},
  };
});

after(async () => {
  await stack?.stop();
});

/** The job's done event from the stream, verified against the master key. */
function done(jid: string, timeoutMs = 30_000): Promise<JobDone> {
  return waitFor(`job.done of ${jid}`, async () => {
    const m = await stack.jsm.streams.getMessage(stack.s.stream, { last_by_subj: stack.s.jobDone(jid) }).catch(() => null);
    if (!m) return undefined;
    const o = openAs("job.done", m.subject, m.data, m.header);
    verifyAs(o, stack.masterKeys.sign.pub, "the master");
    return o.body;
  }, timeoutMs, 50);
}

test("jobctl stack - jobs active lists a running job on its minion; jobs kill kills it there and its return says so", async () => {
  const r = await stack.publish({ tgt: "web1", fun: "cmd.run", arg: ["sleep 600"], timeout: 60 });
  const web1 = stack.minions.get("web1")!.minion;
  await waitFor("the job to run on web1", () => web1.running().some((j) => j.jid === r.jid) || undefined, 10_000, 20);
  const active = foldRunning(await runJob(c, { tgt: "*", tgt_type: "glob", fun: "saltutil.running", arg: [], kwarg: {}, timeout: 10 }));
  const mine = active.jobs.find((j) => j.jid === r.jid);
  assert.ok(mine, JSON.stringify(active));
  assert.equal(mine.fun, "cmd.run");
  assert.deepEqual(mine.arg, ["sleep 600"]);
  assert.deepEqual(mine.minions, ["web1"]);
  assert.equal(mine.user, "admin");
  assert.deepEqual(active.missing, []);
  assert.ok(!active.jobs.some((j) => j.fun === "saltutil.running"), "the asking job is not listed");

  // The job cache knows the job's minions once its command is projected.
  await stack.cachedJob(r.jid, (j) => j.minions.length === 1, "the job's command");
  const k = await signalJob(c, r.jid, "saltutil.kill_job", [r.jid], "SIGKILL", 10);
  assert.equal(k.minions.length, 1, "asked only the job's minion");
  assert.equal(k.minions[0].minion, "web1");
  assert.equal(k.minions[0].state, "killed");
  assert.equal(k.minions[0].pids.length, 1);
  const j = await stack.cachedJob(r.jid, (j) => j.returns.length === 1 && j.done_reason !== null, "the killed job's return");
  assert.equal(j.returns[0].success, false);
  assert.equal(j.returns[0].return, "job killed by saltutil.kill_job (SIGKILL)");
  assert.equal(j.done_reason, "all_returned");

  const again = await signalJob(c, r.jid, "saltutil.kill_job", [r.jid], "SIGKILL", 10);
  assert.equal(again.minions[0].state, "not_running");
});

test("jobctl stack - a minion slower than the timeout but still running is waited for (find_job), and its return counts", async () => {
  const t0 = Date.now();
  const r = await stack.publish({ tgt: "web1", fun: "cmd.run", arg: ["sleep 3; echo late"], timeout: 1 });
  const d = await done(r.jid);
  assert.equal(d.reason, "all_returned");
  assert.deepEqual(d.returned, ["web1"]);
  assert.deepEqual(d.missing, []);
  assert.equal(d.running, undefined);
  assert.ok(Date.now() - t0 >= 3000);
  const j = await stack.cachedJob(r.jid, (j) => j.returns.length === 1, "the late return");
  assert.equal(j.returns[0].return, "late");
  // The master's find_job is a job of its own, recorded like any other.
  const probes = await stack.sql<{ jid: string; fun: string }[]>`select jid, fun from jobs where fun = 'saltutil.find_job'`;
  assert.ok(probes.length >= 1);
});

test("jobctl stack - when job_max_wait passes while a minion still runs the job, job.done names it running", async () => {
  const r = await stack.publish({ tgt: "web1", fun: "cmd.run", arg: ["sleep 600"], timeout: 1 });
  const d = await done(r.jid);
  assert.equal(d.reason, "timeout");
  assert.deepEqual(d.missing, ["web1"]);
  assert.deepEqual(d.running, ["web1"]);
  assert.ok(d.ts - Number(r.created) >= 4000, "waited up to job_max_wait (5 s)");
  const j = await stack.cachedJob(r.jid, (j) => j.done_reason !== null, "the job's close");
  assert.deepEqual(j.running, ["web1"]);
  await signalJob(c, r.jid, "saltutil.kill_job", [r.jid], "SIGKILL", 10);
});

test("jobctl stack - a stopped minion does not answer find_job: reported missing and not running", async () => {
  const w2 = stack.minions.get("web2")!;
  await w2.minion.stop({ graceMs: 100, deliverMs: 1000 });
  const t0 = Date.now();
  const r = await stack.publish({ tgt: "*", fun: "test.ping", timeout: 1 });
  assert.deepEqual(r.minions, ["web1", "web2"]);
  const d = await done(r.jid);
  assert.equal(d.reason, "timeout");
  assert.deepEqual(d.returned, ["web1"]);
  assert.deepEqual(d.missing, ["web2"]);
  assert.equal(d.running, undefined);
  const took = Date.now() - t0;
  assert.ok(took >= 1900 && took < 10_000, `timeout + gather_job_timeout, not more: ${took} ms`);
});
