// Target matching, shared by the master (which minions to expect) and the minion (does this
// command select me?). Salt semantics: glob is fnmatch on the id, list is exact ids, grain is
// "key:value" with nested keys split on ':' and case-insensitive fnmatch on the value, pcre is
// a regex matched at the start of the id (Python's re.match), grain_pcre is "key:regex" matched
// like grain but with a case-insensitive regex (re.match) on the value, ipcidr is a network or
// address matched against the ipv4/ipv6 grains, and compound is Salt's expression language
// (`web* and G@os:Debian or not E@test.*`, see docs/targeting.md). A nodegroup is a name the
// master expands into a compound expression before it publishes: minions never see one.
//
// Targets come from users, and the master and every minion evaluate them, so no pattern may take
// more than linear time: both globs and regexes run on RE2 (the `re2js` package, a pure-JS port
// of Google's RE2), never on JavaScript's backtracking RegExp, where `(a+)+$` or the glob
// `*a*a*a*a*a*a*b` against a long id takes minutes. RE2 has no backreferences and no lookaround:
// a regex target using them is refused with a RegexTargetError, at the master, before a job exists.

import { RE2JS } from "re2js";
import type { TargetType } from "../../contracts/events/job.js";
import { NatriumError } from "../../contracts/errors.js";
import { CidrError, ipcidrMatchGrains, parseCidr, type Cidr } from "./ipcidr.js";

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
  return subdictMatch(grains, expr, grainValueMatch);
}

/**
 * As Salt's subdict_match: every split of "a:b:val" into a grain path and a value is tried,
 * deepest path first, so nested keys and values with ':' in them both work. A list matches if
 * a member does; a dict matches if one of its keys does (or "*" for grain globs).
 */
function subdictMatch(grains: Record<string, unknown>, expr: string, valueMatch: (v: unknown, want: string) => boolean): boolean {
  const parts = expr.split(":");
  // One walk down the grains (as grainLookup would for each prefix), so a target of thousands
  // of ':' costs linear time, not one lookup per split.
  const found: [number, unknown][] = [];
  let cur: unknown = grains;
  for (let i = 1; i < parts.length; i++) {
    if (cur === null || typeof cur !== "object" || Array.isArray(cur)) break;
    cur = (cur as Record<string, unknown>)[parts[i - 1]];
    if (cur === undefined) break;
    found.push([i, cur]);
  }
  for (let k = found.length - 1; k >= 0; k--) {
    const [i, got] = found[k];
    const want = parts.slice(i).join(":");
    const values = Array.isArray(got) ? got : [got];
    if (values.some((v) => valueMatch(v, want))) return true;
  }
  return false;
}

function grainValueMatch(v: unknown, want: string): boolean {
  // Values match by fnmatch, case-insensitively.
  if (v !== null && typeof v === "object") {
    return !Array.isArray(v) && (want === "*" || Object.prototype.hasOwnProperty.call(v, want));
  }
  return globMatch(want.toLowerCase(), String(v).toLowerCase());
}

const grainPcreCache = new Map<string, RE2JS>();

/** A grain_pcre value regex: case-insensitive (Salt lowercases both sides), anchored at the start. */
export function grainPcreCompile(tgt: string): RE2JS {
  let re = grainPcreCache.get(tgt);
  if (re) return re;
  try {
    re = RE2JS.compile(tgt, RE2JS.CASE_INSENSITIVE);
  } catch (err) {
    throw new RegexTargetError(tgt, unsupported(tgt, (err as Error).message));
  }
  if (grainPcreCache.size > 10_000) grainPcreCache.clear();
  grainPcreCache.set(tgt, re);
  return re;
}

function grainPcreValueMatch(v: unknown, want: string): boolean {
  let re: RE2JS;
  try {
    re = grainPcreCompile(want);
  } catch (err) {
    if (err instanceof TargetError) return false;
    throw err;
  }
  if (v !== null && typeof v === "object") {
    return !Array.isArray(v) && Object.keys(v).some((k) => re.matcher(k).lookingAt());
  }
  return re.matcher(String(v)).lookingAt();
}

/** Salt's grain_pcre: "key:regex", nested keys with ':', the regex re.match'ed case-insensitively. */
function grainPcreMatch(grains: Record<string, unknown>, expr: string): boolean {
  return subdictMatch(grains, expr, grainPcreValueMatch);
}

