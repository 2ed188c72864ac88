// Pure parts of job control: signal names, and folding saltutil answers into the CLI's tables.
import { test } from "node:test";
import assert from "node:assert/strict";
import { _signalName } from "../../services/minion/modules/saltutil.js";
import { foldRunning, foldSignal } from "../../cli/lib/jobctl.js";
import type { RunResult } from "../../cli/lib/run.js";
import { ArgumentError } from "../../services/minion/errors.js";

const ok = (ret: unknown) => ({ return: ret, retcode: 0, success: true, duration_ms: 1 });

test("jobctl - signal names: SIG-prefixed or not, any case, or a number", () => {
  assert.equal(_signalName("f", "SIGTERM"), "SIGTERM");
  assert.equal(_signalName("f", "usr1"), "SIGUSR1");
  assert.equal(_signalName("f", "Hup"), "SIGHUP");
  assert.equal(_signalName("f", 9), "SIGKILL");
  assert.equal(_signalName("f", "15"), "SIGTERM");
  for (const bad of ["SIGNOPE", "", 0, 999, null, {}]) assert.throws(() => _signalName("f", bad), ArgumentError, String(bad));
});

test("jobctl - foldRunning: one row per job with its minions and earliest start; failures and silence apart", () => {
  const r: RunResult = {
    jid: "1".repeat(20),
    minions: ["a", "b", "c", "d"],
    returns: {
      b: ok([{ jid: "20260000000000000002", fun: "cmd.run", arg: ["sleep 9"], user: "u", start: 20 }]),
      a: ok([
        { jid: "20260000000000000002", fun: "cmd.run", arg: ["sleep 9"], user: "u", start: 10 },
        { jid: "20260000000000000001", fun: "test.sleep", arg: [5], user: "v", start: 30 },
      ]),
      c: { return: "'saltutil.running' is not available.", retcode: 254, success: false, duration_ms: 1 },
    },
    missing: ["d"],
  };
  assert.deepEqual(foldRunning(r), {
    jobs: [
      { jid: "20260000000000000002", fun: "cmd.run", arg: ["sleep 9"], user: "u", minions: ["a", "b"], start: 10 },
      { jid: "20260000000000000001", fun: "test.sleep", arg: [5], user: "v", minions: ["a"], start: 30 },
    ],
    missing: ["d"],
    failed: { c: "'saltutil.running' is not available." },
  });
});

test("jobctl - foldSignal: killed, signalled, not running, failed, no response, per minion", () => {
  const jid = "20260000000000000002";
  const r: RunResult = {
    jid: "9".repeat(20),
    minions: ["a", "b", "c", "d", "e"],
    returns: {
      a: ok({ jid, fun: "cmd.run", signal: "SIGKILL", pids: [42], killed: true }),
      b: ok({ jid, fun: "cmd.run", signal: "SIGKILL", pids: [], killed: false }),
      c: ok({}),
      d: { return: "boom", retcode: 1, success: false, duration_ms: 1 },
    },
    missing: ["e"],
  };
  assert.deepEqual(foldSignal(jid, "SIGKILL", r), {
    jid, signal: "SIGKILL", via: "9".repeat(20),
    minions: [
      { minion: "a", state: "killed", pids: [42] },
      { minion: "b", state: "signalled", pids: [] },
      { minion: "c", state: "not_running", pids: [] },
      { minion: "d", state: "failed", pids: [], error: "boom" },
      { minion: "e", state: "no_response", pids: [] },
    ],
  });
});
