// Times on the command line: an ISO date or date-time ("2026-11-27", "2026-11-27T08:00Z"), or
// how long ago ("90s", "30m", "2h", "7d", "2w"), as `--since`/`--until` take them.

import { NatriumError } from "../../contracts/errors.js";

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export function parseWhen(flag: string, v: string, now = Date.now()): number {
  const rel = /^(\d+(?:\.\d+)?)([smhdw])$/.exec(v.trim());
  if (rel) return Math.round(now - Number(rel[1]) * UNITS[rel[2]]);
  // A date or date-time in ISO form; a bare date means midnight UTC.
  if (/^\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$/.test(v.trim())) {
    const ms = Date.parse(v.trim());
    if (Number.isFinite(ms)) return ms;
  }
  throw new NatriumError("bad_argument", `--${flag} "${v}" is not a time: give an ISO date or time (2026-11-27, 2026-11-27T08:00Z) or how long ago (30m, 2h, 7d)`);
}
