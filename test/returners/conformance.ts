// The conformance suite every returner passes: the module runs under the real host
// (services/returners/host.ts) against a real nats-server, and the suite checks what a user
// relies on. Add a returner with one line in conformance.test.ts:
//
//   returnerConformance("jsonl", { module: "jsonl", config: (dir) => ({ path: join(dir, "r.jsonl") }), written: jsonlWritten });
//
// Checked:
//   * its header comment documents every config key the test passes, with defaults;
//   * every return is delivered at least once, with the fields the minion signed, plus eid,
//     seq and subject; and `written` (if given) finds each one in what the module wrote;
//   * a failed delivery comes again with the same eid and the same fields;
//   * a delivery that keeps failing is retried, then dead-lettered (counted, with its attempts
//     and error) while the rest flows;
//   * a return that does not verify is never delivered, and counted as refused;
//   * close() is called when the host stops.
// Failures are injected by the suite around the module (a throw before the module's call), so
// the module needs no test hooks.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { ephemeralKeys } from "../../services/common/keys.js";
import { createLogger } from "../../services/common/log.js";
import { ReturnerHost } from "../../services/returners/host.js";
import { loadReturnerModule } from "../../services/returners/loader.js";
import { builtins } from "../../services/returners/builtins.js";
import { readDeadLetters } from "../../services/returners/deadletter.js";
import { isOrdered, type ReturnerModule, type ReturnRecord } from "../../services/returners/sdk.js";
import { natsFixture, type NatsFixture } from "../helpers/fixture.js";
import { ROOT } from "../helpers/cli.js";
import { publishAll } from "../../services/jobcache/testkit.js";
import { freshNs, jid, openBus, returnerInfo, until } from "./kit.js";

export interface ConformanceOptions {
  /** A built-in name (builtins.ts) or the path of the compiled module (relative to the repository root). */
  module: string;
  /** The module's config for a run whose files go in `dir`. */
  config: (dir: string) => Record<string, unknown>;
  /** The eids the module wrote where a user will look (file, database …), read after it stopped. */
  written?: (dir: string, config: Record<string, unknown>) => Set<string> | Promise<Set<string>>;
  /** The file whose header documents the module (default: the built-in's or the module's source). */
  source?: string;
}

let fx: NatsFixture | undefined;

/** Where a module's header comment is: a built-in's .ts, or the .ts a compiled dist/ file came from. */
function sourceOf(o: ConformanceOptions): string {
  if (o.source) return isAbsolute(o.source) ? o.source : resolve(ROOT, o.source);
  if (Object.hasOwn(builtins, o.module)) return resolve(ROOT, "services/returners", `${o.module}.ts`);
  const p = isAbsolute(o.module) ? o.module : resolve(ROOT, o.module);
  const ts = p.replace(`${ROOT}/dist/`, `${ROOT}/`).replace(/\.js$/, ".ts");
  return existsSync(ts) ? ts : p;
}

