import { test } from "node:test";
import assert from "node:assert/strict";
import { CronError, cronMatches, cronNext, parseCron } from "../../services/minion/cron.js";
import { parseEntry, ScheduleEntryError } from "../../services/minion/scheduler.js";

const U = { utc: true };
const at = (iso: string) => new Date(iso);
const next = (expr: string, from: string) => cronNext(parseCron(expr), at(from), U)?.toISOString();
/** The next `n` firings after `from`, as ISO strings. */
function series(expr: string, from: string, n: number): string[] {
  const spec = parseCron(expr);
  const out: string[] = [];
  let d = at(from);
  for (let i = 0; i < n; i++) {
    d = cronNext(spec, d, U)!;
    out.push(d.toISOString());
  }
  return out;
}

test("cron - fields: star, value, list, range, steps", () => {
  const s = parseCron("*/15 9-17 1,15 * mon-fri");
  assert.deepEqual([...s.minute], [0, 15, 30, 45]);
  assert.deepEqual([...s.hour], [9, 10, 11, 12, 13, 14, 15, 16, 17]);
  assert.deepEqual([...s.dom], [1, 15]);
  assert.equal(s.month.size, 12);
  assert.deepEqual([...s.dow].sort(), [1, 2, 3, 4, 5]);
  assert.deepEqual([...parseCron("10-30/10 * * * *").minute], [10, 20, 30]);
  // `a/n` runs from a to the field's end (Vixie cron)
  assert.deepEqual([...parseCron("50/4 * * * *").minute], [50, 54, 58]);
  assert.deepEqual([...parseCron("0 0 * jan,jul-aug *").month], [1, 7, 8]);
  assert.deepEqual([...parseCron("1,2,5-6 * * * *").minute], [1, 2, 5, 6]);
  // 7 and 0 are both Sunday
  assert.deepEqual([...parseCron("0 0 * * 7").dow], [0]);
  assert.deepEqual([...parseCron("0 0 * * 5-7").dow].sort(), [0, 5, 6]);
});

test("cron - next: every minute, every 5, hourly, daily", () => {
  assert.equal(next("* * * * *", "2026-11-27T08:26:15Z"), "2026-11-27T08:27:00.000Z");
  assert.equal(next("* * * * *", "2026-11-27T08:26:00Z"), "2026-11-27T08:27:00.000Z", "strictly after");
  assert.deepEqual(series("*/5 * * * *", "2026-11-27T08:26:15Z", 3), ["2026-11-27T08:30:00.000Z", "2026-11-27T08:35:00.000Z", "2026-11-27T08:40:00.000Z"]);
  assert.equal(next("0 * * * *", "2026-11-27T23:30:00Z"), "2026-11-28T00:00:00.000Z");
  assert.equal(next("30 2 * * *", "2026-12-31T03:00:00Z"), "2027-01-01T02:30:00.000Z", "across a year");
});

test("cron - day of month and day of week: OR when both are restricted, AND when one is *", () => {
  // 2026-11-27 is a Friday. "the 1st, or any Monday": next is Monday 30th, then Tue Dec 1st, then Mon Dec 7th
  assert.deepEqual(series("0 0 1 * mon", "2026-11-27T12:00:00Z", 3), ["2026-11-30T00:00:00.000Z", "2026-12-01T00:00:00.000Z", "2026-12-07T00:00:00.000Z"]);
  // day-of-week `*`: only the 1st
  assert.deepEqual(series("0 0 1 * *", "2026-11-27T12:00:00Z", 2), ["2026-12-01T00:00:00.000Z", "2027-01-01T00:00:00.000Z"]);
  // day-of-month `*`: only Mondays
  assert.deepEqual(series("0 0 * * mon", "2026-11-27T12:00:00Z", 2), ["2026-11-30T00:00:00.000Z", "2026-12-07T00:00:00.000Z"]);
  // a `*/n` day-of-month counts as `*` (Vixie's DOM_STAR): days 1,3,5… that are also Mondays
  assert.equal(next("0 0 */2 * mon", "2026-11-27T12:00:00Z"), "2026-12-07T00:00:00.000Z");
  const s = parseCron("0 12 13 * fri");
  assert.ok(cronMatches(s, at("2026-11-13T12:00:30Z"), U), "Friday the 13th");
  assert.ok(cronMatches(s, at("2026-11-20T12:00:00Z"), U), "a Friday");
  assert.ok(cronMatches(s, at("2027-01-13T12:00:00Z"), U), "a 13th, a Wednesday");
  assert.ok(!cronMatches(s, at("2026-11-19T12:00:00Z"), U), "a Thursday the 19th");
  assert.ok(!cronMatches(s, at("2026-11-20T12:01:00Z"), U), "wrong minute");
});

