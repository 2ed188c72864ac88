// The conformance suite of ordered returners (sdk.ts OrderedReturnerModule): the module runs
// under the real ordered host (services/returners/ordered.ts) against a real nats-server, and
// the suite checks what exactly-once rests on. Add one with a line in
// ordered-conformance.test.ts:
//
//   orderedConformance("examples/returners/exactly-once", { module: "dist/examples/returners/exactly-once.js", config: () => ({ url }) });
//
// Checked:
//   * its header comment documents every config key the test passes, with defaults;
//   * every message of the stream reaches apply() once, in stream order, across a throw in
//     apply() (the host resumes after position()) and a stop and a start of the host: so
//     position() must say exactly what the module committed;
//   * ctx.verify() passes the genuine messages and refuses a forged return;
//   * rewind(fromSeq) makes the host deliver the messages from fromSeq again, once each;
//   * with the four queries: getJid has each minion's return, getLoad the job;
//   * close() is called when the host stops.
// Failures are injected by the suite around the module, so the module needs no test hooks.

import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { createLogger } from "../../services/common/log.js";
import { OrderedHost } from "../../services/returners/ordered.js";
import { returnerDurable } from "../../contracts/permissions.js";
import { loadReturnerModule } from "../../services/returners/loader.js";
import { isOrdered, type Checked, type OrderedReturnerModule, type ReturnerContext, type StreamMessage } from "../../services/returners/sdk.js";
import { natsFixture, type NatsFixture } from "../helpers/fixture.js";
import { ROOT } from "../helpers/cli.js";
import { publishAll } from "../../services/jobcache/testkit.js";
import { headerOf } from "./conformance.js";
import { freshNs, jid, openBus, publishJobs, until } from "./kit.js";

export interface OrderedConformanceOptions {
  /** The path of the compiled module, relative to the repository root. */
  module: string;
  /** The module's config (a fresh destination each call: the suite runs it once). */
  config: () => Record<string, unknown>;
}

let fx: NatsFixture | undefined;

const MINIONS = ["m1", "m2", "m3"];

export function orderedConformance(label: string, o: OrderedConformanceOptions): void {
  fx ??= natsFixture("natrium-ordered-conformance-");
  const f = fx;
  test(`ordered returner conformance - ${label}`, { timeout: 120_000 }, async (t) => {
    const path = resolve(ROOT, o.module);
    const config = o.config();
    await t.test("its header documents its config keys and their defaults", () => {
      const header = headerOf(readFileSync(path.replace(`${ROOT}/dist/`, `${ROOT}/`).replace(/\.js$/, ".ts"), "utf8"));
      assert.match(header, /config/i, "the header has no config section");
      assert.match(header, /default/i, "the header gives no defaults");
      for (const k of Object.keys(config)) assert.match(header, new RegExp(`\\b${k}\\b`), `config key "${k}" is not in the header`);
    });

    const loaded = await loadReturnerModule(path);
    assert.ok(isOrdered(loaded), `${o.module} is not an ordered returner (ordered: true)`);
    const real = loaded;
    const ns = freshNs("oc");
    const bus = await openBus(f.nats.url, ns, MINIONS);

    // What apply() committed, in call order: every sequence must appear once, increasing.
    const applied: number[] = [];
    let throwAt = 0;
    let threw = 0;
    let closed = 0;
    let ctx: ReturnerContext | undefined;
    const wrapped: OrderedReturnerModule = {
      ...real,
      ordered: true,
      async setup(c) {
        ctx = c;
        await real.setup?.(c);
      },
      position: () => real.position(),
      async apply(batch, prepared) {
        // Injected before the module's call: a failure where nothing of the batch is committed.
        if (throwAt && batch.some((m) => m.seq === throwAt)) {
          throwAt = 0;
          threw++;
          throw new Error("conformance: this batch fails once");
        }
        await real.apply(batch, prepared);
        applied.push(...batch.map((m) => m.seq));
      },
      async close() {
        closed++;
        await real.close?.();
      },
    };
    const host = () =>
      new OrderedHost({
        nc: bus.nc, s: bus.s, name: "oconf", durable: returnerDurable("oconf"), module: wrapped, config, label: `returner "oconf"`,
        log: createLogger({ svc: "returner", test: label }, "error"), batchSize: 50, batchWaitMs: 10, ackWaitSec: 10,
      });
    const lastSeq = async () => (await bus.jsm.streams.info(bus.s.stream)).state.last_seq;
    const caughtUp = async (h: OrderedHost) => {
      const last = await lastSeq();
      await until("the host to reach the end of the stream", async () => h.lastSeq, (s) => s >= last);
      return last;
    };
    const onceEach = (from: number, to: number, seqs: number[]) => {
      assert.deepEqual(seqs, Array.from({ length: to - from + 1 }, (_, i) => from + i), "apply() did not get every message once, in order");
    };

    let h = host();
    try {
      await h.start();
      await publishJobs(bus, 0, 20, MINIONS, { withDone: true });
      const forged = bus.cast.jobRet(jid(500), "intruder");
      await publishAll(bus.js, [forged]);
      const first = await caughtUp(h);
      throwAt = first + 30;
      await publishJobs(bus, 20, 20, MINIONS, { withDone: true });
      const second = await caughtUp(h);
      await h.stop();
      assert.equal(threw, 1, "the injected failure never happened");

      await t.test("every message once, in order, across a failed apply()", () => onceEach(1, second, applied));
      await t.test("close() is called when the host stops", () => assert.equal(closed, 1));

      // Stopped: what arrives meanwhile is delivered after the next start's position(), once.
      await publishJobs(bus, 40, 10, MINIONS, { withDone: true });
      h = host();
      await h.start();
      const third = await caughtUp(h);
      await t.test("a stopped and started host goes on after position(), missing nothing", () => onceEach(1, third, applied));

      await t.test("ctx.verify() passes genuine messages and refuses a forged return", async () => {
        assert.ok(ctx?.verify, "the ordered host gives no ctx.verify()");
        const msg = async (seq: number): Promise<StreamMessage> => {
          const sm = await bus.jsm.streams.getMessage(bus.s.stream, { seq });
          assert.ok(sm, `no message ${seq} in the stream`);
          return { seq, subject: sm.subject, data: sm.data, headers: sm.header, time: sm.time.getTime() };
        };
        const good: Checked = await ctx.verify(await msg(2));
        assert.equal(good.ok, true);
        const forgedSeq = (await bus.jsm.streams.getMessage(bus.s.stream, { last_by_subj: forged.subject }))?.seq ?? 0;
        const bad = await ctx.verify(await msg(forgedSeq));
        assert.equal(bad.ok, false);
        assert.match(bad.ok ? "" : bad.reason, /intruder/);
      });

      if (real.rewind) {
        await t.test("rewind(fromSeq) delivers the messages from fromSeq again, once each", async () => {
          const mark = applied.length;
          const from = Math.floor(third / 2);
          await h.rebuild(from);
          onceEach(from, third, applied.slice(mark));
          assert.equal(await real.position(), third);
        });
      }

      if (real.getJid && real.getLoad) {
        await t.test("getJid has each minion's return, getLoad the job", async () => {
          const rets = await real.getJid!(jid(3));
          assert.deepEqual(Object.keys(rets).sort(), MINIONS);
          assert.equal(rets.m1.jid, jid(3));
          assert.equal((await real.getLoad!(jid(3)))?.jid, jid(3));
          assert.deepEqual(Object.keys(await real.getJid!(jid(500))), [], "the forged return was stored");
        });
      }
    } finally {
      await h.stop().catch(() => {});
      await bus.close();
    }
  });
}

