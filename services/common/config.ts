// Service configuration: a YAML file, validated against the service's TypeBox schema before
// anything starts. A wrong key or type stops the service with a message naming the key.
// Environment variables NATS_URL and DATABASE_URL override the file, as operators expect.

import { readFileSync } from "node:fs";
import { Type, type TObject, type Static } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { parse as parseYaml } from "yaml";
import { NatriumError, showValue as show } from "../../contracts/errors.js";
import { LogLevels } from "./log.js";

export class ConfigError extends NatriumError {
  constructor(message: string, readonly file?: string, readonly key?: string) {
    super("bad_config", file ? `${file}: ${message}` : message);
  }
}

/** Keys every service has. */
export const CommonConfig = {
  nats_url: Type.String({ default: "nats://127.0.0.1:4222", description: "NATS server URL(s), comma-separated; NATS_URL overrides" }),
  ns: Type.String({ default: "natrium", pattern: "^[a-z][a-z0-9_-]{0,31}$", description: "subject namespace; every service of one installation uses the same" }),
  log_level: Type.Union(LogLevels.map((l) => Type.Literal(l)), { default: "info", description: "trace, debug, info, warning, error or quiet" }),
  nats_seed: Type.String({ default: "", description: "NATS nkey seed file (SU..., 0600) to authenticate with on a locked-down server; default: the nkey of the service's own Ed25519 key (master, minion), none (job cache)" }),
  pki_dir: Type.String({ default: "", description: "directory for this service's keys (0700, keys 0600); default <data_dir>/pki" }),
  data_dir: Type.String({ default: "/var/lib/natrium", description: "directory for state this service keeps on disk" }),
};

/**
 * Load and validate. `overrides` come from CLI flags and win over the file; environment
 * variables win over the file but not over flags.
 */
export function loadConfig<T extends TObject>(
  schema: T,
  file: string | undefined,
  overrides: Record<string, unknown> = {},
  env: NodeJS.ProcessEnv = process.env,
): Static<T> {
  let raw: unknown = {};
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      throw new ConfigError(`cannot read config file: ${(err as Error).message}`, file);
    }
    try {
      raw = parseYaml(text) ?? {};
    } catch (err) {
      throw new ConfigError(`not valid YAML: ${(err as Error).message}`, file);
    }
    if (typeof raw !== "object" || Array.isArray(raw) || raw === null) {
      throw new ConfigError("the top level must be a mapping of keys to values", file);
    }
  }
  const merged: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  if (env.NATS_URL && "nats_url" in schema.properties) merged.nats_url = env.NATS_URL;
  if (env.DATABASE_URL && "database_url" in schema.properties) merged.database_url = env.DATABASE_URL;
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) merged[k] = v;

  const known = Object.keys(schema.properties);
  for (const k of Object.keys(merged)) {
    if (!known.includes(k)) {
      const near = nearest(k, known);
      throw new ConfigError(
        `unknown key "${k}"${near ? ` (did you mean "${near}"?)` : ""}; known keys: ${known.join(", ")}`,
        file,
        k,
      );
    }
  }
  for (const k of Object.keys(merged)) {
    const bad = shapeProblem(merged[k]);
    if (bad) throw new ConfigError(`key "${k}": ${bad}`, file, k);
  }
  const withDefaults = Value.Default(schema, Value.Clone(merged)) as Record<string, unknown>;
  const check = TypeCompiler.Compile(schema);
  const first = check.Errors(withDefaults).First();
  if (first) {
    const key = first.path.replace(/^\//, "").replace(/\//g, ".");
    const sub = (first.schema as { description?: string }).description;
    throw new ConfigError(
      `key "${key}": ${first.message} (got ${show(first.value)})${sub ? `; expected ${sub}` : ""}`,
      file,
      key,
    );
  }
  return withDefaults as Static<T>;
}

const MAX_DEPTH = 100;

/**
 * What makes a value unusable before its type is even looked at: a YAML alias inside its own
 * anchor (`a: &x [*x]`) makes it circular, which cloning and every later encode would overflow
 * the stack on, and nesting deeper than MAX_DEPTH levels is no configuration anyone writes.
 */
function shapeProblem(v: unknown): string | undefined {
  const onPath = new Set<object>();
  const done = new Set<object>(); // a shared (not circular) alias is walked once
  const walk = (x: unknown, depth: number): string | undefined => {
    if (x === null || typeof x !== "object" || done.has(x)) return undefined;
    if (onPath.has(x)) return "the value contains itself (a YAML alias inside its own anchor)";
    if (depth > MAX_DEPTH) return `the value nests deeper than ${MAX_DEPTH} levels`;
    onPath.add(x);
    for (const y of Array.isArray(x) ? x : Object.values(x)) {
      const bad = walk(y, depth + 1);
      if (bad) return bad;
    }
    onPath.delete(x);
    done.add(x);
    return undefined;
  };
  return walk(v, 1);
}

/**
 * The known key an unknown one was most likely meant to be: the same but for case, '_' and '-'
 * ("nats-url", "LogLevel"), or a typo away from it ("nats_ulr", "bach_size"): edit distance
 * (with transpositions) of 1 for short keys, 2 from 5 characters on.
 */
function nearest(key: string, known: string[]): string | undefined {
  const norm = (s: string) => s.replace(/[_-]/g, "").toLowerCase();
  const k = norm(key);
  let best: string | undefined;
  let bestD = Infinity;
  for (const n of known) {
    const d = editDistance(k, norm(n));
    if (d < bestD) [best, bestD] = [n, d];
  }
  return best !== undefined && bestD <= (k.length < 5 ? 1 : 2) ? best : undefined;
}

/** Optimal string alignment distance: insertions, deletions, substitutions, adjacent swaps. */
function editDistance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/** The documentation of a config schema: key, default, description (docs/config.md is checked against it). */
export function describeConfig(schema: TObject): { key: string; default: unknown; description: string }[] {
  return Object.entries(schema.properties).map(([key, s]) => ({
    key,
    default: (s as { default?: unknown }).default,
    description: (s as { description?: string }).description ?? "",
  }));
}
