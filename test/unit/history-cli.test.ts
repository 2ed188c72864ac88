// The pieces of history queries that need no server: times on the command line, globs as LIKE
// patterns, and comparing two jobs' returns.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseWhen } from "../../cli/lib/when.js";
import { globToLike } from "../../services/jobcache/queries.js";
import { diffJobs } from "../../cli/commands/jobs/diff.js";
import type { JobReply } from "../../contracts/api.js";

test("history - --since/--until: ISO dates and times, or how long ago; anything else is a clear error", () => {
  const now = Date.UTC(2026, 10, 27, 12, 0, 0);
  assert.equal(parseWhen("since", "2h", now), now - 7_200_000);
  assert.equal(parseWhen("since", "90s", now), now - 90_000);
  assert.equal(parseWhen("since", "1.5d", now), now - 129_600_000);
  assert.equal(parseWhen("since", "2026-11-01", now), Date.UTC(2026, 10, 1));
  assert.equal(parseWhen("until", "2026-11-27T08:00Z", now), Date.UTC(2026, 10, 27, 8));
  assert.equal(parseWhen("until", "2026-11-27T08:00:00+02:00", now), Date.UTC(2026, 10, 27, 6));
  for (const bad of ["yesterday", "2h ago", "", "2026-13-45", "-5m"]) {
    assert.throws(() => parseWhen("since", bad, now), (e: Error & { code?: string }) => e.code === "bad_argument" && e.message.includes("--since"), bad);
  }
});

test("history - a glob becomes a LIKE pattern with everything but * and ? literal", () => {
  assert.equal(globToLike("cmd.*"), "cmd.%");
  assert.equal(globToLike("web?"), "web_");
  assert.equal(globToLike("50%_off\\"), "50\\%\\_off\\\\");
});

test("history - jobs diff tells same, differing and one-sided returns apart", () => {
  const job = (jid: string, rets: [string, boolean, number, unknown][]): JobReply => ({
    job: { jid, fun: "cmd.run", arg: [], tgt: "*", tgt_type: "glob", user: "admin", expected: rets.length, returned: rets.length, failed: 0, created: 0, finished: 1 },
    minions: rets.map((r) => r[0]),
    missing: [],
    done_reason: "all_returned",
    returns: rets.map(([minion, success, retcode, ret]) => ({ minion, success, retcode, return: ret, start: 0, end: 1, duration_ms: 1 })),
  });
  const d = diffJobs(
    job("20260101000000000001", [["web1", true, 0, { a: [1, 2] }], ["web2", true, 0, "x"], ["db1", true, 0, 1]]),
    job("20260101000000000002", [["web1", true, 0, { a: [1, 2] }], ["web2", false, 1, "x"], ["db2", true, 0, 1]]),
  );
  assert.deepEqual(d.minions.map((m) => [m.minion, m.state]), [["db1", "only_a"], ["db2", "only_b"], ["web1", "same"], ["web2", "differs"]]);
  assert.deepEqual([d.same, d.differs, d.only_a, d.only_b], [1, 1, 1, 1]);
});
