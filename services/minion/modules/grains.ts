// grains: the minion's grains (facts detected at start, static `grains:` from the minion config,
// and custom grains set here with setval/append/delval, kept in <data_dir>/grains).
// Example: natrium run '*' grains.get os

import type { ExecContext } from "./index.js";
import { isDeepStrictEqual } from "node:util";
import { asBool, asString, onlyKwargs, param } from "../args.js";
import { ArgumentError, ExecError } from "../errors.js";

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

function setter(ctx: ExecContext): (key: string, value: unknown) => void {
  if (!ctx.setGrain) throw new ExecError("unavailable", `${ctx.fun}: this minion cannot change its grains`);
  return ctx.setGrain;
}

function grainKey(ctx: ExecContext, v: unknown): string {
  const key = asString(ctx.fun, "key", v);
  if (!key || key.includes(":")) throw new ArgumentError(ctx.fun, `"key" must be a top-level grain name (no ':'), got "${key}"`);
  return key;
}

/**
 * Set a custom grain to a value (any YAML value: text, number, list, map). Kept on the minion
 * across restarts, used for targeting at once and sent to the master. Returns {key: value}.
 *
 * CLI example: natrium run '*' grains.setval role web
 * CLI example: natrium run '*' grains.setval roles '[web, cache]'
 */
export async function setval(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<Record<string, unknown>> {
  onlyKwargs(ctx.fun, kwargs, ["key", "val"]);
  const key = grainKey(ctx, param(args, kwargs, { pos: 0, name: "key" }));
  const val = param(args, kwargs, { pos: 1, name: "val" });
  if (val === undefined) throw new ArgumentError(ctx.fun, '"val" is required (use grains.delval to remove a grain)');
  setter(ctx)(key, val);
  return { [key]: val };
}

/**
 * Set several custom grains at once from a map. Returns the map.
 *
 * CLI example: natrium run '*' grains.setvals '{role: web, dc: fra1}'
 */
export async function setvals(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<Record<string, unknown>> {
  onlyKwargs(ctx.fun, kwargs, ["grains"]);
  const g = param(args, kwargs, { pos: 0, name: "grains" });
  if (g === null || typeof g !== "object" || Array.isArray(g)) throw new ArgumentError(ctx.fun, '"grains" must be a map of grain names to values');
  const set = setter(ctx);
  for (const k of Object.keys(g)) grainKey(ctx, k);
  for (const [k, v] of Object.entries(g as Record<string, unknown>)) set(k, v);
  return g as Record<string, unknown>;
}

/**
 * Append a value to a list grain (made if missing; a value already in the list is not added
 * twice). A grain that is not a list is an error unless convert=True, which makes it a list.
 * Returns {key: the list}.
 *
 * CLI example: natrium run '*' grains.append roles cache
 */
export async function append(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<Record<string, unknown>> {
  onlyKwargs(ctx.fun, kwargs, ["key", "val", "convert"]);
  const key = grainKey(ctx, param(args, kwargs, { pos: 0, name: "key" }));
  const val = param(args, kwargs, { pos: 1, name: "val" });
  if (val === undefined) throw new ArgumentError(ctx.fun, '"val" is required');
  const convert = asBool(ctx.fun, "convert", param(args, kwargs, { pos: 2, name: "convert" }), false);
  const cur = ctx.grains[key];
  let list: unknown[];
  if (cur === undefined || cur === null) list = [];
  else if (Array.isArray(cur)) list = [...cur];
  else if (convert) list = [cur];
  else throw new ExecError("bad_argument", `${ctx.fun}: grain "${key}" is not a list (pass convert=True to make it one)`);
  if (!list.some((x) => isDeepStrictEqual(x, val))) list.push(val);
  setter(ctx)(key, list);
  return { [key]: list };
}

/**
 * Remove a custom grain's value: it is set to None, or removed altogether with
 * destructive=True. Returns {key: None}, or True when removed.
 *
 * CLI example: natrium run '*' grains.delval role
 * CLI example: natrium run '*' grains.delval role destructive=True
 */
export async function delval(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<Record<string, unknown> | boolean> {
  onlyKwargs(ctx.fun, kwargs, ["key", "destructive"]);
  const key = grainKey(ctx, param(args, kwargs, { pos: 0, name: "key" }));
  const destructive = asBool(ctx.fun, "destructive", param(args, kwargs, { pos: 1, name: "destructive" }), false);
  setter(ctx)(key, destructive ? undefined : null);
  return destructive ? true : { [key]: null };
}
