// A real redis-server on a free loopback port in a temp dir, owned by the test. Nothing is
// persisted (no RDB snapshots, no AOF): a restart starts empty, like a crashed cache.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor } from "./ports.js";

export const REDIS_BIN = process.env.REDIS_SERVER_BIN ?? "redis-server";

export interface RedisServer {
  url: string;
  port: number;
  dir: string;
  proc: ChildProcess;
  /** Start (again) on the same port and dir. */
  start(): Promise<void>;
  /** Kill the process (SIGKILL by default) and wait for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Kill it and remove its dir. */
  stop(): Promise<void>;
  log(): string;
}

export interface StartRedisOptions {
  /** More redis-server arguments, e.g. ["--requirepass", "pw"]. */
  args?: string[];
}

/** A port taken between freePort() and the bind (tests side by side) is retried on another. */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startRedisOnce(opts);
    } catch (err) {
      if (attempt >= 4 || !/address already in use/i.test(String((err as Error).message))) throw err;
    }
  }
}

async function startRedisOnce(opts: StartRedisOptions): Promise<RedisServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "natrium-redis-"));
  let fullLog = "";
  const srv: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    proc: undefined as unknown as ChildProcess,
    async start() {
      const p = spawn(
        REDIS_BIN,
        ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--protected-mode", "yes", ...(opts.args ?? [])],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      let ready = false;
      const onData = (d: Buffer) => {
        fullLog = (fullLog + d).slice(-1_000_000);
        // Its own words, not an open port: another test's server may hold the port.
        if (!ready && fullLog.includes("Ready to accept connections")) ready = true;
      };
      p.stdout!.on("data", onData);
      p.stderr!.on("data", onData);
      srv.proc = p;
      await waitFor(
        `redis-server on ${port}`,
        () => (p.exitCode === null && p.signalCode === null ? ready || undefined : Promise.reject(new Error(fullLog.slice(-2000)))),
        15_000,
      );
    },
    async kill(signal: NodeJS.Signals = "SIGKILL") {
      const p = srv.proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise((r) => p.once("exit", r));
      p.kill(signal);
      await exited;
    },
    log: () => fullLog,
    async stop() {
      await srv.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await srv.start();
  } catch (err) {
    await srv.kill();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return srv;
}
