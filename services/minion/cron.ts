// A 5-field cron expression (minute hour day-of-month month day-of-week), as Vixie cron reads
// it, for the minion scheduler's `cron:` entries. Small and self-contained rather than a
// dependency: the grammar is fixed and tiny, and the one subtle rule (day-of-month OR
// day-of-week when both are restricted) is easier to pin down in our own tests than to audit
// in someone else's parser.
//
// Grammar per field: `*`, a number, a range `a-b`, a step `*/n`, `a-b/n` or `a/n` (from a to
// the field's end), and comma-separated lists of these. Months take jan..dec, days of week
// sun..sat (0 and 7 are both Sunday). Times are the minion's local time unless `utc` is asked.

import { NatriumError } from "../../contracts/errors.js";

/** A cron expression that cannot be read; the message names the field and what is wrong. */
export class CronError extends NatriumError {
  constructor(readonly expr: string, message: string) {
    super("bad_cron", `cron expression "${expr}": ${message}`);
  }
}

export interface CronSpec {
  expr: string;
  minute: ReadonlySet<number>;
  hour: ReadonlySet<number>;
  dom: ReadonlySet<number>;
  month: ReadonlySet<number>;
  /** 0 = Sunday … 6 = Saturday (a 7 in the expression is stored as 0). */
  dow: ReadonlySet<number>;
  /** Whether the day-of-month / day-of-week field starts with `*` (Vixie cron's DOM_STAR/DOW_STAR). */
  domStar: boolean;
  dowStar: boolean;
}

const MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];
const DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

interface FieldDef {
  name: string;
  min: number;
  max: number;
  names?: string[];
  /** Value of names[0]. */
  namesFrom?: number;
}

const FIELDS: FieldDef[] = [
  { name: "minute", min: 0, max: 59 },
  { name: "hour", min: 0, max: 23 },
  { name: "day of month", min: 1, max: 31 },
  { name: "month", min: 1, max: 12, names: MONTHS, namesFrom: 1 },
  { name: "day of week", min: 0, max: 7, names: DAYS, namesFrom: 0 },
];

function value(expr: string, f: FieldDef, s: string): number {
  const lower = s.toLowerCase();
  if (f.names) {
    const i = f.names.indexOf(lower);
    if (i >= 0) return i + f.namesFrom!;
  }
  if (!/^\d+$/.test(s)) {
    const hint = f.names ? ` (a number ${f.min}-${f.max} or a name ${f.names[0]}..${f.names[f.names.length - 1]})` : ` (a number ${f.min}-${f.max})`;
    throw new CronError(expr, `${f.name}: "${s}" is not a value${hint}`);
  }
  const n = Number(s);
  if (n < f.min || n > f.max) throw new CronError(expr, `${f.name}: ${n} is outside ${f.min}-${f.max}`);
  return n;
}

function field(expr: string, f: FieldDef, text: string): Set<number> {
  const out = new Set<number>();
  for (const part of text.split(",")) {
    if (!part) throw new CronError(expr, `${f.name}: empty list item in "${text}"`);
    const [range, stepText, extra] = part.split("/");
    if (extra !== undefined) throw new CronError(expr, `${f.name}: "${part}" has more than one "/"`);
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d+$/.test(stepText) || Number(stepText) === 0) throw new CronError(expr, `${f.name}: step "${stepText}" must be a whole number above 0`);
      step = Number(stepText);
    }
    let lo: number;
    let hi: number;
    if (range === "*") {
      lo = f.min;
      hi = f.max;
    } else if (range.includes("-")) {
      const [a, b, more] = range.split("-");
      if (more !== undefined || !a || !b) throw new CronError(expr, `${f.name}: "${range}" is not a range a-b`);
      lo = value(expr, f, a);
      hi = value(expr, f, b);
      if (hi < lo) throw new CronError(expr, `${f.name}: range "${range}" runs backwards`);
    } else {
      lo = value(expr, f, range);
      // `a/n` means a, a+n, … to the field's end, as Vixie cron reads it.
      hi = stepText !== undefined ? f.max : lo;
    }
    for (let v = lo; v <= hi; v += step) out.add(v);
  }
  return out;
}

