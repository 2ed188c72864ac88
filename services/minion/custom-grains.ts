// Grains set on the minion itself (grains.setval, grains.append, grains.delval), kept in
// <data_dir>/grains as YAML, like Salt's /etc/salt/grains: loaded at start over the detected and
// configured grains, rewritten atomically on every change.

import { existsSync, readFileSync } from "node:fs";
import { writeFileAtomic } from "../common/atomic.js";
import { parse, stringify } from "yaml";
import { NatriumError } from "../../contracts/errors.js";
import type { Grains } from "./grains.js";

export class CustomGrainsError extends NatriumError {
  constructor(file: string, why: string) {
    super("bad_grains_file", `${file}: ${why}; fix or remove the file (it holds the grains set with grains.setval)`);
  }
}

export class CustomGrains {
  private values: Grains = {};

  constructor(readonly file?: string) {
    if (!file || !existsSync(file)) return;
    let v: unknown;
    try {
      v = parse(readFileSync(file, "utf8"));
    } catch (err) {
      throw new CustomGrainsError(file, `not valid YAML: ${(err as Error).message}`);
    }
    if (v === null || v === undefined) return;
    if (typeof v !== "object" || Array.isArray(v)) throw new CustomGrainsError(file, "the top level must be a mapping of grain names to values");
    this.values = v as Grains;
  }

  all(): Grains {
    return { ...this.values };
  }

  /** Set (or, with `undefined`, remove) one grain and persist the set. */
  set(key: string, value: unknown): void {
    const next = { ...this.values };
    if (value === undefined) delete next[key];
    else next[key] = value;
    if (this.file) writeFileAtomic(this.file, stringify(next));
    this.values = next;
  }
}
