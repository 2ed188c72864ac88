// The minion scheduler without NATS: scheduled runs go on while the server is down, their
// returns are spooled like any other, and each lands in the stream once when it is back. The
// test plays the master (driver.ts) against a real nats-server it kills and restarts.

import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { ephemeralKeys } from "../../services/common/keys.js";
import { Minion } from "../../services/minion/minion.js";
import { parseSchedule } from "../../services/minion/scheduler.js";
import { decodeSpooled } from "../../services/minion/spool.js";
import { natsFixture } from "../helpers/fixture.js";
import { waitFor } from "../helpers/ports.js";
import { Driver, quiet } from "../helpers/driver.js";

const fx = natsFixture("natrium-schedule-offline-");

/** The jids of the returns in the spool (a file may vanish between listing and reading: it was delivered). */
function spooled(dir: string): string[] {
  const jids: string[] = [];
  for (const f of existsSync(dir) ? readdirSync(dir).filter((n) => n.endsWith(".ret")) : []) {
    try {
      jids.push(decodeSpooled(readFileSync(join(dir, f), "utf8")).jid);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
  }
  return jids;
}

test("schedule offline - runs go on while NATS is down; their returns are spooled and each lands once, with `schedule`", async () => {
  const d = await Driver.start(fx.nats.url);
  const nc = await connect({ servers: fx.nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const spoolDir = join(mkdtempSync(join(fx.tmp, "spool-")), "spool");
  const minion = new Minion({
    nc, ns: d.s.ns, id: "sched-off", keys: ephemeralKeys(), log: quiet, spoolDir, spoolAfterMs: 200,
    schedule: parseSchedule({ tick: { function: "test.echo", args: ["offline"], seconds: 1 } }),
  });
  fx.cleanups.push(async () => {
    await minion.stop({ graceMs: 500, deliverMs: 2000 });
    await nc.close();
    await d.close();
  });
  await minion.start();
  await d.setKey(minion.id, "accepted");
  await minion.whenAccepted();

  await fx.nats.kill();
  const jids = await waitFor("two scheduled returns in the spool", () => {
    const j = spooled(spoolDir);
    return j.length >= 2 ? j : undefined;
  }, 30_000, 100);
  for (const j of jids) assert.match(j, /^\d{20}$/);

  await fx.nats.start();
  await waitFor("the spool to empty", () => {
    // Runs keep coming; the ones spooled before are what must be gone.
    const left = new Set(spooled(spoolDir));
    return jids.every((j) => !left.has(j)) || undefined;
  }, 60_000, 100);
  for (const jid of jids) {
    const r = await d.ret(jid, "sched-off", 30_000);
    assert.deepEqual([r.fun, r.return, r.success, r.schedule], ["test.echo", "offline", true, "tick"]);
    assert.equal(await d.count(d.s.jobRet(jid, "sched-off")), 1, `one return for ${jid}`);
  }
});