function checkGrainPcre(tgt: string): void {
  const colon = tgt.indexOf(":");
  if (colon < 1) throw new TargetError(`grain_pcre target "${tgt}" needs the form key:regex`, tgt);
  // The widest value (everything after the first ':'); deeper splits are tried when matching.
  grainPcreCompile(tgt.slice(colon + 1));
}

function cidrOf(tgt: string): Cidr {
  try {
    return parseCidr(tgt);
  } catch (err) {
    if (err instanceof CidrError) throw new TargetError(`ipcidr target refused: ${err.message}`, tgt);
    throw err;
  }
}

const cidrCache = new Map<string, Cidr | null>();

function ipcidrMatch(tgt: string, grains: Record<string, unknown>): boolean {
  let c = cidrCache.get(tgt);
  if (c === undefined) {
    try {
      c = parseCidr(tgt);
    } catch {
      c = null;
    }
    if (cidrCache.size > 10_000) cidrCache.clear();
    cidrCache.set(tgt, c);
  }
  return c !== null && ipcidrMatchGrains(c, grains);
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
  if (type === "grain_pcre") checkGrainPcre(tgt);
  if (type === "ipcidr") cidrOf(tgt);
  if (type === "compound") parseCompound(tgt);
  if (type === "nodegroup" && !NODEGROUP_NAME.test(tgt)) throw new TargetError(`"${tgt}" is not a nodegroup name`, tgt);
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
      return typeof tgt === "string" && safePcreMatch(tgt, id);
    case "grain_pcre":
      return typeof tgt === "string" && grainPcreMatch(grains, tgt);
    case "ipcidr":
      return typeof tgt === "string" && ipcidrMatch(tgt, grains);
    case "compound":
      // A compound target that does not parse is refused at the master; here it throws (the
      // minion notes a bad_target), as does an unexpanded N@.
      if (typeof tgt !== "string") throw new TargetError("a compound target is a string", tgt);
      return evaluate(parseCompound(tgt), id, grains);
    case "nodegroup":
      throw new NodegroupTargetError(`nodegroup "${String(tgt)}" was not expanded: the master expands nodegroups into compound targets before publishing`, tgt);
    default: {
      const never: never = type;
      throw new TargetError(`unknown target type ${String(never)}`, tgt);
    }
  }
}

function safePcreMatch(tgt: string, id: string): boolean {
  try {
    return pcreMatch(tgt, id);
  } catch (err) {
    if (err instanceof TargetError) return false;
    throw err;
  }
}

// ---- compound targets -------------------------------------------------------------------------
//
// Salt's syntax: words separated by whitespace, joined by `and`, `or`, `not` and parentheses,
// with Python's precedence (not > and > or). A bare word is a glob on the id; a word `X@value`
// is a matcher by its prefix. Parentheses may stand alone or stick to a word: leading '(' are
// always split off; trailing ')' only as many as the word has unbalanced ones, so a regex like
// `E@web(1|2)` keeps its own.
//
// The parser is a recursive descent whose depth (parentheses plus `not`) is capped at
// MAX_COMPOUND_DEPTH, so a hostile `((((...` is a typed error, never a stack overflow; the
// expression is parsed once (cached) and evaluated per minion in time linear in its size, each
// leaf on RE2 or a set lookup.

export const MAX_COMPOUND_DEPTH = 64;
/** Leaves and operators in one expression, after nodegroup expansion. */
export const MAX_COMPOUND_NODES = 10_000;
export const NODEGROUP_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}$/;

/** A compound target that does not parse: where, and what the parser expected there. */
export class CompoundTargetError extends TargetError {
  override readonly name = "CompoundTargetError";
  constructor(
    readonly expression: string,
    /** 0-based character offset in the expression. */
    readonly position: number,
    readonly expected: string,
    detail: string,
  ) {
    super(`compound target is invalid at position ${position}: ${detail} (expected ${expected})`, expression);
  }
}

/** An unknown nodegroup, a cycle of nodegroups, or an N@ a minion cannot expand. */
export class NodegroupTargetError extends TargetError {
  override readonly name = "NodegroupTargetError";
}

export type CompoundLeafKind = "glob" | "grain" | "grain_pcre" | "list" | "pcre" | "ipcidr" | "nodegroup";

