// Live output coalescing (services/minion/progress.ts) and line printing (cli/lib/progress.ts).

import { test } from "node:test";
import assert from "node:assert/strict";
import { Coalescer, _cutUtf8, type Chunk } from "../../services/minion/progress.js";
import { LinePrinter } from "../../cli/lib/progress.js";
import { PROG_CHUNK_MAX } from "../../contracts/events/job.js";

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

function collect(o: ConstructorParameters<typeof Coalescer>[1] = {}, accept: (c: Chunk) => boolean = () => true) {
  const out: Chunk[] = [];
  const co = new Coalescer((c) => {
    if (!accept(c)) return false;
    out.push(c);
    return true;
  }, o);
  return { co, out };
}

test("progress - writes close together become one chunk, sent after flushMs", async () => {
  const { co, out } = collect({ flushMs: 40 });
  co.write("stdout", Buffer.from("a\n"));
  co.write("stdout", Buffer.from("b\n"));
  assert.equal(out.length, 0, "nothing is sent before flushMs");
  await wait(80);
  assert.deepEqual(out, [{ seq: 0, stream: "stdout", data: "a\nb\n", dropped: 0 }]);
  co.write("stdout", "c\n");
  co.end();
  assert.deepEqual(out.map((c) => [c.seq, c.data]), [[0, "a\nb\n"], [1, "c\n"]]);
});

test("progress - a write to the other stream sends what is pending first: order is kept", () => {
  const { co, out } = collect({ flushMs: 10_000 });
  co.write("stdout", "out1 ");
  co.write("stderr", "err1 ");
  co.write("stderr", "err2 ");
  co.write("stdout", "out2");
  co.end();
  assert.deepEqual(out.map((c) => [c.seq, c.stream, c.data]), [
    [0, "stdout", "out1 "],
    [1, "stderr", "err1 err2 "],
    [2, "stdout", "out2"],
  ]);
});

test("progress - big output is cut into chunks of at most 16 KiB, without splitting a character", () => {
  const { co, out } = collect({ flushMs: 10_000 });
  const text = "é".repeat(20_000) + "x".repeat(10_001); // 40 000 + 10 001 bytes
  co.write("stdout", Buffer.from(text));
  co.end();
  assert.ok(out.length >= 4, `${out.length} chunks`);
  for (const c of out) assert.ok(Buffer.byteLength(c.data) <= PROG_CHUNK_MAX, `chunk ${c.seq} is ${Buffer.byteLength(c.data)} bytes`);
  assert.equal(out.map((c) => c.data).join(""), text);
  assert.deepEqual(out.map((c) => c.seq), out.map((_, i) => i));
  assert.deepEqual(_cutUtf8("aé", 2), ["a", "é"]);
});

test("progress - a character split across writes is decoded whole", () => {
  const { co, out } = collect({ flushMs: 10_000 });
  const b = Buffer.from("€uro");
  co.write("stdout", b.subarray(0, 1));
  co.write("stdout", b.subarray(1, 2));
  co.write("stdout", b.subarray(2));
  co.end();
  assert.equal(out.map((c) => c.data).join(""), "€uro");
});

test("progress - a chunk that cannot be sent is dropped and counted; the next one says how much; seq has no gap", () => {
  let up = false;
  const { co, out } = collect({ flushMs: 10_000 }, () => up);
  co.write("stdout", "lost ");
  co.flush();
  co.write("stdout", "lost too ");
  co.flush();
  up = true;
  co.write("stdout", "kept");
  co.end();
  assert.deepEqual(out, [{ seq: 0, stream: "stdout", data: "kept", dropped: 14 }]);
  assert.deepEqual(co.stats, { chunks: 1, bytes: 4, droppedChunks: 2, droppedBytes: 14 });
});

test("progress - output faster than the budget is dropped rather than queued", () => {
  let t = 0;
  const { co, out } = collect({ flushMs: 10_000, bytesPerSec: 32 * 1024, now: () => t });
  for (let i = 0; i < 10; i++) co.write("stdout", "y".repeat(PROG_CHUNK_MAX));
  assert.equal(out.length, 2, "the burst allows two full chunks");
  assert.equal(co.stats.droppedChunks, 8);
  t += 1000; // a second later the budget is back
  co.write("stdout", "z");
  co.end();
  assert.equal(out.at(-1)!.data, "z");
  assert.equal(out.at(-1)!.dropped, 8 * PROG_CHUNK_MAX);
  assert.equal(out.at(-1)!.seq, 2);
});

test("progress - nothing is sent after end", async () => {
  const { co, out } = collect({ flushMs: 5 });
  co.write("stdout", "a");
  co.end();
  co.write("stdout", "b");
  await wait(20);
  assert.deepEqual(out.map((c) => c.data), ["a"]);
});

