// test: functions for checking that minions answer and that the job path works end to end.
// No configuration. Example: natrium run '*' test.ping

import type { ExecContext } from "./index.js";
import { abortableSleep, asNumber, asString, onlyKwargs, param } from "../args.js";
import { natriumVersion } from "../grains.js";

/**
 * Return true: the minion is up, accepted, and runs the master's commands.
 *
 * CLI example: natrium run '*' test.ping
 */
export async function ping(ctx: ExecContext, _args: unknown[], kwargs: Record<string, unknown>): Promise<boolean> {
  onlyKwargs(ctx.fun, kwargs, []);
  return true;
}

/**
 * Return the string given.
 *
 * CLI example: natrium run '*' test.echo 'hello world'
 */
export async function echo(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<string> {
  onlyKwargs(ctx.fun, kwargs, ["text"]);
  return asString(ctx.fun, "text", param(args, kwargs, { pos: 0, name: "text" }));
}

/**
 * Sleep `length` seconds (fractions allowed), then return true.
 *
 * CLI example: natrium run '*' test.sleep 20
 */
export async function sleep(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<boolean> {
  onlyKwargs(ctx.fun, kwargs, ["length"]);
  const secs = asNumber(ctx.fun, "length", param(args, kwargs, { pos: 0, name: "length" }), 1);
  await abortableSleep(Math.max(0, secs) * 1000, ctx.signal);
  return true;
}

/**
 * Sleep a random time between 0 and `max` seconds (default 60), then return true. Spreads load
 * when many minions run the same job.
 *
 * CLI example: natrium run '*' test.rand_sleep 60
 */
export async function rand_sleep(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<boolean> {
  onlyKwargs(ctx.fun, kwargs, ["max"]);
  const max = asNumber(ctx.fun, "max", param(args, kwargs, { pos: 0, name: "max" }), 60);
  await abortableSleep(Math.random() * Math.max(0, max) * 1000, ctx.signal);
  return true;
}

/**
 * Return the Natrium version the minion runs.
 *
 * CLI example: natrium run '*' test.version
 */
export async function version(ctx: ExecContext, _args: unknown[], kwargs: Record<string, unknown>): Promise<string> {
  onlyKwargs(ctx.fun, kwargs, []);
  return natriumVersion();
}

/**
 * Return the positional and keyword arguments as received: shows how the command line was parsed.
 *
 * CLI example: natrium run '*' test.arg 1 two three=3
 */
export async function arg(_ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<{ args: unknown[]; kwargs: Record<string, unknown> }> {
  return { args, kwargs };
}

/**
 * Throw an error with the given message: shows how a failing function is reported.
 *
 * CLI example: natrium run '*' test.exception 'oops'
 */
export async function exception(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<never> {
  onlyKwargs(ctx.fun, kwargs, ["message"]);
  throw new Error(asString(ctx.fun, "message", param(args, kwargs, { pos: 0, name: "message" }), "test.exception was called"));
}

/**
 * Set the job's retcode to `code` (default 42) and return it.
 *
 * CLI example: natrium run '*' test.retcode 3
 */
export async function retcode(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<number> {
  onlyKwargs(ctx.fun, kwargs, ["code"]);
  const code = Math.trunc(asNumber(ctx.fun, "code", param(args, kwargs, { pos: 0, name: "code" }), 42));
  ctx.setRetcode(code);
  return code;
}
