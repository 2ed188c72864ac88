// `natrium up`: the one-machine stack. Starts (or reuses) a JetStream NATS server, the master,
// the job cache and a few minions as separate processes, waits until each is ready, runs
// test.ping, and keeps everything running until a signal, then stops what it started.

import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createWriteStream, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { jetstreamManager } from "@nats-io/jetstream";
import { connectBus, request, sleep } from "../../services/common/bus.js";
import { subjects } from "../../contracts/subjects.js";
import { NatriumError } from "../../contracts/errors.js";
import { findProjectStack, removeStack, writeStack, type StackInfo } from "./stack.js";

export class UpError extends NatriumError {
  constructor(message: string) {
    super("up_failed", message);
  }
}

export interface UpOptions {
  dir: string;
  ns: string;
  minions: string[];
  natsUrl?: string;
  port?: number;
  log: (line: string) => void;
}

interface Child {
  name: string;
  proc: ChildProcess;
  logFile: string;
}

// Through package.json's import map: this code may run from a bundle chunk anywhere under dist/.
const serviceMain = (svc: string) => fileURLToPath(import.meta.resolve(`#natrium/services/${svc}/main.js`));

function portFree(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = createServer();
    s.once("error", () => r(false));
    s.listen(port, "127.0.0.1", () => s.close(() => r(true)));
  });
}

async function pickPort(preferred: number): Promise<number> {
  if (await portFree(preferred)) return preferred;
  return new Promise((r) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => r(p));
    });
  });
}

export function findNatsServer(): string | undefined {
  const fromEnv = process.env.NATS_SERVER_BIN;
  if (fromEnv && existsSync(fromEnv)) return fromEnv;
  for (const dir of (process.env.PATH ?? "").split(":").concat(["/usr/sbin", "/usr/bin", "/usr/local/bin"])) {
    const p = join(dir, "nats-server");
    if (dir && existsSync(p)) return p;
  }
  return undefined;
}

