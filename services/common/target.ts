// Target matching, shared by the master (which minions to expect) and the minion (does this
// command select me?). Salt semantics: glob is fnmatch on the id, list is exact ids, grain is
// "key:value" with nested keys split on ':' and fnmatch on the value, pcre is a regex on the id.

import type { TargetType } from "../../contracts/events/job.js";
import { NatriumError } from "../../contracts/errors.js";

export class TargetError extends NatriumError {
  constructor(message: string, readonly target: unknown) {
    super("bad_target", message);
  }
}

const globCache = new Map<string, RegExp>();

/** fnmatch: '*', '?', '[abc]', '[!abc]', '[a-z]'; everything else literal; whole string. */
export function globToRegExp(glob: string): RegExp {
  let re = globCache.get(glob);
  if (re) return re;
  let src = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*") src += "[\\s\\S]*";
    else if (c === "?") src += "[\\s\\S]";
    else if (c === "[") {
      const end = glob.indexOf("]", i + 2);
      if (end === -1) src += "\\[";
      else {
        let body = glob.slice(i + 1, end);
        const neg = body.startsWith("!");
        if (neg) body = body.slice(1);
        src += "[" + (neg ? "^" : "") + body.replace(/[\\\]^]/g, "\\$&") + "]";
        i = end;
      }
    } else src += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  re = new RegExp(`^${src}$`);
  if (globCache.size > 10_000) globCache.clear();
  globCache.set(glob, re);
  return re;
}

export function globMatch(glob: string, value: string): boolean {
  return globToRegExp(glob).test(value);
}

/** Walk "a:b:c" into nested grains. */
export function grainLookup(grains: Record<string, unknown>, path: string): unknown {
  let cur: unknown = grains;
  for (const part of path.split(":")) {
    if (cur === null || typeof cur !== "object" || Array.isArray(cur)) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function grainMatch(grains: Record<string, unknown>, expr: string): boolean {
  // The value is what follows the last ':' whose left side names an existing grain path, so
  // nested keys ("a:b:val") and values with ':' in them both work, as in Salt's subdict_match.
  const parts = expr.split(":");
  for (let i = parts.length - 1; i >= 1; i--) {
    const key = parts.slice(0, i).join(":");
    const want = parts.slice(i).join(":");
    const got = grainLookup(grains, key);
    if (got === undefined) continue;
    const values = Array.isArray(got) ? got : [got];
    return values.some((v) => (v !== null && typeof v === "object" ? false : globMatch(want, String(v))));
  }
  return false;
}

/** Validate a target once, at the master, so a bad one is refused before a job exists. */
export function checkTarget(tgt: string | string[], type: TargetType): void {
  if (type === "list") {
    if (!Array.isArray(tgt) && typeof tgt !== "string") throw new TargetError("a list target is a list of minion ids", tgt);
    return;
  }
  if (typeof tgt !== "string") throw new TargetError(`a ${type} target is a string`, tgt);
  if (type === "grain" && !tgt.includes(":")) throw new TargetError(`grain target "${tgt}" needs the form key:value`, tgt);
  if (type === "pcre") {
    try {
      new RegExp(tgt);
    } catch (err) {
      throw new TargetError(`regex target "${tgt}" does not compile: ${(err as Error).message}`, tgt);
    }
  }
}

export function listOf(tgt: string | string[]): string[] {
  return Array.isArray(tgt) ? tgt : tgt.split(",").map((s) => s.trim()).filter(Boolean);
}

export function matches(tgt: string | string[], type: TargetType, id: string, grains: Record<string, unknown>): boolean {
  switch (type) {
    case "glob":
      return typeof tgt === "string" && globMatch(tgt, id);
    case "list":
      return listOf(tgt).includes(id);
    case "grain":
      return typeof tgt === "string" && grainMatch(grains, tgt);
    case "pcre":
      return typeof tgt === "string" && new RegExp(tgt).test(id);
    default: {
      const never: never = type;
      throw new TargetError(`unknown target type ${String(never)}`, tgt);
    }
  }
}