test("progress - lines are printed with the minion id, partial lines kept until they end", () => {
  const lines: string[] = [];
  const p = new LinePrinter((l, st) => lines.push(`${st} ${l}`));
  p.push({ id: "web1", stream: "stdout", data: "one\ntw" });
  p.push({ id: "web2", stream: "stdout", data: "x\r\n" });
  p.push({ id: "web1", stream: "stderr", data: "oops" });
  p.push({ id: "web1", stream: "stdout", data: "o\nthree" });
  p.flush();
  assert.deepEqual(lines, ["stdout web1: one", "stdout web2: x", "stdout web1: two", "stdout web1: three", "stderr web1: oops"]);
});

// ---- the wire side and cmd's hook, without a server ----------------------------------------

import type { NatsConnection } from "@nats-io/transport-node";
import { progressPublisher, _canPublish } from "../../services/minion/progress.js";
import { subjects } from "../../contracts/subjects.js";
import { openAs, verifyAs } from "../../contracts/message.js";
import { ephemeralKeys } from "../../services/common/keys.js";
import { ModuleLoader, type ExecContext } from "../../services/minion/modules/index.js";
import { createLogger } from "../../services/common/log.js";

/** A stand-in connection: records publishes; `connected`, `backlog` and `fail` steer it. */
function fakeNc() {
  const sent: { subject: string; data: Uint8Array; headers: Map<string, string> }[] = [];
  const state = { connected: true, backlog: 0, fail: false, closed: false };
  const nc = {
    isClosed: () => state.closed,
    protocol: { get connected() { return state.connected; }, outbound: { size: () => state.backlog } },
    publish(subject: string, data: Uint8Array, o: { headers: { get(k: string): string; keys(): string[] } }) {
      if (state.fail) throw new Error("boom");
      sent.push({ subject, data, headers: new Map(o.headers.keys().map((k) => [k, o.headers.get(k)])) });
    },
  };
  return { nc: nc as unknown as NatsConnection, sent, state };
}

test("progress - chunks go out sealed by the minion on its own prog subject; a dead or backed-up connection drops them", () => {
  const { nc, sent, state } = fakeNc();
  const s = subjects("natrium");
  const keys = ephemeralKeys();
  const jid = "20261127082615123456";
  const co = progressPublisher(nc, s, jid, "web1.example.com", keys.sign, { flushMs: 10_000 });
  co.write("stdout", "one\n");
  co.flush();
  state.connected = false;
  co.write("stdout", "lost\n");
  co.flush();
  state.connected = true;
  state.backlog = 2 * 1024 * 1024;
  assert.equal(_canPublish(nc), false, "a backed-up client is not fed more");
  co.write("stdout", "lost\n");
  co.flush();
  state.backlog = 0;
  state.fail = true;
  co.write("stdout", "lost\n");
  co.flush();
  state.fail = false;
  co.write("stderr", "two\n");
  co.end();
  assert.equal(sent.length, 2);
  const bodies = sent.map((m) => {
    const o = openAs("job.prog", m.subject, m.data, { get: (k: string) => m.headers.get(k) ?? "" });
    verifyAs(o, keys.sign.pub, "web1");
    assert.equal(m.subject, s.jobProg(jid, "web1.example.com"));
    return o.body;
  });
  assert.deepEqual(bodies.map((b) => [b.seq, b.stream, b.data, b.dropped]), [[0, "stdout", "one\n", undefined], [1, "stderr", "two\n", 15]]);
  assert.deepEqual(co.stats, { chunks: 2, bytes: 8, droppedChunks: 3, droppedBytes: 15 });
});

test("progress - cmd.run hands its output to ctx.progress as it is written; progress=False does not", async () => {
  const loader = new ModuleLoader();
  const got: [string, string][] = [];
  const ctx: ExecContext = {
    id: "m1", jid: "20261127082615123456", fun: "cmd.run", grains: {}, signal: new AbortController().signal,
    log: createLogger({}, "quiet"), setRetcode() {}, modules: loader,
    progress: (st, d) => got.push([st, d.toString()]),
  };
  const fn = await loader.resolve("cmd.run");
  const out = await fn(ctx, ["echo a; echo b >&2; echo c"], {});
  assert.deepEqual(String(out).split("\n").sort(), ["a", "b", "c"], "the return has it all (pipes race: order across streams is not fixed)");
  assert.equal(got.filter(([st]) => st === "stdout").map(([, d]) => d).join(""), "a\nc\n");
  assert.equal(got.filter(([st]) => st === "stderr").map(([, d]) => d).join(""), "b\n");
  got.length = 0;
  assert.equal(await fn(ctx, ["echo quiet"], { progress: false }), "quiet");
  assert.deepEqual(got, []);
});
