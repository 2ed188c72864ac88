// `natrium minions list` output: relative times and the table, from a reply.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ago, minionsNote, minionsTable } from "../../cli/lib/minions.js";
import type { MinionsReply } from "../../contracts/api.js";

test("minions cli - last seen, relative", () => {
  const now = 10_000_000;
  assert.equal(ago(null, now), "never");
  assert.equal(ago(now - 200, now), "just now");
  assert.equal(ago(now + 5000, now), "just now", "a clock ahead is not in the future");
  assert.equal(ago(now - 42_000, now), "42s ago");
  assert.equal(ago(now - 5 * 60_000, now), "5m ago");
  assert.equal(ago(now - 3 * 3_600_000, now), "3h ago");
  assert.equal(ago(now - 3 * 86_400_000, now), "3d ago");
});

test("minions cli - one line per minion: id, state, last seen, key, os, ipv4, cpus", () => {
  const now = 1_800_000_000_000;
  const r: MinionsReply = {
    now, presence_timeout: 90, grace: false, master: "master",
    minions: [
      { id: "db1", key: "accepted", presence: "down", last_seen: now - 600_000, since: now - 500_000, grains: { os: "Ubuntu", osrelease: "24.04", ipv4: "10.0.0.2", num_cpus: 8 } },
      { id: "new", key: "pending", presence: "unknown", last_seen: null, since: null, grains: {} },
      { id: "web1", key: "accepted", presence: "up", last_seen: now - 3000, since: now - 100_000, grains: { os: "Debian", osrelease: "12", ipv4: "10.0.0.11", num_cpus: 4 } },
    ],
  };
  assert.deepEqual(minionsTable(r).split("\n"), [
    "ID    STATE  LAST SEEN  KEY       OS            IPV4       CPUS",
    "db1   down   10m ago    accepted  Ubuntu 24.04  10.0.0.2   8",
    "new   -      -          pending",
    "web1  up     3s ago     accepted  Debian 12     10.0.0.11  4",
  ]);
  assert.equal(minionsNote(r), undefined);
  assert.match(minionsNote({ ...r, grace: true }) ?? "", /presence_timeout \(90 s\)/);
});