export type CompoundNode =
  | { op: "leaf"; kind: CompoundLeafKind; /** The word as written, prefix included. */ text: string; value: string; ids?: Set<string>; cidr?: Cidr }
  | { op: "not"; kid: CompoundNode }
  | { op: "and" | "or"; kids: CompoundNode[] };

const PREFIXES: Record<string, CompoundLeafKind> = { G: "grain", P: "grain_pcre", L: "list", E: "pcre", S: "ipcidr", N: "nodegroup" };
const UNSUPPORTED_PREFIXES: Record<string, string> = { I: "pillar", J: "pillar pcre", R: "range", X: "exsel", D: "data store" };

interface Token {
  kind: "word" | "and" | "or" | "not" | "(" | ")";
  text: string;
  pos: number;
}

function tokenize(expr: string): Token[] {
  const out: Token[] = [];
  const re = /\S+/g;
  for (let m = re.exec(expr); m; m = re.exec(expr)) {
    let word = m[0];
    let pos = m.index;
    while (word.startsWith("(")) {
      out.push({ kind: "(", text: "(", pos });
      word = word.slice(1);
      pos++;
    }
    if (!word) continue;
    let open = 0;
    let close = 0;
    for (const c of word) {
      if (c === "(") open++;
      else if (c === ")") close++;
    }
    let trailing = 0;
    while (trailing < word.length && word[word.length - 1 - trailing] === ")") trailing++;
    const strip = Math.min(trailing, Math.max(0, close - open));
    const core = word.slice(0, word.length - strip);
    if (core) {
      const kind = core === "and" || core === "or" || core === "not" ? core : "word";
      out.push({ kind, text: core, pos });
    }
    for (let i = 0; i < strip; i++) out.push({ kind: ")", text: ")", pos: pos + core.length + i });
  }
  return out;
}

function leaf(expr: string, t: Token): CompoundNode {
  const m = /^([A-Z])@([\s\S]*)$/.exec(t.text);
  const fail = (expected: string, detail: string): never => {
    throw new CompoundTargetError(expr, t.pos, expected, detail);
  };
  if (!m) {
    try {
      globToRegExp(t.text);
    } catch (err) {
      fail("a valid glob", (err as Error).message);
    }
    return { op: "leaf", kind: "glob", text: t.text, value: t.text };
  }
  const [, prefix, value] = m;
  const kind = PREFIXES[prefix];
  if (!kind) {
    const what = UNSUPPORTED_PREFIXES[prefix];
    fail("one of the prefixes G@ P@ L@ E@ S@ N@", `${prefix}@ ${what ? `(${what}) is not supported` : "is not a known prefix"}`);
  }
  if (!value) fail(`a value after ${prefix}@`, `"${t.text}" is empty`);
  try {
    switch (kind) {
      case "grain":
        if (!value.includes(":")) fail("key:value after G@", `grain target "${value}" has no ':'`);
        return { op: "leaf", kind, text: t.text, value };
      case "grain_pcre":
        checkGrainPcre(value);
        return { op: "leaf", kind, text: t.text, value };
      case "list":
        return { op: "leaf", kind, text: t.text, value, ids: new Set(listOf(value)) };
      case "pcre":
        pcreCompile(value);
        return { op: "leaf", kind, text: t.text, value };
      case "ipcidr":
        return { op: "leaf", kind, text: t.text, value, cidr: cidrOf(value) };
      case "nodegroup":
        if (!NODEGROUP_NAME.test(value)) fail("a nodegroup name after N@", `"${value}" is not a nodegroup name`);
        return { op: "leaf", kind, text: t.text, value };
      default:
        return fail("a known prefix", `${prefix}@ is not a known prefix`);
    }
  } catch (err) {
    if (err instanceof CompoundTargetError || !(err instanceof TargetError)) throw err;
    return fail(`a valid ${kind} target after ${prefix}@`, err.message);
  }
}

const compoundCache = new Map<string, CompoundNode>();