/** The leading comment block of a source file. */
export function headerOf(text: string): string {
  const lines: string[] = [];
  for (const l of text.split("\n")) {
    if (/^\s*\/\//.test(l)) lines.push(l.replace(/^\s*\/\/ ?/, ""));
    else if (lines.length || l.trim()) break;
  }
  return lines.join("\n");
}

const MINIONS = ["m1", "m2", "m3"];
const JOBS = 20;
const MAX_DELIVER = 3;

export function returnerConformance(label: string, o: ConformanceOptions): void {
  fx ??= natsFixture("natrium-conformance-");
  const f = fx;
  test(`returner conformance - ${label}`, { timeout: 120_000 }, async (t) => {
    await t.test("its header documents its config keys and their defaults", () => {
      const header = headerOf(readFileSync(sourceOf(o), "utf8"));
      assert.ok(header.length > 0, `${sourceOf(o)} starts with no comment`);
      assert.match(header, /config/i, "the header has no config section");
      assert.match(header, /default/i, "the header gives no defaults");
      for (const k of Object.keys(o.config("/tmp/x"))) assert.match(header, new RegExp(`\\b${k}\\b`), `config key "${k}" is not in the header`);
    });

    const dir = mkdtempSync(join(tmpdir(), "natrium-conf-"));
    const ns = freshNs("conf");
    const bus = await openBus(f.nats.url, ns, MINIONS);
    const loaded = await loadReturnerModule(Object.hasOwn(builtins, o.module) ? o.module : resolve(ROOT, o.module));
    if (isOrdered(loaded)) throw new Error(`${o.module} is an ordered returner: check it with the ordered suite (test/returners/ordered-conformance.ts)`);
    const real: ReturnerModule = loaded;
    const config = o.config(dir);

    const poison = `${jid(5)}.ret.m3`;
    const flaky = `${jid(7)}.ret.m2`;
    const attempts = new Map<string, ReturnRecord[]>();
    const delivered = new Map<string, ReturnRecord>();
    let closed = 0;
    const wrapped: ReturnerModule = {
      ...real,
      async returner(ret) {
        attempts.set(ret.eid, [...(attempts.get(ret.eid) ?? []), structuredClone(ret)]);
        if (ret.eid === poison) throw new Error("conformance: this return always fails");
        if (ret.eid === flaky && attempts.get(ret.eid)!.length === 1) throw new Error("conformance: first attempt fails");
        await real.returner(ret);
        delivered.set(ret.eid, ret);
      },
      async close() {
        closed++;
        await real.close?.();
      },
    };
    const host = new ReturnerHost({
      nc: bus.nc, s: bus.s, name: "conf", module: wrapped, config, mode: "all", from: "now",
      maxDeliver: MAX_DELIVER, ackWaitSec: 10, retryBackoffMs: 50, retryBackoffMaxMs: 200, batchSize: 50, batchWaitMs: 10,
      log: createLogger({ svc: "returner", test: label }, "error"),
    });
    let stopped = false;
    try {
      await host.start();
      const evs = [];
      const sent = new Map<string, Record<string, unknown>>();
      for (let i = 0; i < JOBS; i++) {
        evs.push(bus.cast.jobNew(jid(i), MINIONS));
        for (const m of MINIONS) {
          const e = bus.cast.jobRet(jid(i), m, { return: { i, m, nested: [1, "two", null] }, retcode: i % 4 === 0 ? 1 : 0, success: i % 4 !== 0 });
          evs.push(e);
          sent.set(e.headers["Nats-Msg-Id"], { subject: e.subject });
        }
        evs.push(bus.cast.jobDone(jid(i), MINIONS, MINIONS));
      }
      // A return signed by a key that is not m1's accepted one.
      const forged = bus.cast.jobRet(jid(JOBS), "m1", {}, ephemeralKeys());
      evs.push(forged);
      await publishAll(bus.js, evs, 200);

      const info = await until(
        "every message settled",
        () => returnerInfo(bus, "conf"),
        (r) => !!r && r.pending === 0 && r.ack_pending === 0 && r.dead_failed === 1 && r.dead_refused === 1,
      );

      await t.test("every return is delivered at least once, with the fields the minion signed", () => {
        const want = [...sent.keys()].filter((e) => e !== poison);
        for (const eid of want) assert.ok(delivered.has(eid), `${eid} was not delivered`);
        for (let i = 0; i < JOBS; i++) {
          for (const m of MINIONS) {
            const r = delivered.get(`${jid(i)}.ret.${m}`);
            if (!r) continue;
            assert.equal(r.jid, jid(i));
            assert.equal(r.id, m);
            assert.equal(r.fun, "test.echo");
            assert.deepEqual(r.fun_args, ["hi"]);
            assert.deepEqual(r.return, { i, m, nested: [1, "two", null] });
            assert.equal(r.retcode, i % 4 === 0 ? 1 : 0);
            assert.equal(r.success, i % 4 !== 0);
            assert.equal(typeof r.start, "number");
            assert.equal(typeof r.end, "number");
            assert.equal(r.duration_ms, 5);
            assert.equal(r.subject, bus.s.jobRet(jid(i), m));
            assert.ok(Number.isInteger(r.seq) && r.seq > 0);
          }
        }
      });

      await t.test("a failed delivery comes again with the same eid and fields", () => {
        const tries = attempts.get(flaky) ?? [];
        assert.equal(tries.length, 2, `the flaky return was tried ${tries.length} times`);
        assert.deepEqual(tries[1], tries[0]);
      });

      await t.test("a delivery that keeps failing is retried, then dead-lettered and counted; the rest flows", async () => {
        assert.equal(attempts.get(poison)?.length, MAX_DELIVER);
        assert.equal(info!.dead_failed, 1);
        const dead = (await readDeadLetters(bus.nc, bus.s, "conf", 10)).filter((d) => d.why === "failed");
        assert.equal(dead.length, 1);
        assert.equal(dead[0].eid, poison);
        assert.equal(dead[0].attempts, MAX_DELIVER);
        assert.match(dead[0].error, /always fails/);
        assert.ok(info!.last_error?.includes("always fails"), `last_error: ${info!.last_error}`);
      });

      await t.test("a return that does not verify is refused, never delivered", async () => {
        assert.ok(!attempts.has(forged.headers["Nats-Msg-Id"]) || !delivered.has(forged.headers["Nats-Msg-Id"]));
        assert.ok(![...attempts.values()].flat().some((r) => r.seq && r.jid === jid(JOBS)), "the forged return reached the module");
        const dead = (await readDeadLetters(bus.nc, bus.s, "conf", 10)).filter((d) => d.why === "refused");
        assert.equal(dead.length, 1);
        assert.match(dead[0].error, /unknown_signer|bad_signature/);
      });

      await host.stop();
      stopped = true;
      await t.test("close() is called when the host stops", () => assert.equal(closed, 1));

      if (o.written) {
        await t.test("what it wrote holds every delivered return", async () => {
          const got = await o.written!(dir, config);
          for (const eid of delivered.keys()) assert.ok(got.has(eid), `${eid} is not in the module's output`);
          assert.ok(!got.has(poison), "the poisoned return was written");
        });
      }
    } finally {
      if (!stopped) await host.stop().catch(() => {});
      await bus.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
