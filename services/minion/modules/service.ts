// service: system services through systemd, as Salt's service module does on systemd hosts.
// On a host where systemd is not running (a container, an init without it) every function
// says so instead of guessing. Starting and stopping need root. No configuration.
// Example: natrium run 'web*' service.restart nginx

import { existsSync } from "node:fs";
import type { ExecContext } from "./index.js";
import { asString, onlyKwargs, param } from "../args.js";
import { ArgumentError, ExecError } from "../errors.js";
import { _run } from "./cmd.js";

// systemd unit names: letters, digits, ":", "-", "_", ".", "\" and "@"; never starting with '-'.
const UNIT = /^[A-Za-z0-9_:@.\\][A-Za-z0-9_:@.\\-]{0,255}$/;

function unit(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): string {
  onlyKwargs(ctx.fun, kwargs, ["name"]);
  const n = asString(ctx.fun, "name", param(args, kwargs, { pos: 0, name: "name" }));
  if (!UNIT.test(n)) throw new ArgumentError(ctx.fun, `"${n.slice(0, 100)}" is not a service name`);
  return n;
}

function needSystemd(ctx: ExecContext): void {
  // systemd's own test for "booted with systemd" (sd_booted): this directory exists.
  if (!existsSync("/run/systemd/system")) {
    throw new ExecError("unavailable", `${ctx.fun}: systemd is not running on this host (no /run/systemd/system); other init systems are not supported`);
  }
}

async function systemctl(ctx: ExecContext, ...argv: string[]): Promise<{ retcode: number; stdout: string; stderr: string }> {
  return _run(ctx, ["systemctl", ...argv], { timeout: 120 });
}

async function change(ctx: ExecContext, verb: "start" | "stop" | "restart", args: unknown[], kwargs: Record<string, unknown>): Promise<boolean> {
  const name = unit(ctx, args, kwargs);
  needSystemd(ctx);
  if (process.getuid && process.getuid() !== 0) throw new ExecError("permission_denied", `${ctx.fun} needs root; the minion runs as uid ${process.getuid()}`);
  const r = await systemctl(ctx, verb, "--", name);
  if (r.retcode !== 0) throw new ExecError("service_failed", `${ctx.fun}: systemctl ${verb} ${name} exited with ${r.retcode}: ${r.stderr.trim() || r.stdout.trim()}`);
  return true;
}

/**
 * Return True if the service is running (active), False otherwise.
 *
 * CLI example: natrium run '*' service.status nginx
 */
export async function status(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<boolean> {
  const name = unit(ctx, args, kwargs);
  needSystemd(ctx);
  return (await systemctl(ctx, "is-active", "--quiet", "--", name)).retcode === 0;
}

/**
 * Return True if the service starts at boot (enabled), False otherwise.
 *
 * CLI example: natrium run '*' service.enabled nginx
 */
export async function enabled(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<boolean> {
  const name = unit(ctx, args, kwargs);
  needSystemd(ctx);
  return (await systemctl(ctx, "is-enabled", "--quiet", "--", name)).retcode === 0;
}

/**
 * Start the service. Returns True; a failure is an error with systemctl's message.
 *
 * CLI example: natrium run '*' service.start nginx
 */
export async function start(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<boolean> {
  return change(ctx, "start", args, kwargs);
}

/**
 * Stop the service. Returns True; a failure is an error with systemctl's message.
 *
 * CLI example: natrium run '*' service.stop nginx
 */
export async function stop(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<boolean> {
  return change(ctx, "stop", args, kwargs);
}

/**
 * Restart the service (start it if it was stopped). Returns True; a failure is an error with
 * systemctl's message.
 *
 * CLI example: natrium run '*' service.restart nginx
 */
export async function restart(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<boolean> {
  return change(ctx, "restart", args, kwargs);
}