/** nats-server from the OS packages, when we may install them. */
function installNatsServer(log: (l: string) => void): string {
  if (process.getuid?.() !== 0 || !existsSync("/usr/bin/apt-get")) {
    throw new UpError("nats-server is not installed. Install it (Debian/Ubuntu: sudo apt-get install -y nats-server), or point NATS_URL at a NATS server with JetStream.");
  }
  log("nats-server is missing: installing it from the OS packages (apt-get install nats-server)…");
  spawnSync("apt-get", ["update", "-qq"], { stdio: "ignore" });
  const r = spawnSync("apt-get", ["install", "-y", "-qq", "nats-server"], { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
  const bin = findNatsServer();
  if (r.status !== 0 || !bin) throw new UpError("apt-get install nats-server failed; install it by hand or set NATS_URL.");
  return bin;
}

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export class Stack {
  private children: Child[] = [];
  private stackPaths: string[] = [];
  info!: StackInfo;

  constructor(private readonly o: UpOptions) {}

  private spawnChild(name: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Child {
    const logFile = join(this.o.dir, "logs", `${name}.log`);
    const out = createWriteStream(logFile, { flags: "a" });
    const proc = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env });
    proc.stdout!.pipe(out);
    proc.stderr!.pipe(out);
    const c = { name, proc, logFile };
    this.children.push(c);
    return c;
  }

  private failedChild(): Child | undefined {
    return this.children.find((c) => c.proc.exitCode !== null || c.proc.signalCode !== null);
  }

  private tail(c: Child): string {
    try {
      return readFileSync(c.logFile, "utf8").trimEnd().split("\n").slice(-15).join("\n");
    } catch {
      return "";
    }
  }

  private async until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
    const end = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      const dead = this.failedChild();
      if (dead) throw new UpError(`${dead.name} exited while ${what} (see ${dead.logFile}):\n${this.tail(dead)}`);
      try {
        const v = await fn();
        if (v !== undefined) return v;
      } catch (err) {
        last = err;
      }
      if (Date.now() > end) throw new UpError(`timed out ${what}${last ? `: ${(last as Error).message}` : ""}`);
      await sleep(100);
    }
  }

  async start(): Promise<StackInfo> {
    const { dir, ns, log } = this.o;
    const s = subjects(ns);
    const existing = findProjectStack(resolve(dir, ".."));
    if (existing && resolve(existing) === resolve(dir, "stack.json")) {
      const prev = JSON.parse(readFileSync(existing, "utf8")) as StackInfo;
      const running = Object.entries(prev.pids ?? {}).filter(([, pid]) => alive(pid));
      if (running.length) {
        throw new UpError(`a stack is already running from ${dir} (${running.map(([n, p]) => `${n} pid ${p}`).join(", ")}); stop it with Ctrl-C where it runs, or use another --dir`);
      }
    }
    for (const sub of ["logs", "etc", "nats"]) mkdirSync(join(dir, sub), { recursive: true });

    // 1. NATS with JetStream
    let url = this.o.natsUrl;
    if (!url) {
      const bin = findNatsServer() ?? installNatsServer(log);
      const port = await pickPort(this.o.port ?? 4222);
      if (port !== (this.o.port ?? 4222)) log(`port ${this.o.port ?? 4222} is taken: nats-server will listen on ${port}`);
      url = `nats://127.0.0.1:${port}`;
      this.spawnChild("nats", bin, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", join(dir, "nats"), "-n", "natrium-up"]);
    }
    const natsUrl = url;
    const nc = await this.until(`waiting for NATS at ${natsUrl}`, () => connectBus({ url: natsUrl, name: "natrium-up" }), 20_000);
    try {
      try {
        await (await jetstreamManager(nc)).getAccountInfo();
      } catch (err) {
        throw new UpError(`the NATS server at ${natsUrl} has no JetStream (${(err as Error).message}); start it with -js`);
      }
      log(`NATS with JetStream at ${natsUrl}`);

      // 2. master, job cache, minions: one process each, one config file each
      const base = { nats_url: natsUrl, ns, log_level: "info" };
      const cfg = (name: string, body: Record<string, unknown>) => {
        const p = join(dir, "etc", `${name}.yaml`);
        writeFileSync(p, `# written by natrium up; see docs/config.md\n${stringify({ ...base, ...body })}`);
        return p;
      };
      const node = process.execPath;
      this.spawnChild("master", node, [serviceMain("master"), "--config", cfg("master", { id: "master", data_dir: join(dir, "master"), autosign: this.o.minions })]);
      this.spawnChild("jobcache", node, [serviceMain("jobcache"), "--config", cfg("jobcache", { data_dir: dir })]);
      await this.until("waiting for the master", () => request(nc, s.api("ping"), {}, 1000), 30_000);
      for (const id of this.o.minions) {
        this.spawnChild(`minion-${id}`, node, [serviceMain("minion"), "--config", cfg(`minion-${id}`, { id, data_dir: join(dir, "minions", id) })]);
      }
      const store = process.env.DATABASE_URL ? "Postgres (DATABASE_URL)" : "embedded PGlite";
      await this.until("waiting for the job cache", () => request(nc, s.cache("status"), {}, 2000), 120_000);
      log(`master and job cache (${store}) are up`);
      await this.until(
        `waiting for minions ${this.o.minions.join(", ")} to be accepted`,
        async () => {
          const r = await request<{ minions: string[] }>(nc, s.api("ping"), {}, 1000);
          return this.o.minions.every((m) => r.minions.includes(m)) ? r : undefined;
        },
        60_000,
      );
      log(`minions accepted: ${this.o.minions.join(", ")}`);
    } finally {
      await nc.close();
    }
    this.info = {
      nats_url: natsUrl,
      ns,
      dir,
      started: new Date().toISOString(),
      pids: Object.fromEntries(this.children.map((c) => [c.name, c.proc.pid!])),
      admin_key: join(dir, "master", "pki", "admin.sign"),
    };
    this.stackPaths = writeStack(dir, this.info);
    return this.info;
  }

  /** Resolves when a child dies on its own (the stack is then broken) — for the foreground loop. */
  childExit(): Promise<Child> {
    return new Promise((r) => {
      for (const c of this.children) c.proc.once("exit", () => r(c));
    });
  }

  tailOf(c: Child): string {
    return this.tail(c);
  }

  /** SIGTERM in reverse start order (minions first, NATS last), SIGKILL after a grace period. */
  async stop(graceMs = 10_000): Promise<void> {
    if (this.info) removeStack(this.stackPaths, this.info);
    for (const c of [...this.children].reverse()) {
      const p = c.proc;
      if (p.exitCode !== null || p.signalCode !== null) continue;
      const exited = new Promise((r) => p.once("exit", r));
      p.kill("SIGTERM");
      const t = setTimeout(() => p.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(t);
    }
  }
}
