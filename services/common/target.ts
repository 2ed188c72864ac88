// Target matching, shared by the master (which minions to expect) and the minion (does this
// command select me?). Salt semantics: glob is fnmatch on the id, list is exact ids, grain is
// "key:value" with nested keys split on ':' and case-insensitive fnmatch on the value, pcre is
// a regex matched at the start of the id (Python's re.match).
//
// Targets come from users, and the master and every minion evaluate them, so no pattern may take
// more than linear time: both globs and regexes run on RE2 (the `re2js` package, a pure-JS port
// of Google's RE2), never on JavaScript's backtracking RegExp, where `(a+)+$` or the glob
// `*a*a*a*a*a*a*b` against a long id takes minutes. RE2 has no backreferences and no lookaround:
// a regex target using them is refused with a RegexTargetError, at the master, before a job exists.

import { RE2JS } from "re2js";
import type { TargetType } from "../../contracts/events/job.js";
import { NatriumError } from "../../contracts/errors.js";

export class TargetError extends NatriumError {
  constructor(message: string, readonly target: unknown) {
    super("bad_target", message);
  }
}

/** A regex target the linear-time engine cannot run (backreference, lookaround) or that does not compile. */
export class RegexTargetError extends TargetError {
  override readonly name = "RegexTargetError";
  constructor(readonly pattern: string, readonly why: string) {
    super(`regex target "${pattern}" is refused: ${why}`, pattern);
  }
}

/** A compiled glob or regex: `test` runs in time linear in the input. */
export interface Pattern {
  test(input: string): boolean;
}

const globCache = new Map<string, RE2JS>();

/** fnmatch: '*', '?', '[abc]', '[!abc]', '[a-z]'; everything else literal; whole string. */
export function globToRegExp(glob: string): Pattern {
  let re = globCache.get(glob);
  if (re) return re;
  let src = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === "*") src += "[\\s\\S]*";
    else if (c === "?") src += "[\\s\\S]";
    else if (c === "[") {
      // As Python's fnmatch: a ']' right after '[' or '[!' is a member, not the end.
      let j = i + 1;
      if (glob[j] === "!") j++;
      if (glob[j] === "]") j++;
      const end = glob.indexOf("]", j);
      if (end === -1) src += "\\[";
      else {
        let body = glob.slice(i + 1, end);
        const neg = body.startsWith("!");
        if (neg) body = body.slice(1);
        src += "[" + (neg ? "^" : "") + body.replace(/[\\\]^[]/g, "\\$&") + "]";
        i = end;
      }
    } else src += c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  try {
    re = RE2JS.compile(`^${src}$`, RE2JS.DOTALL);
  } catch (err) {
    // e.g. a reversed range, "[z-a]"
    throw new TargetError(`glob "${glob}" is invalid: ${(err as Error).message}`, glob);
  }
  if (globCache.size > 10_000) globCache.clear();
  globCache.set(glob, re);
  return re;
}

/** An invalid glob matches nothing (checkTarget refuses it before a job exists). */
export function globMatch(glob: string, value: string): boolean {
  try {
    return globToRegExp(glob).test(value);
  } catch (err) {
    if (err instanceof TargetError) return false;
    throw err;
  }
}

const pcreCache = new Map<string, RE2JS>();

/** Why RE2 cannot take a pattern, in words a user can act on. */
function unsupported(tgt: string, message: string): string {
  if (/\\[1-9]|\\k<|\(\?P=/.test(tgt)) return "backreferences are not supported (regex targets run on RE2, in linear time)";
  if (/\(\?<?[=!]/.test(tgt)) return "lookahead and lookbehind are not supported (regex targets run on RE2, in linear time)";
  return `it does not compile: ${message}`;
}

/**
 * Salt's pcre matcher is Python's re.match: anchored at the start of the id, not at the end.
 * Compiled once per pattern with RE2 (linear time); `lookingAt` is re.match's anchoring.
 */
export function pcreCompile(tgt: string): RE2JS {
  let re = pcreCache.get(tgt);
  if (re) return re;
  try {
    re = RE2JS.compile(tgt);
  } catch (err) {
    throw new RegexTargetError(tgt, unsupported(tgt, (err as Error).message));
  }
  if (pcreCache.size > 10_000) pcreCache.clear();
  pcreCache.set(tgt, re);
  return re;
}

/** Whether regex target `tgt` selects `id` (re.match); throws RegexTargetError for a refused pattern. */
export function pcreMatch(tgt: string, id: string): boolean {
  return pcreCompile(tgt).matcher(id).lookingAt();
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
  // As Salt's subdict_match: every split of "a:b:val" into a grain path and a value is tried,
  // deepest path first, so nested keys and values with ':' in them both work. Values match
  // by fnmatch, case-insensitively; a list matches if a member does; a dict matches "*" or
  // one of its keys.
  const parts = expr.split(":");
  for (let i = parts.length - 1; i >= 1; i--) {
    const key = parts.slice(0, i).join(":");
    const want = parts.slice(i).join(":");
    const got = grainLookup(grains, key);
    if (got === undefined) continue;
    const values = Array.isArray(got) ? got : [got];
    if (values.some((v) => grainValueMatch(v, want))) return true;
  }
  return false;
}

function grainValueMatch(v: unknown, want: string): boolean {
  if (v !== null && typeof v === "object") {
    return !Array.isArray(v) && (want === "*" || Object.prototype.hasOwnProperty.call(v, want));
  }
  return globMatch(want.toLowerCase(), String(v).toLowerCase());
}

/** Validate a target once, at the master, so a bad one is refused before a job exists. */
export function checkTarget(tgt: string | string[], type: TargetType): void {
  if (type === "list") {
    if (!Array.isArray(tgt) && typeof tgt !== "string") throw new TargetError("a list target is a list of minion ids", tgt);
    return;
  }
  if (typeof tgt !== "string") throw new TargetError(`a ${type} target is a string`, tgt);
  if (type === "grain" && !tgt.includes(":")) throw new TargetError(`grain target "${tgt}" needs the form key:value`, tgt);
  if (type === "glob") globToRegExp(tgt);
  if (type === "pcre") pcreCompile(tgt);
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
    case "pcre": {
      if (typeof tgt !== "string") return false;
      try {
        return pcreMatch(tgt, id);
      } catch (err) {
        if (err instanceof TargetError) return false;
        throw err;
      }
    }
    default: {
      const never: never = type;
      throw new TargetError(`unknown target type ${String(never)}`, tgt);
    }
  }
}