test("cron - rare dates: Feb 29 and the 31st", () => {
  assert.equal(next("0 0 29 feb *", "2026-11-27T00:00:00Z"), "2028-02-29T00:00:00.000Z");
  assert.deepEqual(series("0 0 31 * *", "2026-11-27T00:00:00Z", 3), ["2026-12-31T00:00:00.000Z", "2027-01-31T00:00:00.000Z", "2027-03-31T00:00:00.000Z"]);
});

test("cron - local time by default", () => {
  const s = parseCron("15 10 * * *");
  const d = cronNext(s, new Date(2026, 10, 27, 9, 0))!;
  assert.deepEqual([d.getHours(), d.getMinutes(), d.getDate()], [10, 15, 27]);
  assert.ok(cronMatches(s, new Date(2026, 10, 27, 10, 15, 42)));
});

test("cron - bad expressions name the field", () => {
  const bad: [string, RegExp][] = [
    ["* * * *", /needs 5 fields.*got 4/],
    ["", /needs 5 fields.*got 0/],
    ["60 * * * *", /minute: 60 is outside 0-59/],
    ["* 24 * * *", /hour: 24 is outside 0-23/],
    ["* * 0 * *", /day of month: 0 is outside 1-31/],
    ["* * * 13 *", /month: 13 is outside 1-12/],
    ["* * * * 8", /day of week: 8 is outside 0-7/],
    ["*/0 * * * *", /minute: step "0"/],
    ["5-1 * * * *", /minute: range "5-1" runs backwards/],
    ["* * * foo *", /month: "foo" is not a value.*jan\.\.dec/],
    ["1,,2 * * * *", /minute: empty list item/],
    ["0 0 30 feb *", /no date ever matches/],
    ["0 0 31 apr,jun *", /no date ever matches/],
  ];
  for (const [expr, re] of bad) assert.throws(() => parseCron(expr), (e: unknown) => e instanceof CronError && re.test(e.message), expr);
});

test("schedule entry - defaults, units summed, refusals naming the key", () => {
  const e = parseEntry("job1", { function: "test.ping", minutes: 1, seconds: "30" });
  assert.equal(e.interval, 90);
  assert.deepEqual([e.run_on_start, e.maxrunning, e.enabled, e.return_job, e.splay], [true, 1, true, true, 0]);
  const c = parseEntry("c", { function: "test.ping", cron: "*/5 * * * *" });
  assert.equal(c.run_on_start, false, "cron entries wait for their minute");
  const refused: [Record<string, unknown>, RegExp][] = [
    [{ seconds: 5 }, /"job1", key "function": missing/],
    [{ function: "ping", seconds: 5 }, /key "function": must be module.function/],
    [{ function: "test.ping" }, /give seconds, minutes, hours or days.*or cron/],
    [{ function: "test.ping", seconds: 5, cron: "* * * * *" }, /key "cron": cannot be combined/],
    [{ function: "test.ping", cron: "* * *" }, /key "cron": cron expression "\* \* \*": needs 5 fields/],
    [{ function: "test.ping", seconds: 5, splay: 5 }, /key "splay": must be less than the interval/],
    [{ function: "test.ping", seconds: 5, maxrunning: 0 }, /key "maxrunning": must be a whole number ≥ 1/],
    [{ function: "test.ping", seconds: 5, enabled: "maybe" }, /key "enabled": must be true or false/],
    [{ function: "test.ping", seconds: 5, args: "x" }, /key "args": must be a list/],
    [{ function: "test.ping", seconds: 5, kwargs: [1] }, /key "kwargs": must be a mapping/],
    [{ function: "test.ping", seconds: 5, job_args: [] }, /key "job_args": unknown key; known: function, args/],
    [{ function: "test.ping", seconds: 0.5 }, /key "seconds": the interval must be at least 1 second in all, got 0.5 s/],
    [{ function: "test.ping", minutes: 0, seconds: 0 }, /key "seconds\+minutes": the interval must be at least 1 second/],
    [{ function: "test.ping", days: 400 }, /key "days": the interval must be at most 366 days/],
  ];
  for (const [raw, re] of refused) assert.throws(() => parseEntry("job1", raw), (err: unknown) => err instanceof ScheduleEntryError && re.test(err.message), JSON.stringify(raw));
  assert.throws(() => parseEntry("../x", { function: "test.ping", seconds: 1 }), /a name is 1-128 letters/);
});
