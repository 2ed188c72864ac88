// Job control on a real minion (saltutil.running, find_job, kill_job, term_job, signal_job):
// a test driver plays the master over a real nats-server; the commands are real processes, and
// the tests check that a signal reaches them (their pid files, their traps, process.kill(pid, 0)).

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { ephemeralKeys } from "../../services/common/keys.js";
import { Driver, quiet } from "../helpers/driver.js";
import { Minion, type MinionOptions } from "../../services/minion/minion.js";
import { natsFixture } from "../helpers/fixture.js";
import { waitFor } from "../helpers/ports.js";

const fx = natsFixture("natrium-jobctl-test-");

async function setup(opts: Partial<MinionOptions> = {}) {
  const d = await Driver.start(fx.nats.url);
  const nc = await connect({ servers: fx.nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const minion = new Minion({ nc, ns: d.s.ns, id: "web1", keys: ephemeralKeys(), log: quiet, ...opts });
  await minion.start();
  await d.setKey(minion.id, "accepted");
  await minion.whenAccepted();
  fx.cleanups.push(async () => {
    await minion.stop({ graceMs: 500 });
    await nc.close();
    await d.close();
  });
  return { d, minion };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Wait until process group `pgid` holds a `comm` process (exec'd): a signal sent to a shell's
 * child between its fork and its exec may be taken by the shell's copied trap and lost.
 */
function inGroup(pgid: number, comm: string): Promise<true> {
  return waitFor(`a ${comm} process in group ${pgid}`, () => {
    for (const d of readdirSync("/proc")) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const st = readFileSync(`/proc/${d}/stat`, "utf8");
        const close = st.lastIndexOf(")");
        const name = st.slice(st.indexOf("(") + 1, close);
        const fields = st.slice(close + 2).split(" ");
        if (name === comm && Number(fields[2]) === pgid) return true;
      } catch {
        // gone meanwhile
      }
    }
    return undefined;
  }, 10_000, 20);
}

/** The pid a command wrote to `file`, once it has. */
function pidIn(file: string): Promise<number> {
  return waitFor(`a pid in ${file}`, () => {
    if (!existsSync(file)) return undefined;
    const n = Number(readFileSync(file, "utf8").trim());
    return n > 0 ? n : undefined;
  }, 10_000, 20);
}

test("jobctl - running and find_job show a running cmd.run with its process; kill_job kills it and its return says so", async () => {
  const { d, minion } = await setup();
  const pidFile = join(fx.tmp, "kill.pid");
  const { jid } = await d.publish({ fun: "cmd.run", arg: [`echo $$ > ${pidFile}; sleep 600`] });
  const pid = await pidIn(pidFile);
  assert.ok(alive(pid));

  const { jid: rj } = await d.publish({ fun: "saltutil.running" });
  const running = (await d.ret(rj, minion.id)).return as { jid: string; fun: string; arg: unknown[]; pids: number[]; start: number; queued: boolean }[];
  assert.equal(running.length, 1, "saltutil.running leaves itself out");
  assert.equal(running[0].jid, jid);
  assert.equal(running[0].fun, "cmd.run");
  assert.deepEqual(running[0].pids, [pid], "the shell leads the command's process group");
  assert.equal(running[0].queued, false);
  assert.ok(running[0].start <= Date.now());

  const { jid: fj } = await d.publish({ fun: "saltutil.find_job", arg: [jid] });
  assert.equal(((await d.ret(fj, minion.id)).return as { jid: string }).jid, jid);
  const { jid: nj } = await d.publish({ fun: "saltutil.find_job", arg: ["20200101000000000000"] });
  assert.deepEqual((await d.ret(nj, minion.id)).return, {});

  const { jid: kj } = await d.publish({ fun: "saltutil.kill_job", arg: [jid] });
  const k = await d.ret(kj, minion.id);
  assert.equal(k.success, true);
  assert.deepEqual(k.return, { jid, fun: "cmd.run", signal: "SIGKILL", pids: [pid], killed: true });

  const r = await d.ret(jid, minion.id);
  assert.equal(r.success, false);
  assert.equal(r.error?.code, "job_killed");
  assert.equal(r.return, "job killed by saltutil.kill_job (SIGKILL)");
  await waitFor("the killed command's process group to be gone", () => (alive(pid) || alive(-pid) ? undefined : true), 5000, 20);
  assert.deepEqual(minion.running(), []);

  // Killing it again finds nothing.
  const { jid: kj2 } = await d.publish({ fun: "saltutil.kill_job", arg: [jid] });
  assert.deepEqual((await d.ret(kj2, minion.id)).return, {});
});

test("jobctl - signal_job delivers SIGUSR1 and SIGTERM to a command that traps them; the job returns what the command did", async () => {
  const { d, minion } = await setup();
  for (const sig of ["SIGUSR1", "TERM"]) {
    const name = sig.replace(/^SIG/, "");
    const got = join(fx.tmp, `got-${name}`);
    const pidFile = join(fx.tmp, `trap-${name}.pid`);
    const { jid } = await d.publish({ fun: "cmd.run", arg: [`trap 'echo got >> ${got}; exit 3' ${name}; echo $$ > ${pidFile}; sleep 600 & wait`] });
    const pid = await pidIn(pidFile);
    await inGroup(pid, "sleep");
    const { jid: sj } = await d.publish({ fun: "saltutil.signal_job", arg: [jid, sig] });
    const s = await d.ret(sj, minion.id);
    assert.deepEqual(s.return, { jid, fun: "cmd.run", signal: `SIG${name}`, pids: [pid], killed: false }, JSON.stringify(s.return));
    const r = await d.ret(jid, minion.id);
    assert.equal(readFileSync(got, "utf8"), "got\n", `the trap for ${name} ran`);
    assert.equal(r.retcode, 3, "the command's own exit status: the job went on to its end");
    assert.equal(r.success, false);
    assert.equal(r.error, undefined);
  }
});

test("jobctl - term_job ends a job; a job with no process (test.sleep) is killed by signal_job TERM; a number names a signal", async () => {
  const { d, minion } = await setup();
  const pidFile = join(fx.tmp, "term.pid");
  const { jid } = await d.publish({ fun: "cmd.run", arg: [`echo $$ > ${pidFile}; sleep 600`] });
  const pid = await pidIn(pidFile);
  const { jid: tj } = await d.publish({ fun: "saltutil.term_job", arg: [jid] });
  assert.equal(((await d.ret(tj, minion.id)).return as { killed: boolean }).killed, true);
  const r = await d.ret(jid, minion.id);
  assert.equal(r.return, "job killed by saltutil.term_job (SIGTERM)");
  await waitFor("the terminated command to be gone", () => (alive(pid) ? undefined : true), 5000, 20);

  const { jid: sl } = await d.publish({ fun: "test.sleep", arg: [600] });
  await waitFor("test.sleep to run", () => minion.running().some((j) => j.jid === sl) || undefined, 5000, 20);
  const { jid: sj } = await d.publish({ fun: "saltutil.signal_job", arg: [sl, 15] });
  assert.deepEqual((await d.ret(sj, minion.id)).return, { jid: sl, fun: "test.sleep", signal: "SIGTERM", pids: [], killed: true });
  const r2 = await d.ret(sl, minion.id);
  assert.equal(r2.success, false);
  assert.equal(r2.return, "job killed by saltutil.signal_job (SIGTERM)");

  const { jid: bad } = await d.publish({ fun: "saltutil.signal_job", arg: [sl, "SIGNOPE"] });
  const b = await d.ret(bad, minion.id);
  assert.equal(b.success, false);
  assert.match(String(b.return), /unknown signal "SIGNOPE"/);
});

test("jobctl - job control runs outside process_count_max; a queued job that is killed leaves the queue", async () => {
  const { d, minion } = await setup({ processCountMax: 1 });
  const { jid: a } = await d.publish({ fun: "test.sleep", arg: [600] });
  await waitFor("the first job to run", () => minion.running().length === 1 || undefined, 5000, 20);
  const { jid: c } = await d.publish({ fun: "test.sleep", arg: [600] });
  await waitFor("the second job to be queued", () => minion.queued().some((j) => j.jid === c) || undefined, 5000, 20);
  // With the only slot taken, saltutil still answers at once.
  const { jid: rj } = await d.publish({ fun: "saltutil.running" });
  const table = (await d.ret(rj, minion.id)).return as { jid: string; queued: boolean }[];
  assert.deepEqual(table.map((j) => [j.jid, j.queued]), [[a, false], [c, true]]);
  const { jid: kc } = await d.publish({ fun: "saltutil.kill_job", arg: [c] });
  assert.equal(((await d.ret(kc, minion.id)).return as { killed: boolean }).killed, true);
  assert.equal((await d.ret(c, minion.id)).return, "job killed by saltutil.kill_job (SIGKILL)");
  assert.deepEqual(minion.queued(), []);
  assert.deepEqual(minion.running().map((j) => j.jid), [a], "the running job goes on");
  const { jid: ka } = await d.publish({ fun: "saltutil.kill_job", arg: [a] });
  await d.ret(ka, minion.id);
  assert.equal((await d.ret(a, minion.id)).error?.code, "job_killed");
});
