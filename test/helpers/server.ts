// What the test servers (nats-server, redis-server) share: a free port that another test may
// take before the bind (retried on another), a process that is ready when it says so in its
// own words (not merely when the port opens: another test's server may hold it), and a kill
// that waits for the exit.
import { spawn, type ChildProcess } from "node:child_process";
import { waitFor } from "./ports.js";

/** Run `startOnce` (which picks its own free port) again when the port was taken meanwhile. */
export async function retryPortClash<T>(startOnce: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce();
    } catch (err) {
      if (attempt >= 4 || !/address already in use/i.test(String((err as Error).message))) throw err;
    }
  }
}

/**
 * Spawn `bin` and wait (15 s) until its output contains `readyText` and `extra` (if given)
 * holds; everything it prints goes to `onOutput`. An exit before that rejects with its last
 * words, which name an address in use when that was the reason.
 */
export async function spawnReady(
  what: string,
  bin: string,
  args: string[],
  readyText: string,
  onOutput: (d: Buffer) => void,
  extra?: () => Promise<boolean>,
): Promise<ChildProcess> {
  const p = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let ready = false;
  const onData = (d: Buffer) => {
    out = (out + d).slice(-4000);
    onOutput(d);
    if (!ready && out.includes(readyText)) ready = true;
  };
  p.stdout!.on("data", onData);
  p.stderr!.on("data", onData);
  try {
    await waitFor(
      what,
      async () => (p.exitCode === null && p.signalCode === null ? (ready && (!extra || (await extra()))) || undefined : Promise.reject(new Error(out))),
      15_000,
    );
  } catch (err) {
    await killAndWait(p);
    throw err;
  }
  return p;
}

/** Signal `p` (SIGKILL by default) and wait for it to exit; nothing if it already has. */
export async function killAndWait(p: ChildProcess | undefined, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once("exit", r));
  p.kill(signal);
  await exited;
}
