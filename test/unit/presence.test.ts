// The master's presence book: given sightings and the clock, then the up/down verdicts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PresenceBook } from "../../services/master/presence.js";
import { eventIds } from "../../contracts/ids.js";
import { grainsSummary, handleMinions } from "../../services/master/minionsapi.js";
import { MinionRegistry } from "../../services/master/registry.js";
import { createLogger } from "../../services/common/log.js";

const T = 90_000; // presence_timeout
const START = 1_000_000;
const acc = (id: string, acceptedAt = 0) => ({ id, acceptedAt });

test("presence - first sight is up; more sightings say nothing new", () => {
  const b = new PresenceBook(T, START);
  assert.deepEqual(b.seen("web1", { at: START + 1, eid: "hb.1", via: "heartbeat" }), { id: "web1", state: "up", reason: "seen", via: "heartbeat", lastSeen: START + 1, cause: "hb.1" });
  assert.equal(b.seen("web1", { at: START + 2, eid: "hb.2", via: "heartbeat" }), undefined);
  assert.equal(b.get("web1")?.lastSeen, START + 2);
});

test("presence - nobody is declared down during the grace period after start", () => {
  const b = new PresenceBook(T, START);
  b.restore("web1", "up", START - 5_000, "presence.up.x", START - 5_000);
  assert.deepEqual(b.sweep(START + T - 1, [acc("web1"), acc("web2")]), []);
  // Once it is over: the restored up minion silent since before the start is down, the one
  // never heard of is down once, as never_seen.
  const v = b.sweep(START + T, [acc("web1"), acc("web2")]);
  assert.deepEqual(v, [
    { id: "web1", state: "down", reason: "timeout", lastSeen: START - 5_000, cause: "presence.up.x" },
    { id: "web2", state: "down", reason: "never_seen", cause: "never_seen.0" },
  ]);
  assert.deepEqual(b.sweep(START + 2 * T, [acc("web1"), acc("web2")]), [], "down is said once");
});

test("presence - silent for presence_timeout: down, with the last message as cause; a heartbeat brings it back up", () => {
  const b = new PresenceBook(T, START);
  b.seen("web1", { at: START + T, eid: "hb.1", via: "heartbeat" });
  assert.deepEqual(b.sweep(START + 2 * T, [acc("web1")]), [], "exactly presence_timeout is not yet down");
  const [down] = b.sweep(START + 2 * T + 1, [acc("web1")]);
  assert.deepEqual(down, { id: "web1", state: "down", reason: "timeout", lastSeen: START + T, cause: "hb.1" });
  const up = b.seen("web1", { at: START + 3 * T, eid: "ret.7", via: "return" });
  assert.equal(up?.state, "up");
  assert.equal(up?.via, "return");
  assert.equal(b.get("web1")?.since, START + 3 * T);
});

test("presence - a key accepted recently gets its own grace; a restart does not repeat up", () => {
  const b = new PresenceBook(T, START);
  const now = START + 10 * T;
  assert.deepEqual(b.sweep(now, [acc("new", now - T + 5)]), []);
  assert.equal(b.sweep(now + 5, [acc("new", now - T + 5)])[0]?.reason, "never_seen");
  const r = new PresenceBook(T, START);
  r.restore("web1", "up", START - 1000, "presence.up.y", START - 1000);
  assert.equal(r.seen("web1", { at: START + 10, eid: "hb.9", via: "heartbeat" }), undefined, "already up per the last verdict");
  r.restore("web1", "down", START - 500, "presence.down.z", START - 500);
  assert.equal(r.get("web1")?.state, "up", "a sighting since start wins over the stream's older record");
});

test("presence - an old message (redelivered) neither brings a minion up nor moves last_seen back", () => {
  const b = new PresenceBook(T, START);
  b.seen("web1", { at: START + T, eid: "hb.1", via: "heartbeat" });
  b.sweep(START + 3 * T, [acc("web1")]);
  assert.equal(b.seen("web1", { at: START + T - 1, eid: "start.0", via: "start" }), undefined);
  assert.equal(b.get("web1")?.state, "down");
});

test("presence - minions no longer accepted are forgotten: accepted again, the first sight is news", () => {
  const b = new PresenceBook(T, START);
  b.seen("web1", { at: START, eid: "hb.1", via: "heartbeat" });
  b.sweep(START + 1, []);
  assert.equal(b.get("web1"), undefined);
  assert.equal(b.seen("web1", { at: START + 2, eid: "hb.2", via: "heartbeat" })?.state, "up");
});

test("presence - verdict ids are deterministic per cause and bounded in length", () => {
  const long = "x.".repeat(127) + "y";
  const a = eventIds.presence(long, "down", "hb.1");
  assert.equal(a, eventIds.presence(long, "down", "hb.1"));
  assert.notEqual(a, eventIds.presence(long, "up", "hb.1"));
  assert.notEqual(a, eventIds.presence(long, "down", "hb.2"));
  assert.ok(a.length <= 60, a);
});

test("minions api - every key, presence only for accepted ones, filters, grains summary", () => {
  const reg = new MinionRegistry(createLogger({ svc: "t" }, "quiet"));
  const rec = (id: string, state: "accepted" | "pending" | "rejected" | "deleted") => ({ id, state, pub: "A".repeat(43) + "=", box_pub: "A".repeat(43) + "=", finger: "f", ts: 0 });
  for (const [id, st] of [["web2", "accepted"], ["web1", "accepted"], ["new", "pending"], ["bad", "rejected"], ["gone", "deleted"]] as const) reg.keys.set(id, rec(id, st));
  reg.grains.set("web1", { os: "Debian", osrelease: "12", ipv4: ["127.0.0.1", "10.0.0.11"], num_cpus: 4, mem_total: 7936, roles: ["web"] });
  const book = new PresenceBook(T, START);
  book.seen("web1", { at: START + 5, eid: "hb.1", via: "heartbeat" });
  book.sweep(START + T + 1, [acc("web1"), acc("web2")]);
  book.seen("web1", { at: START + T + 2, eid: "hb.2", via: "heartbeat" });
  const view = { entry: (id: string) => book.get(id), inGrace: () => false };
  const all = handleMinions({ v: 1 }, reg, view, { masterId: "m", timeoutSec: 90, now: START + T + 3 });
  assert.deepEqual(all.minions.map((m) => [m.id, m.key, m.presence, m.last_seen]), [
    ["bad", "rejected", "unknown", null],
    ["new", "pending", "unknown", null],
    ["web1", "accepted", "up", START + T + 2],
    ["web2", "accepted", "down", null],
  ]);
  assert.deepEqual(all.minions.find((m) => m.id === "web1")?.grains, { os: "Debian", osrelease: "12", ipv4: "10.0.0.11", num_cpus: 4, mem_total: 7936 });
  assert.deepEqual(handleMinions({ v: 1, presence: "down" }, reg, view, { masterId: "m", timeoutSec: 90 }).minions.map((m) => m.id), ["web2"]);
  assert.deepEqual(handleMinions({ v: 1, presence: "up", match: ["web*"] }, reg, view, { masterId: "m", timeoutSec: 90 }).minions.map((m) => m.id), ["web1"]);
  assert.throws(() => handleMinions({ v: 1, presence: "sideways" }, reg, view, { masterId: "m", timeoutSec: 90 }), /minions request/);
  assert.deepEqual(grainsSummary(undefined), {});
  assert.deepEqual(grainsSummary({ os: "", ipv4: "127.0.0.1", num_cpus: "4" }), { ipv4: "127.0.0.1" });
});