/** Parse (and validate every leaf of) a compound expression; throws CompoundTargetError. */
export function parseCompound(expr: string): CompoundNode {
  const cached = compoundCache.get(expr);
  if (cached) return cached;
  if (typeof expr !== "string") throw new TargetError("a compound target is a string", expr);
  const toks = tokenize(expr);
  let i = 0;
  let nodes = 0;
  const peek = () => toks[i];
  const where = () => (i < toks.length ? toks[i].pos : expr.length);
  const found = () => (i < toks.length ? `found "${toks[i].text}"` : "found the end of the expression");
  const fail = (expected: string, detail = found()): never => {
    throw new CompoundTargetError(expr, where(), expected, detail);
  };
  const count = () => {
    if (++nodes > MAX_COMPOUND_NODES) fail(`at most ${MAX_COMPOUND_NODES} words and operators`, "the expression is too long");
  };
  const tooDeep = () => fail(`at most ${MAX_COMPOUND_DEPTH} levels of parentheses and 'not'`, "the expression nests too deeply");

  const parseOr = (depth: number): CompoundNode => {
    const kids = [parseAnd(depth)];
    while (peek()?.kind === "or") {
      i++;
      kids.push(parseAnd(depth));
    }
    if (kids.length === 1) return kids[0];
    count();
    return { op: "or", kids };
  };
  const parseAnd = (depth: number): CompoundNode => {
    const kids = [parseNot(depth)];
    // As Salt: `not` right after an operand means `and not` ("web* not web2").
    while (peek()?.kind === "and" || peek()?.kind === "not") {
      if (peek().kind === "and") i++;
      kids.push(parseNot(depth));
    }
    if (kids.length === 1) return kids[0];
    count();
    return { op: "and", kids };
  };
  const parseNot = (depth: number): CompoundNode => {
    let nots = 0;
    while (peek()?.kind === "not") {
      if (depth + nots + 1 > MAX_COMPOUND_DEPTH) tooDeep();
      nots++;
      i++;
    }
    let node = parsePrimary(depth + nots);
    for (let k = 0; k < nots; k++) {
      count();
      node = { op: "not", kid: node };
    }
    return node;
  };
  const parsePrimary = (depth: number): CompoundNode => {
    const t = peek();
    if (t?.kind === "(") {
      if (depth + 1 > MAX_COMPOUND_DEPTH) tooDeep();
      i++;
      const inner = parseOr(depth + 1);
      if (peek()?.kind !== ")") fail(`")" to close the "(" at position ${t.pos}`);
      i++;
      return inner;
    }
    if (t?.kind === "word") {
      count();
      i++;
      return leaf(expr, t);
    }
    return fail("a target word, \"not\" or \"(\"");
  };

  if (toks.length === 0) fail("a target word, \"not\" or \"(\"", "the expression is empty");
  const root = parseOr(0);
  if (i < toks.length) fail(peek().kind === ")" ? "no \")\" here: it closes nothing" : "\"and\", \"or\" or the end of the expression");
  if (compoundCache.size > 1000) compoundCache.clear();
  compoundCache.set(expr, root);
  return root;
}

/** Whether the parsed expression selects the minion `id` with `grains`: linear in the expression. */
export function evaluate(node: CompoundNode, id: string, grains: Record<string, unknown>): boolean {
  switch (node.op) {
    case "and":
      return node.kids.every((k) => evaluate(k, id, grains));
    case "or":
      return node.kids.some((k) => evaluate(k, id, grains));
    case "not":
      return !evaluate(node.kid, id, grains);
    case "leaf":
      switch (node.kind) {
        case "glob":
          return globMatch(node.value, id);
        case "list":
          return node.ids!.has(id);
        case "grain":
          return grainMatch(grains, node.value);
        case "grain_pcre":
          return grainPcreMatch(grains, node.value);
        case "pcre":
          return safePcreMatch(node.value, id);
        case "ipcidr":
          return ipcidrMatchGrains(node.cidr!, grains);
        case "nodegroup":
          throw new NodegroupTargetError(`N@${node.value} was not expanded: only the master knows nodegroups`, node.text);
      }
  }
}

/** The expression as text that parses back to the same tree (parentheses only where needed). */
export function formatCompound(node: CompoundNode): string {
  const wrap = (kid: CompoundNode, parent: "and" | "or" | "not"): string => {
    const text = formatCompound(kid);
    if (kid.op === "leaf" || kid.op === "not") return text;
    // An `and` inside an `or` needs none; anything else keeps its grouping.
    return parent === "or" && kid.op === "and" ? text : `( ${text} )`;
  };
  switch (node.op) {
    case "leaf":
      return node.text;
    case "not":
      return `not ${wrap(node.kid, "not")}`;
    default:
      return node.kids.map((k) => wrap(k, node.op as "and" | "or")).join(` ${node.op} `);
  }
}

// ---- nodegroups -------------------------------------------------------------------------------

