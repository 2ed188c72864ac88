// sys: what this minion can do, from its own module loader. Example: natrium run '*' sys.doc test

import type { ExecContext } from "./index.js";
import { asString, onlyKwargs, param } from "../args.js";

/**
 * Return the names of the execution modules this minion has.
 *
 * CLI example: natrium run '*' sys.list_modules
 */
export async function list_modules(ctx: ExecContext, _args: unknown[], kwargs: Record<string, unknown>): Promise<string[]> {
  onlyKwargs(ctx.fun, kwargs, []);
  return ctx.modules.modules();
}

/**
 * Return the callable functions, of one module or of all.
 *
 * CLI example: natrium run '*' sys.list_functions cmd
 */
export async function list_functions(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<string[]> {
  onlyKwargs(ctx.fun, kwargs, ["module"]);
  const mod = param(args, kwargs, { pos: 0, name: "module" });
  return ctx.modules.functions(mod === undefined ? undefined : asString(ctx.fun, "module", mod));
}

/**
 * Return the documentation of a module's functions, or of one function ("cmd.run"), or of all.
 *
 * CLI example: natrium run '*' sys.doc cmd.run
 */
export async function doc(ctx: ExecContext, args: unknown[], kwargs: Record<string, unknown>): Promise<Record<string, string>> {
  onlyKwargs(ctx.fun, kwargs, ["name"]);
  const raw = param(args, kwargs, { pos: 0, name: "name" });
  const name = raw === undefined ? undefined : asString(ctx.fun, "name", raw);
  if (name?.includes(".")) {
    const all = await ctx.modules.docs(name.split(".")[0]);
    return name in all ? { [name]: all[name] } : {};
  }
  return ctx.modules.docs(name);
}
