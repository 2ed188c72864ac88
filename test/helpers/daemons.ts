// Daemons of the built CLI (`natrium master|minion|jobcache …`) as child processes, each
// writing its output to a log file that a failed test prints, and subtests that remember
// whether one failed (so the test can print those logs: CI keeps nothing else of them).
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import type { TestContext } from "node:test";
import { BIN } from "./cli.js";

/** A daemon of the built CLI; everything it prints goes to `logFile` as it comes. */
export function daemon(args: string[], logFile: string): ChildProcess {
  const p = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  const keep = (d: Buffer) => {
    out += d;
    writeFileSync(logFile, out);
  };
  p.stdout!.on("data", keep);
  p.stderr!.on("data", keep);
  return p;
}

/** SIGTERM, and SIGKILL if it has not exited 10 s later. */
export async function stopDaemon(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once("exit", r));
  p.kill("SIGTERM");
  const t = setTimeout(() => p.kill("SIGKILL"), 10_000);
  await exited;
  clearTimeout(t);
}

/** `t.test` that records a failure: `failed()` tells the test's cleanup to print the daemons' logs. */
export function trackedSubtests(t: TestContext): { test: (name: string, fn: () => Promise<void>) => Promise<void>; failed: () => boolean } {
  let failed = false;
  return {
    test: (name, fn) =>
      t.test(name, async () => {
        try {
          await fn();
        } catch (err) {
          failed = true;
          throw err;
        }
      }),
    failed: () => failed,
  };
}
