// Argument handling shared by execution modules. A job carries Salt's positional `arg` list and
// `kwarg` map; a parameter may come from either (`cmd.run 'ls' cwd=/tmp` or `cmd.run cmd=ls`).

import { ArgumentError } from "./errors.js";
import { showValue as show } from "../../contracts/errors.js";

export interface ParamSpec {
  /** Position in `args`, if the parameter may be positional. */
  pos?: number;
  name: string;
}

/** The value of a parameter, by name from kwargs first, else by position. */
export function param(args: unknown[], kwargs: Record<string, unknown>, spec: ParamSpec): unknown {
  if (Object.prototype.hasOwnProperty.call(kwargs, spec.name)) return kwargs[spec.name];
  return spec.pos !== undefined ? args[spec.pos] : undefined;
}

/** Refuse keyword arguments a function does not know, naming the ones it does. */
export function onlyKwargs(fun: string, kwargs: Record<string, unknown>, known: readonly string[]): void {
  for (const k of Object.keys(kwargs)) {
    if (!known.includes(k)) {
      throw new ArgumentError(fun, `unknown keyword argument "${k}"; known: ${known.join(", ") || "none"}`);
    }
  }
}

export function asString(fun: string, name: string, v: unknown, dflt?: string): string {
  if (v === undefined || v === null) {
    if (dflt !== undefined) return dflt;
    throw new ArgumentError(fun, `missing argument "${name}"`);
  }
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  throw new ArgumentError(fun, `"${name}" must be a string, got ${typeof v}`);
}

/** Numbers arrive as numbers from the API and as strings from a shell command line. */
export function asNumber(fun: string, name: string, v: unknown, dflt?: number): number {
  if (v === undefined || v === null || v === "") {
    if (dflt !== undefined) return dflt;
    throw new ArgumentError(fun, `missing argument "${name}"`);
  }
  const n = typeof v === "number" ? v : typeof v === "string" ? Number(v) : NaN;
  if (!Number.isFinite(n)) throw new ArgumentError(fun, `"${name}" must be a number, got ${show(v)}`);
  return n;
}

const TRUE = new Set(["true", "yes", "on", "1"]);
const FALSE = new Set(["false", "no", "off", "0"]);

export function asBool(fun: string, name: string, v: unknown, dflt: boolean): boolean {
  if (v === undefined || v === null) return dflt;
  if (typeof v === "boolean") return v;
  if (typeof v === "number") return v !== 0;
  if (typeof v === "string" && TRUE.has(v.toLowerCase())) return true;
  if (typeof v === "string" && FALSE.has(v.toLowerCase())) return false;
  throw new ArgumentError(fun, `"${name}" must be true or false, got ${show(v)}`);
}

/** Sleep that ends early, rejecting with the signal's reason, when the job is aborted. */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    function onAbort() {
      clearTimeout(t);
      reject(signal.reason);
    }
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
