// A real nats-server with JetStream on a free loopback port, in a temp dir, owned by the test.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as netConnect } from "node:net";
import { freePort, waitFor } from "./ports.js";

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

/**
 * A free port is only free until someone binds it: tests running side by side (and CI next to
 * a developer's runs) can pick the same one. A server that could not bind is retried on another.
 */
export async function startNats(opts: StartNatsOptions = {}): Promise<NatsServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startNatsOnce(opts);
    } catch (err) {
      if (attempt >= 4 || !/address already in use/i.test(String((err as Error).message))) throw err;
    }
  }
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
      const p = spawn(NATS_BIN, args, {
        stdio: ["ignore", "ignore", "pipe"],
      });
      let err = "";
      let ready = false;
      p.stderr!.on("data", (d) => {
        err = (err + d).slice(-4000);
        fullLog = (fullLog + d).slice(-1_000_000);
        // Its own words, not an open port: another test's server may have taken the port first.
        if (!ready && err.includes("Server is ready")) ready = true;
      });
      srv.proc = p;
      await waitFor(`nats-server on ${port} (${err})`, async () => (p.exitCode === null && p.signalCode === null ? ready && portOpen(port) : Promise.reject(new Error(err))), 15_000);
    },
    async kill(signal: NodeJS.Signals = "SIGKILL") {
      const p = srv.proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise((r) => p.once("exit", r));
      p.kill(signal);
      await exited;
    },
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
    await srv.kill();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return srv;
}
