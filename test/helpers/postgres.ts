// A real PostgreSQL server on a free loopback port in a temp dir, owned by the test. initdb
// refuses to run as root, so as root the cluster belongs to the 'postgres' system user.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, waitFor } from "./ports.js";

export interface PgServer {
  url: string;
  port: number;
  dir: string;
  proc: ChildProcess;
  /** Stop the server as a crash would (SIGQUIT); start() brings it back on the same data. */
  crash(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function pgBinDir(): string {
  if (process.env.PG_BIN) return process.env.PG_BIN;
  const base = "/usr/lib/postgresql";
  if (existsSync(base)) {
    const versions = readdirSync(base).filter((v) => existsSync(join(base, v, "bin", "initdb"))).sort((a, b) => +b - +a);
    if (versions.length) return join(base, versions[0], "bin");
  }
  return "";
}

function asPgUser(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const r = spawnSync("id", ["-u", "postgres"], { encoding: "utf8" });
  const g = spawnSync("id", ["-g", "postgres"], { encoding: "utf8" });
  if (r.status !== 0) throw new Error("running as root and there is no 'postgres' user to own a test cluster");
  return { uid: +r.stdout.trim(), gid: +g.stdout.trim() };
}

export async function startPostgres(): Promise<PgServer> {
  const bin = pgBinDir();
  const initdb = bin ? join(bin, "initdb") : "initdb";
  const postgres = bin ? join(bin, "postgres") : "postgres";
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "natrium-pg-"));
  chmodSync(dir, 0o755);
  const user = asPgUser();
  if (user.uid !== undefined) chownSync(dir, user.uid, user.gid!);
  const data = join(dir, "data");
  const init = spawnSync(initdb, ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"], {
    ...user,
    encoding: "utf8",
  });
  if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.error}`);
  const launch = async (): Promise<ChildProcess> => {
    const proc = spawn(
      postgres,
      ["-D", data, "-p", String(port), "-c", "listen_addresses=127.0.0.1", "-c", `unix_socket_directories=${dir}`,
        "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200"],
      { ...user, stdio: ["ignore", "ignore", "pipe"] },
    );
    let err = "";
    proc.stderr!.on("data", (d) => { err = (err + d).slice(-4000); });
    await waitFor(`postgres on ${port}`, () => {
      if (proc.exitCode !== null) throw new Error(`postgres exited: ${err}`);
      const r = spawnSync(join(bin, "pg_isready"), ["-h", "127.0.0.1", "-p", String(port)]);
      return r.status === 0 ? true : undefined;
    }, 30_000, 100);
    return proc;
  };
  const exit = async (proc: ChildProcess, signal: NodeJS.Signals): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise((r) => proc.once("exit", r));
    proc.kill(signal);
    await exited;
  };
  const server: PgServer = {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    dir,
    proc: await launch(),
    async crash() {
      // Immediate shutdown: no checkpoint and no flush of WAL buffers; the next start runs
      // crash recovery, as after a power cut (async commits not yet written are gone).
      await exit(server.proc, "SIGQUIT");
    },
    async start() {
      server.proc = await launch();
    },
    async stop() {
      await exit(server.proc, "SIGINT"); // fast shutdown
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}