/** Read a 5-field cron expression; throws CronError naming the field at fault. */
export function parseCron(expr: string): CronSpec {
  const parts = expr.trim().split(/\s+/);
  if (parts.length !== 5 || parts[0] === "") {
    throw new CronError(expr, `needs 5 fields (minute hour day-of-month month day-of-week), got ${parts[0] === "" ? 0 : parts.length}`);
  }
  const sets = parts.map((p, i) => field(expr, FIELDS[i]!, p));
  const dow = new Set([...sets[4]!].map((d) => d % 7));
  const spec: CronSpec = {
    expr,
    minute: sets[0]!,
    hour: sets[1]!,
    dom: sets[2]!,
    month: sets[3]!,
    dow,
    domStar: parts[2]!.startsWith("*"),
    dowStar: parts[4]!.startsWith("*"),
  };
  if (cronNext(spec, new Date(Date.UTC(2000, 0, 1)), { utc: true, withinDays: 366 * 8 + 2 }) === undefined) {
    throw new CronError(expr, "no date ever matches it (e.g. the 31st of a 30-day month)");
  }
  return spec;
}

function dayMatches(spec: CronSpec, dom: number, dow: number): boolean {
  // Vixie cron: when both day fields are restricted, a day matching either one runs;
  // when one of them is `*`-based, the other alone decides.
  if (spec.domStar || spec.dowStar) return spec.dom.has(dom) && spec.dow.has(dow);
  return spec.dom.has(dom) || spec.dow.has(dow);
}

interface Clock {
  get(d: Date): { min: number; hour: number; dom: number; month: number; dow: number; year: number };
  make(year: number, month: number, dom: number, hour: number, min: number): Date;
}

const UTC: Clock = {
  get: (d) => ({ min: d.getUTCMinutes(), hour: d.getUTCHours(), dom: d.getUTCDate(), month: d.getUTCMonth() + 1, dow: d.getUTCDay(), year: d.getUTCFullYear() }),
  make: (y, mo, d, h, mi) => new Date(Date.UTC(y, mo - 1, d, h, mi)),
};
const LOCAL: Clock = {
  get: (d) => ({ min: d.getMinutes(), hour: d.getHours(), dom: d.getDate(), month: d.getMonth() + 1, dow: d.getDay(), year: d.getFullYear() }),
  make: (y, mo, d, h, mi) => new Date(y, mo - 1, d, h, mi),
};

/** Whether the minute that holds `at` matches. */
export function cronMatches(spec: CronSpec, at: Date, opts: { utc?: boolean } = {}): boolean {
  const t = (opts.utc ? UTC : LOCAL).get(at);
  return spec.minute.has(t.min) && spec.hour.has(t.hour) && spec.month.has(t.month) && dayMatches(spec, t.dom, t.dow);
}

/**
 * The first matching minute strictly after `after`, or undefined when none falls within
 * `withinDays` (default 8 years, enough for any Feb 29 pattern). Skips whole months, days and
 * hours that cannot match, so it takes at most a few thousand steps.
 */
export function cronNext(spec: CronSpec, after: Date, opts: { utc?: boolean; withinDays?: number } = {}): Date | undefined {
  const c = opts.utc ? UTC : LOCAL;
  const limit = after.getTime() + (opts.withinDays ?? 366 * 8 + 2) * 86_400_000;
  const a = c.get(after);
  let d = c.make(a.year, a.month, a.dom, a.hour, a.min + 1);
  while (d.getTime() <= limit) {
    const t = c.get(d);
    if (!spec.month.has(t.month)) {
      d = c.make(t.year, t.month + 1, 1, 0, 0);
    } else if (!dayMatches(spec, t.dom, t.dow)) {
      d = c.make(t.year, t.month, t.dom + 1, 0, 0);
    } else if (!spec.hour.has(t.hour)) {
      const next = c.make(t.year, t.month, t.dom, t.hour + 1, 0);
      // A local clock going back (end of DST) can repeat an hour; never step backwards.
      d = next.getTime() > d.getTime() ? next : new Date(d.getTime() + 3_600_000);
    } else if (!spec.minute.has(t.min)) {
      d = new Date(d.getTime() + 60_000);
    } else {
      return d;
    }
  }
  return undefined;
}
