// Drive the built CLI as a user would: a real process, real arguments, stdout and exit code.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { resolve } from "node:path";

export const ROOT = resolve(fileURLToPath(new URL(".", import.meta.url)), "../../..");
export const BIN = resolve(ROOT, "bin/run.js");

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function cli(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<CliResult> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [BIN, ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (d) => (stdout += d));
    p.stderr.on("data", (d) => (stderr += d));
    const t = setTimeout(() => { p.kill("SIGKILL"); rej(new Error(`natrium ${args.join(" ")} timed out\n${stdout}\n${stderr}`)); }, opts.timeoutMs ?? 60_000);
    p.on("exit", (code) => { clearTimeout(t); res({ code, stdout, stderr }); });
  });
}

export async function cliJson<T>(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<{ code: number | null; data: T; stderr: string }> {
  const r = await cli([...args, "--json"], opts);
  try {
    return { code: r.code, data: JSON.parse(r.stdout) as T, stderr: r.stderr };
  } catch {
    throw new Error(`natrium ${args.join(" ")} --json printed no JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

/** `natrium up` in the background; resolves when it says the stack is up. */
export function startUp(args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<{ proc: ChildProcess; output: () => string }> {
  return new Promise((res, rej) => {
    const p = spawn(process.execPath, [BIN, "up", ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes("Natrium is up")) { clearTimeout(t); res({ proc: p, output: () => out }); }
    };
    p.stdout.on("data", onData);
    p.stderr.on("data", (d) => (out += d));
    const t = setTimeout(() => { p.kill("SIGINT"); rej(new Error(`natrium up did not come up:\n${out}`)); }, opts.timeoutMs ?? 180_000);
    p.on("exit", (code) => { clearTimeout(t); rej(new Error(`natrium up exited with ${code}:\n${out}`)); });
  });
}

export function stopUp(p: ChildProcess): Promise<number | null> {
  if (p.exitCode !== null) return Promise.resolve(p.exitCode);
  return new Promise((r) => {
    p.removeAllListeners("exit");
    p.once("exit", (code) => r(code));
    p.kill("SIGINT");
  });
}
