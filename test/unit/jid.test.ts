import { test } from "node:test";
import assert from "node:assert/strict";
import { newJid, formatJid, jidToMicros, jidToDate } from "../../contracts/jid.js";
import { SubjectError } from "../../contracts/errors.js";

test("jid - 20 digits, and close to now", () => {
  const before = Date.now();
  const j = newJid();
  const after = Date.now();
  assert.match(j, /^\d{20}$/);
  const t = jidToDate(j).getTime();
  // performance.timeOrigin + now() may drift from Date.now() by a little
  assert.ok(t >= before - 1000 && t <= after + 1000, `${j} is ${t}, now is ${before}..${after}`);
});

test("jid - strictly increasing across 100k calls in one process", () => {
  let prev = newJid();
  const seen = new Set<string>([prev]);
  for (let i = 0; i < 100_000; i++) {
    const j = newJid();
    assert.ok(j > prev, `${j} after ${prev}`);
    assert.equal(j.length, 20);
    seen.add(j);
    prev = j;
  }
  assert.equal(seen.size, 100_001);
});

test("jid - after skips a taken jid, even one in the future", () => {
  const future = "20991231235959999990";
  const a = newJid(future);
  assert.equal(a, "20991231235959999991");
  // and everything after it keeps increasing
  const b = newJid();
  assert.ok(b > a);
  // rolling over the second, the minute, ... the year
  assert.equal(newJid("21001231235959999999"), "21010101000000000000");
  // after in the past changes nothing but is still respected
  const c = newJid("20000101000000000000");
  assert.ok(c > "21010101000000000000");
});

test("jid - after must itself be a jid", () => {
  for (const bad of ["", "123", "2026112708261512345x", "202611270826151234567"]) {
    assert.throws(() => newJid(bad), SubjectError, bad);
  }
});

test("jid - round trip between micros, jid and date", () => {
  let x = 12345;
  for (let i = 0; i < 5000; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    const micros = BigInt(x) * 1_000_000n + BigInt((x * 7) % 1_000_000) + 946_684_800_000_000n;
    const j = formatJid(micros);
    assert.match(j, /^\d{20}$/);
    assert.equal(jidToMicros(j), micros, j);
    assert.equal(formatJid(jidToMicros(j)), j);
    assert.equal(jidToDate(j).getTime(), Number(micros / 1000n));
  }
  assert.equal(formatJid(1795767975123456n), "20261127082615123456");
  assert.equal(jidToDate("20261127082615123456").toISOString(), "2026-11-27T08:26:15.123Z");
});

test("jid - jids sort as strings in time order", () => {
  const a = formatJid(999_999n);
  const b = formatJid(1_000_000n);
  assert.equal(a, "19700101000000999999");
  assert.equal(b, "19700101000001000000");
  assert.ok(a < b);
});
