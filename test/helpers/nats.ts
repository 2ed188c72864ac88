// A real nats-server with JetStream on a free loopback port, in a temp dir, owned by the test.
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as netConnect } from "node:net";
import { freePort } from "./ports.js";
import { killAndWait, retryPortClash, spawnReady } from "./server.js";

export interface NatsServer {
  url: string;
  port: number;
  dir: string;
  proc: ChildProcess;
  /** Kill -9 and start again on the same port and store dir. */
  restart(): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** What the server has logged so far (its last megabyte). */
  log(): string;
  /** Re-read the config file (SIGHUP), as `nats-server --signal reload` does. */
  reload(): void;
}

export const NATS_BIN = process.env.NATS_SERVER_BIN ?? "nats-server";

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect({ host: "127.0.0.1", port }, () => { s.destroy(); resolve(true); });
    s.on("error", () => resolve(false));
  });
}

export interface StartNatsOptions {
  args?: string[];
  /**
   * Run from a config file instead of flags: called with the port and the temp dir, returns the
   * file (which must listen on that port and keep JetStream in the dir, so that a reload works).
   */
  configFor?: (port: number, dir: string) => Promise<string> | string;
}

/** A nats-server on a free port (retried on another if a test side by side took it first). */
export function startNats(opts: StartNatsOptions = {}): Promise<NatsServer> {
  return retryPortClash(() => startNatsOnce(opts));
}

async function startNatsOnce(opts: StartNatsOptions): Promise<NatsServer> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "natrium-nats-"));
  let fullLog = "";
  const srv: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    proc: undefined as unknown as ChildProcess,
    async start() {
      const args = opts.configFor
        ? ["-c", await opts.configFor(port, dir), ...(opts.args ?? [])]
        : ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", join(dir, "js"), ...(opts.args ?? [])];
      srv.proc = await spawnReady(`nats-server on ${port}`, NATS_BIN, args, "Server is ready", (d) => {
        fullLog = (fullLog + d).slice(-1_000_000);
      }, () => portOpen(port));
    },
    kill: (signal: NodeJS.Signals = "SIGKILL") => killAndWait(srv.proc, signal),
    log: () => fullLog,
    reload() {
      srv.proc.kill("SIGHUP");
    },
    async restart() {
      await srv.kill("SIGKILL");
      await srv.start();
    },
    async stop() {
      await srv.kill("SIGTERM");
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
