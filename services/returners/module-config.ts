// Reading a returner's config keys. Values arrive as strings (`--config k=v`) or as YAML values
// (numbers, booleans), so each reader accepts both spellings and refuses anything else with an
// error naming the key. `done()` refuses keys nobody read: a misspelt key (`timout_ms`) would
// otherwise be ignored without a word and its default used.
import { ReturnerConfigError } from "./errors.js";

export class ConfigReader {
  private readonly seen = new Set<string>();

  constructor(
    private readonly returner: string,
    private readonly raw: Record<string, unknown>,
  ) {}

  private take(key: string): unknown {
    this.seen.add(key);
    const v = this.raw[key];
    return v === null || v === "" ? undefined : v;
  }

  private bad(key: string, problem: string): never {
    throw new ReturnerConfigError(this.returner, key, problem);
  }

  /** A string; `undefined` when absent and there is no default. */
  string(key: string): string | undefined;
  string(key: string, dflt: string): string;
  string(key: string, dflt?: string): string | undefined {
    const v = this.take(key);
    if (v === undefined) return dflt;
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    return this.bad(key, `must be a string, not ${JSON.stringify(v)}`);
  }

  /** A string that must be given. */
  required(key: string, hint: string): string {
    const v = this.string(key);
    if (v === undefined) this.bad(key, `is required: ${hint}`);
    return v;
  }

  /** A whole number within [min, max]. */
  int(key: string, dflt: number, min: number, max: number): number {
    const v = this.take(key);
    if (v === undefined) return dflt;
    const n = typeof v === "number" ? v : typeof v === "string" && /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
    if (!Number.isSafeInteger(n)) this.bad(key, `must be a whole number, not ${JSON.stringify(v)}`);
    if (n < min || n > max) this.bad(key, `must be between ${min} and ${max}, not ${n}`);
    return n;
  }

  /** true/false, also yes/no, on/off, 1/0 as YAML 1.1 and Salt configs spell them. */
  bool(key: string, dflt: boolean): boolean {
    const v = this.take(key);
    if (v === undefined) return dflt;
    if (typeof v === "boolean") return v;
    const s = String(v).trim().toLowerCase();
    if (["true", "yes", "on", "1"].includes(s)) return true;
    if (["false", "no", "off", "0"].includes(s)) return false;
    return this.bad(key, `must be true or false, not ${JSON.stringify(v)}`);
  }

  /** One of a fixed set of words. */
  oneOf<T extends string>(key: string, allowed: readonly T[], dflt: T): T {
    const v = this.string(key);
    if (v === undefined) return dflt;
    const s = v.trim().toLowerCase();
    if (!(allowed as readonly string[]).includes(s)) this.bad(key, `must be one of ${allowed.join(", ")}, not ${JSON.stringify(v)}`);
    return s as T;
  }

  /** Throw for the value of a key that was read but failed a check of the caller's. */
  invalid(key: string, problem: string): never {
    return this.bad(key, problem);
  }

  /** Refuse every key that was not read: call after reading them all. */
  done(): void {
    const unknown = Object.keys(this.raw).filter((k) => !this.seen.has(k)).sort();
    if (unknown.length) {
      const known = [...this.seen].sort().join(", ");
      this.bad(unknown[0], `is not a ${this.returner} setting${unknown.length > 1 ? ` (nor are ${unknown.slice(1).join(", ")})` : ""}; known keys: ${known}`);
    }
  }
}

