// grains: read the minion's grains (facts detected at start, plus static `grains:` from the
// minion config). Example: natrium run '*' grains.get os

import type { ExecContext } from "./index.js";
import { asString, onlyKwargs, param } from "../args.js";

/** Walk "a:b:c" (or another delimiter) into nested maps and lists, like Salt's traverse_dict_and_list. */
export function _traverse(root: unknown, key: string, delimiter: string): unknown {
  let cur: unknown = root;
  for (const part of key.split(delimiter)) {
    if (Array.isArray(cur) && /^\d+$/.test(part)) cur = cur[Number(part)];
    else if (cur !== null && typeof cur === "object" && !Array.isArray(cur) && Object.prototype.hasOwnProperty.call(cur, part)) {
      cur = (cur as Record<string, unknown>)[part];
    } else return undefined;
  }
  return cur;
}

/**
 * Return all grains.
 *
 * CLI example: natrium run '*' grains.items
 */
export async function items(ctx: ExecContext, _args: unknown[], kwargs: Record<string, unknown>): Promise<Record<string, unknown>> {
  onlyKwargs(ctx.fun, kwargs, []);
  return ctx.grains;
}

/**
 * Return one grain; nested keys are joined with ':' ("ip_interfaces:eth0", "roles:0"). If the
 * grain is missing, return `default` (an empty string unless given).
 *
 * CLI example: natrium run '*' grains.get os
 * CLI example: natrium run '*' grains.get datacenter:rack default=unknown
 */
export async function get(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<unknown> {
  onlyKwargs(ctx.fun, kwargs, ["key", "default", "delimiter"]);
  const key = asString(ctx.fun, "key", param(args, kwargs, { pos: 0, name: "key" }));
  const delimiter = asString(ctx.fun, "delimiter", param(args, kwargs, { name: "delimiter" }), ":");
  const dflt = param(args, kwargs, { pos: 1, name: "default" });
  const v = _traverse(ctx.grains, key, delimiter || ":");
  return v === undefined ? (dflt ?? "") : v;
}

/**
 * Return the named grains as a map (missing ones are left out).
 *
 * CLI example: natrium run '*' grains.item os osrelease
 */
export async function item(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<Record<string, unknown>> {
  onlyKwargs(ctx.fun, kwargs, []);
  const out: Record<string, unknown> = {};
  for (const a of args) {
    const k = asString(ctx.fun, "key", a);
    const v = _traverse(ctx.grains, k, ":");
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/**
 * Return the names of all grains, sorted.
 *
 * CLI example: natrium run '*' grains.ls
 */
export async function ls(ctx: ExecContext, _args: unknown[], kwargs: Record<string, unknown>): Promise<string[]> {
  onlyKwargs(ctx.fun, kwargs, []);
  return Object.keys(ctx.grains).sort();
}