/** Salt's nodegroups: name -> compound expression, or a list of minion ids. */
export type Nodegroups = Record<string, string | string[]>;

/**
 * Replace every N@name (and a whole `nodegroup` target) by the group's expression, recursively,
 * at the master: the published job carries a compound target any minion can evaluate. A cycle,
 * an unknown name, or an expansion over the size/depth caps is a NodegroupTargetError.
 */
export function expandTarget(tgt: string | string[], type: TargetType, groups: Nodegroups): { tgt: string | string[]; tgt_type: TargetType } {
  if (type !== "nodegroup" && type !== "compound") return { tgt, tgt_type: type };
  if (typeof tgt !== "string") throw new TargetError(`a ${type} target is a string`, tgt);
  let root: CompoundNode;
  if (type === "nodegroup") {
    if (!NODEGROUP_NAME.test(tgt)) throw new NodegroupTargetError(`"${tgt}" is not a nodegroup name`, tgt);
    root = { op: "leaf", kind: "nodegroup", text: `N@${tgt}`, value: tgt };
  } else root = parseCompound(tgt);
  if (!hasNodegroup(root)) return { tgt, tgt_type: "compound" };
  let budget = MAX_COMPOUND_NODES;
  const expand = (node: CompoundNode, path: string[]): CompoundNode => {
    if (--budget < 0) throw new NodegroupTargetError(`target "${tgt}" expands to more than ${MAX_COMPOUND_NODES} words and operators`, tgt);
    if (node.op === "not") return { op: "not", kid: expand(node.kid, path) };
    if (node.op !== "leaf") return { op: node.op, kids: node.kids.map((k) => expand(k, path)) };
    if (node.kind !== "nodegroup") return node;
    const name = node.value;
    if (path.includes(name)) throw new NodegroupTargetError(`nodegroup cycle: ${[...path, name].join(" -> ")}`, tgt);
    if (!Object.prototype.hasOwnProperty.call(groups, name)) {
      const known = Object.keys(groups).sort();
      throw new NodegroupTargetError(
        `unknown nodegroup "${name}"${path.length ? ` (in nodegroup "${path[path.length - 1]}")` : ""}; the master's nodegroups: ${known.length ? known.join(", ") : "none"}`,
        tgt,
      );
    }
    return expand(nodegroupTree(name, groups[name]), [...path, name]);
  };
  const text = formatCompound(expand(root, []));
  if (text.length > 65536) throw new NodegroupTargetError(`target "${tgt}" expands to ${text.length} characters, more than 65536`, tgt);
  try {
    parseCompound(text); // the minions parse it with the same caps
  } catch (err) {
    if (err instanceof TargetError) throw new NodegroupTargetError(`target "${tgt}" expands to an expression that is refused: ${err.message}`, tgt);
    throw err;
  }
  return { tgt: text, tgt_type: "compound" };
}

/** One nodegroup's definition as a tree: a compound string, or a list of ids (L@a,b). */
function nodegroupTree(name: string, def: string | string[]): CompoundNode {
  if (Array.isArray(def)) {
    const bad = def.find((id) => typeof id !== "string" || !id || /[\s,()]/.test(id));
    if (bad !== undefined || !def.length) {
      throw new NodegroupTargetError(`nodegroup "${name}": a list of minion ids must be non-empty, without spaces, commas or parentheses in an id`, def);
    }
    return { op: "leaf", kind: "list", text: `L@${def.join(",")}`, value: def.join(","), ids: new Set(def) };
  }
  try {
    return parseCompound(def);
  } catch (err) {
    if (err instanceof TargetError) throw new NodegroupTargetError(`nodegroup "${name}": ${err.message}`, def);
    throw err;
  }
}

function hasNodegroup(node: CompoundNode): boolean {
  if (node.op === "leaf") return node.kind === "nodegroup";
  if (node.op === "not") return hasNodegroup(node.kid);
  return node.kids.some(hasNodegroup);
}

/** Check every nodegroup of a master's config (parse, names, cycles): a bad one stops the master. */
export function checkNodegroups(groups: Nodegroups): void {
  for (const name of Object.keys(groups)) {
    if (!NODEGROUP_NAME.test(name)) throw new NodegroupTargetError(`nodegroup name "${name}" is invalid (letters, digits, _ . -)`, name);
    expandTarget(name, "nodegroup", groups);
  }
}
