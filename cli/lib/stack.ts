// Where the CLI finds the running stack without flags. `natrium up` writes a stack file in the
// project's .natrium/ and a copy in ~/.natrium/; the CLI looks at flags, then the environment,
// then the nearest .natrium/stack.json above the working directory, then the home copy.

import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";

export interface StackInfo {
  nats_url: string;
  ns: string;
  /** Processes `natrium up` started, for operators. */
  pids?: Record<string, number>;
  dir?: string;
  started?: string;
  /** The master's admin key file: the CLI signs as "admin" with it on this machine. */
  admin_key?: string;
}

export const STACK_FILE = "stack.json";

export function homeStackPath(): string {
  return join(process.env.NATRIUM_HOME || join(homedir(), ".natrium"), STACK_FILE);
}

export function findProjectStack(from = process.cwd()): string | undefined {
  let dir = resolve(from);
  for (;;) {
    const p = join(dir, ".natrium", STACK_FILE);
    if (existsSync(p)) return p;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

function read(path: string): StackInfo | undefined {
  try {
    const v = JSON.parse(readFileSync(path, "utf8")) as StackInfo;
    return typeof v.nats_url === "string" && typeof v.ns === "string" ? v : undefined;
  } catch {
    return undefined;
  }
}

export interface Resolved {
  url: string;
  ns: string;
  /** Where the settings came from, for error messages. */
  from: string;
  /** The master's admin key of the stack file found, if any (see identity.ts). */
  adminKey?: string;
}

export function resolveStack(flags: { url?: string; ns?: string }, env: NodeJS.ProcessEnv = process.env): Resolved {
  const file = [findProjectStack(), homeStackPath()].find((p) => p && existsSync(p));
  const stack = file ? read(file) : undefined;
  const url = flags.url ?? env.NATS_URL ?? stack?.nats_url ?? "nats://127.0.0.1:4222";
  const ns = flags.ns ?? env.NATRIUM_NS ?? stack?.ns ?? "natrium";
  const from = flags.url ? "--url" : env.NATS_URL ? "NATS_URL" : stack ? file! : "the default";
  return { url, ns, from, adminKey: stack?.admin_key };
}

export function writeStack(projectDir: string, info: StackInfo): string[] {
  const paths = [join(projectDir, STACK_FILE), homeStackPath()];
  for (const p of paths) {
    mkdirSync(dirname(p), { recursive: true });
    writeFileSync(p, JSON.stringify(info, null, 2) + "\n");
  }
  return paths;
}

/** Remove the stack files this `up` wrote, leaving another stack's home copy alone. */
export function removeStack(paths: string[], info: StackInfo): void {
  for (const p of paths) {
    const cur = read(p);
    if (cur && cur.nats_url === info.nats_url && cur.ns === info.ns && cur.started === info.started) rmSync(p, { force: true });
  }
}
