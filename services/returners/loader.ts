// Find a returner module: a built-in by name (builtins.ts), or a user's JavaScript file whose
// default export (or the module itself) has a `returner` function, or is an ordered returner
// (`ordered: true` with `position` and `apply`).

import { existsSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { NatriumError } from "../../contracts/errors.js";
import { builtins } from "./builtins.js";
import { isOrdered, type AnyReturnerModule, type OrderedReturnerModule, type ReturnerModule } from "./sdk.js";

export class ReturnerModuleError extends NatriumError {
  constructor(readonly spec: string, message: string, cause?: unknown) {
    super("bad_returner_module", `returner module "${spec}": ${message}`, { cause });
  }
}

export async function loadReturnerModule(spec: string, cwd = process.cwd()): Promise<AnyReturnerModule> {
  if (!spec) throw new ReturnerModuleError(spec, `no module given: name a built-in (${Object.keys(builtins).join(", ")}) or a .js file`);
  const builtin = Object.hasOwn(builtins, spec) ? builtins[spec] : undefined;
  let ns: Record<string, unknown>;
  if (builtin) {
    ns = (await builtin()) as unknown as Record<string, unknown>;
  } else {
    const path = isAbsolute(spec) ? spec : resolve(cwd, spec);
    if (!existsSync(path)) {
      throw new ReturnerModuleError(spec, `no such file (${path}), and not a built-in returner (${Object.keys(builtins).join(", ")})`);
    }
    if (/\.[mc]?tsx?$/.test(path)) {
      throw new ReturnerModuleError(spec, "is TypeScript: compile it to JavaScript first (tsc), then pass the .js file");
    }
    try {
      ns = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    } catch (err) {
      throw new ReturnerModuleError(spec, `cannot be loaded: ${(err as Error).message}`, err);
    }
  }
  const shaped = (x: unknown) => !!x && typeof x === "object" && (typeof (x as ReturnerModule).returner === "function" || (x as OrderedReturnerModule).ordered === true);
  const m = (shaped(ns.default) ? ns.default : ns) as AnyReturnerModule;
  if (isOrdered(m)) {
    const o = m;
    const missing = (["position", "apply"] as const).filter((k) => typeof o[k] !== "function");
    if (missing.length) throw new ReturnerModuleError(spec, `is ordered (ordered: true) but has no ${missing.join(" or ")} function`);
    return o;
  }
  if (typeof (m as ReturnerModule).returner !== "function") {
    throw new ReturnerModuleError(spec, "exports no returner(ret) function (export default { returner(ret) { … } }), and is not an ordered returner (ordered: true, position(), apply())");
  }
  return m;
}
