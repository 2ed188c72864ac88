// A real redis-server on a free loopback port in a temp dir, owned by the test. Nothing is
// persisted (no RDB snapshots, no AOF): a restart starts empty, like a crashed cache.
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./ports.js";
import { killAndWait, retryPortClash, spawnReady } from "./server.js";

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

/** A redis-server on a free port (retried on another if a test side by side took it first). */
export function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  return retryPortClash(() => startRedisOnce(opts));
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
      srv.proc = await spawnReady(
        `redis-server on ${port}`,
        REDIS_BIN,
        ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--protected-mode", "yes", ...(opts.args ?? [])],
        "Ready to accept connections",
        (d) => {
          fullLog = (fullLog + d).slice(-1_000_000);
        },
      );
    },
    kill: (signal: NodeJS.Signals = "SIGKILL") => killAndWait(srv.proc, signal),
    log: () => fullLog,
    async stop() {
      await srv.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
  try {
    await srv.start();
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return srv;
}
