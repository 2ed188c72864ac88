// Presence end to end: real minion processes send heartbeats (heartbeat_interval 1 s), the
// master (presence_timeout 3 s) follows them, `natrium minions list` shows who is up, a
// minion killed with SIGKILL goes down and comes back up when restarted, each change is a
// signed presence event in the stream and a row in the job cache, and forged heartbeats are
// refused and audited (with a budget: a flood does not become a flood of audits).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import postgres from "postgres";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { cli, cliJson } from "../helpers/cli.js";
import { daemon, stopDaemon, trackedSubtests } from "../helpers/daemons.js";
import { startNats, type NatsServer } from "../helpers/nats.js";
import { startPostgres, type PgServer } from "../helpers/postgres.js";
import { waitFor } from "../helpers/ports.js";
import { subjects } from "../../contracts/subjects.js";
import { openAs, seal, verifyAs } from "../../contracts/message.js";
import { eventIds } from "../../contracts/ids.js";
import type { MinionPresence } from "../../contracts/events/index.js";
import type { MinionsReply } from "../../contracts/api.js";
import { Master } from "../../services/master/master.js";
import { runJobcache } from "../../services/jobcache/main.js";
import { startSwarm } from "../../services/minion/swarm.js";
import { createSigningKeyFile, ephemeralKeys } from "../../services/common/keys.js";
import { createLogger } from "../../services/common/log.js";
import { request, signedRequest, toHeaders } from "../../services/common/bus.js";
import type { Identity } from "../../contracts/request.js";
import { rejectsRemote } from "../helpers/remote.js";
import { collectAudits } from "../helpers/stack.js";

const quiet = createLogger({ svc: "presence-test" }, (process.env.TEST_LOG as "debug") ?? "quiet");
const TIMEOUT_SEC = 3;



test("presence - heartbeats, minions list, down after kill -9, up after restart, forged heartbeats audited", { timeout: 300_000 }, async (t0) => {
  // A failed step prints the daemons' logs: CI keeps nothing else of them.
  const t = trackedSubtests(t0);
  const work = mkdtempSync(join(tmpdir(), "natrium-presence-"));
  const s = subjects(`pr${randomBytes(4).toString("hex")}`);
  let nats: NatsServer | undefined;
  let pg: PgServer | undefined;
  let nc: NatsConnection | undefined;
  let sql: postgres.Sql | undefined;
  let master: Master | undefined;
  let masterNc: NatsConnection | undefined;
  const jcStop = new AbortController();
  let jobcacheDone: Promise<void> | undefined;
  const procs = new Map<string, ChildProcess>();
  try {
    [nats, pg] = await Promise.all([startNats(), startPostgres()]);
    nc = await connect({ servers: nats.url });
    const jsm = await jetstreamManager(nc);
    const masterKeys = ephemeralKeys();
    const adminKeyFile = join(work, "admin.sign");
    const admin: Identity = { user: "admin", key: createSigningKeyFile(adminKeyFile) };
    const alice: Identity = { user: "alice", key: ephemeralKeys().sign };
    const bob: Identity = { user: "bob", key: ephemeralKeys().sign };
    // Each master on a connection of its own, closed with it: its API responders go with it.
    const startMaster = async (presenceTimeoutSec = TIMEOUT_SEC) => {
      masterNc = await connect({ servers: nats!.url });
      const m = new Master(masterNc, masterKeys, {
        id: "master", ns: s.ns, timeout: 5, autoAccept: false, autosign: ["m1", "m2"], commandTtl: 60, streamMaxAgeHours: 0, replicas: 1,
        adminPub: admin.key.pub, presenceTimeoutSec,
        users: { alice: { pub: alice.key.pub, acl: ["test.*"] }, bob: { pub: bob.key.pub, minions: true } },
      }, quiet);
      await m.start();
      return m;
    };
    master = await startMaster();
    jobcacheDone = runJobcache({ overrides: { nats_url: nats.url, ns: s.ns, database_url: pg.url, data_dir: join(work, "jc"), log_level: "error", batch_wait_ms: 5 }, signal: jcStop.signal });
    sql = postgres(pg.url, { max: 2, onnotice: () => {} });

    const audits = collectAudits(nc, s);

    const startMinion = (id: string) => {
      const y = join(work, `${id}.yaml`);
      writeFileSync(y, [`ns: ${s.ns}`, `id: ${id}`, `nats_url: ${nats!.url}`, `data_dir: ${join(work, id)}`, "heartbeat_interval: 1", "log_level: debug", "grains:", "  os: TestOS", "  osrelease: '7'", ""].join("\n"));
      procs.set(id, daemon(["minion", "-c", y], join(work, `${id}.log`)));
    };
    for (const id of ["m1", "m2", "m3"]) startMinion(id);

    const env: NodeJS.ProcessEnv = { ...process.env, NATRIUM_HOME: join(work, "home"), NATRIUM_KEY: adminKeyFile, NATRIUM_USER: "admin", NATS_URL: nats.url, NATRIUM_NS: s.ns };
    const opts = { cwd: work, env };
    const list = async (...args: string[]) => {
      const r = await cliJson<MinionsReply>(["minions", "list", ...args], opts);
      assert.equal(r.code, 0, r.stderr);
      return r.data;
    };
    const status = (r: MinionsReply, id: string) => r.minions.find((m) => m.id === id);
    /** The last presence event of `id` in the stream, verified as the master's. */
    const lastPresence = async (id: string): Promise<MinionPresence | undefined> => {
      const m = await jsm.streams.getMessage(s.stream, { last_by_subj: s.minionPresence(id) }).catch(() => null);
      if (!m) return undefined;
      const o = openAs("minion.presence", m.subject, m.data, m.header);
      verifyAs(o, masterKeys.sign.pub, "the master");
      return o.body;
    };
    const cached = (id: string) => sql!<{ up: boolean | null; last_seen: Date | null; presence_changed: Date | null }[]>`select up, last_seen, presence_changed from minions where id = ${id}`.then((r) => r[0]);

    await t.test("minions list shows the minions up with their grains, and a pending key as pending", async () => {
      const r = await waitFor("m1 and m2 up, m3 pending", async () => {
        const r = await list();
        const ok = status(r, "m1")?.presence === "up" && status(r, "m2")?.presence === "up" && status(r, "m3")?.key === "pending" && status(r, "m1")?.grains.os;
        return ok ? r : undefined;
      }, 60_000, 300);
      assert.deepEqual(r.minions.map((m) => [m.id, m.key, m.presence]), [["m1", "accepted", "up"], ["m2", "accepted", "up"], ["m3", "pending", "unknown"]]);
      const m1 = status(r, "m1")!;
      assert.equal(m1.grains.os, "TestOS");
      assert.equal(m1.grains.osrelease, "7");
      assert.equal(typeof m1.grains.num_cpus, "number");
      assert.ok(m1.last_seen !== null && m1.last_seen <= r.now);
      assert.equal(status(r, "m3")!.last_seen, null);
      assert.equal(r.presence_timeout, TIMEOUT_SEC);
      // The human form: one line per minion.
      const h = await cli(["minions", "list"], opts);
      assert.equal(h.code, 0, h.stderr);
      const lines = h.stdout.trim().split("\n");
      assert.match(lines[0], /^ID\s+STATE\s+LAST SEEN\s+KEY\s+OS\s+IPV4\s+CPUS$/);
      assert.match(lines.find((l) => l.startsWith("m1 "))!, /^m1\s+up\s+(just now|\d+s ago)\s+accepted\s+TestOS 7\b/);
      assert.match(lines.find((l) => l.startsWith("m3 "))!, /^m3\s+-\s+-\s+pending/);
      // Up events for both accepted minions are in the stream, none for the pending one.
      for (const id of ["m1", "m2"]) assert.equal((await lastPresence(id))?.state, "up");
      assert.equal(await lastPresence("m3"), undefined);
    });

    await t.test("heartbeats keep a minion up and never enter the events stream", async () => {
      // Longer than presence_timeout: only heartbeats can have kept m2 up in between (no jobs ran).
      const first = (await lastPresence("m2"))!;
      await waitFor("m2 seen after a full presence_timeout", async () => {
        const r = await list("m2");
        return status(r, "m2")!.last_seen! > first.ts + TIMEOUT_SEC * 1000 ? r : undefined;
      }, 30_000, 500);
      assert.equal((await lastPresence("m2"))?.eid, first.eid, "no new verdict while it stayed up");
      const si = await jsm.streams.info(s.stream, { subjects_filter: `${s.ns}.hb.>` });
      assert.deepEqual(si.state.subjects ?? {}, {});
    });

    let downEvent: MinionPresence;
    await t.test("kill -9 a minion: after presence_timeout it is down, as a presence event and in the job cache", async () => {
      const p = procs.get("m1")!;
      const exited = new Promise((r) => p.once("exit", r));
      p.kill("SIGKILL");
      await exited;
      const r = await waitFor("m1 down", async () => {
        const r = await list("--down");
        return status(r, "m1") ? r : undefined;
      }, 30_000, 300);
      assert.deepEqual(r.minions.map((m) => m.id), ["m1"], "--down lists only m1");
      downEvent = await waitFor("m1's down event", async () => {
        const e = await lastPresence("m1");
        return e?.state === "down" ? e : undefined;
      });
      assert.equal(downEvent.reason, "timeout");
      assert.equal(downEvent.timeout, TIMEOUT_SEC);
      assert.equal(downEvent.master, "master");
      assert.equal(downEvent.last_seen, status(r, "m1")!.last_seen);
      const row = await waitFor("m1 down in the job cache", async () => {
        const row = await cached("m1");
        return row?.up === false ? row : undefined;
      }, 30_000, 200);
      assert.equal(row.last_seen?.getTime(), downEvent.last_seen);
      assert.equal(row.presence_changed?.getTime(), downEvent.ts);
      assert.deepEqual((await list("--up")).minions.map((m) => m.id), ["m2"]);
    });

    await t.test("restarted, the minion is up again with a new presence event", async () => {
      startMinion("m1");
      const up = await waitFor("m1 up again", async () => {
        const e = await lastPresence("m1");
        return e?.state === "up" && e.ts > downEvent.ts ? e : undefined;
      }, 60_000, 300);
      assert.equal(up.reason, "seen");
      assert.notEqual(up.eid, downEvent.eid);
      assert.equal(status(await list("m1"), "m1")?.presence, "up");
      await waitFor("m1 up in the job cache", async () => ((await cached("m1"))?.up === true ? true : undefined), 30_000, 200);
    });

    await t.test("a forged heartbeat is refused and audited; a flood of them does not flood the audit trail", async () => {
      const forge = (id: string) => {
        const stranger = ephemeralKeys().sign;
        const ev = seal(s.heartbeat(id), { v: 1, type: "minion.heartbeat", eid: eventIds.unique("hb"), ts: Date.now(), id, interval: 1 }, stranger);
        nc!.publish(ev.subject, ev.payload, { headers: toHeaders(ev.headers) });
      };
      forge("m2");
      const a = await waitFor("the bad_signature audit of the forged heartbeat", () => audits.find((x) => x.body.kind === "bad_signature" && x.body.subject === s.heartbeat("m2")), 20_000);
      assert.equal(a.signer, masterKeys.sign.pub);
      assert.equal(a.body.actor, "m2");
      assert.match(a.body.reason, /heartbeat refused/);
      // From a minion whose key is not accepted: refused too.
      forge("m3");
      await waitFor("the unknown_signer audit of m3's heartbeat", () => audits.find((x) => x.body.kind === "unknown_signer" && x.body.subject === s.heartbeat("m3")), 20_000);
      // The job cache keeps them.
      await waitFor("the audit in the job cache", async () => {
        const rows = await sql!`select kind from audit where origin = 'stream' and detail->>'subject' = ${s.heartbeat("m2")}`;
        return rows.length ? rows : undefined;
      }, 30_000, 200);

      const before = audits.filter((x) => x.body.subject === s.heartbeat("m2")).length;
      for (let i = 0; i < 200; i++) forge("m2");
      await nc!.flush();
      // The master handles messages in order: once it answers this, it has judged the flood.
      await request(nc!, s.api("ping"), {}, 10_000);
      await waitFor("the master's audit publishes to settle", async () => {
        const n = audits.length;
        await new Promise((r) => setTimeout(r, 500));
        return audits.length === n ? true : undefined;
      }, 20_000, 0);
      const flood = audits.filter((x) => x.body.subject === s.heartbeat("m2")).length - before;
      assert.ok(flood < 100, `200 forged heartbeats made ${flood} audit events`);
      // The forgeries did not make m2 look alive when it is not, nor did they take it down.
      assert.equal(status(await list("m2"), "m2")?.presence, "up");
    });

    await t.test("who may list minions: admin, users with minions: true; others are refused", async () => {
      const r = await signedRequest<MinionsReply>(nc!, s.api("minions"), { v: 1 }, bob, 10_000);
      assert.deepEqual(r.minions.map((m) => m.id), ["m1", "m2", "m3"]);
      await rejectsRemote(signedRequest(nc!, s.api("minions"), { v: 1 }, alice, 10_000), "denied", /may not list minions/);
    });

    await t.test("a restarted master keeps the last verdicts and declares nobody down during its grace period", async () => {
      await master!.stop();
      await masterNc!.close();
      // m2 goes away while no master is watching.
      await stopDaemon(procs.get("m2")!);
      // A longer presence_timeout this time, so that the grace period outlasts this step's first
      // look however slow the machine is.
      master = await startMaster(15);
      const r = await signedRequest<MinionsReply>(nc!, s.api("minions"), { v: 1 }, admin, 10_000);
      assert.equal(r.grace, true);
      assert.equal(status(r, "m2")?.presence, "up", "the last verdict stands until the grace period is over");
      const down = await waitFor("m2 down once the grace period is over", async () => {
        const e = await lastPresence("m2");
        return e?.state === "down" ? e : undefined;
      }, 60_000, 200);
      assert.equal(down.reason, "timeout");
      const after = await list();
      assert.equal(after.grace, false);
      assert.equal(status(after, "m2")?.presence, "down");
      assert.equal(status(after, "m1")?.presence, "up", "m1 kept sending heartbeats: no new verdict needed");
    });
  } finally {
    if (t.failed()) {
      for (const name of ["m1", "m2", "m3"]) {
        const f = join(work, `${name}.log`);
        console.error(`--- ${name}.log (last 3 kB) ---\n${existsSync(f) ? readFileSync(f, "utf8").slice(-3000) : "(none)"}`);
      }
    }
    await Promise.all([...procs.values()].map(stopDaemon));
    await master?.stop().catch(() => {});
    await masterNc?.close().catch(() => {});
    jcStop.abort();
    await jobcacheDone?.catch(() => {});
    await sql?.end();
    await nc?.close();
    await Promise.all([nats?.stop(), pg?.stop()]);
    rmSync(work, { recursive: true, force: true });
  }
});

test("presence - a swarm host keeps all its identities up with heartbeats, and they go down with it", { timeout: 180_000 }, async () => {
  const nats = await startNats();
  const s = subjects(`ps${randomBytes(4).toString("hex")}`);
  const nc = await connect({ servers: nats.url });
  const admin: Identity = { user: "admin", key: ephemeralKeys().sign };
  const masterKeys = ephemeralKeys();
  const master = new Master(nc, masterKeys, {
    id: "master", ns: s.ns, timeout: 5, autoAccept: true, commandTtl: 60, streamMaxAgeHours: 0, replicas: 1, adminPub: admin.key.pub, presenceTimeoutSec: TIMEOUT_SEC,
  }, quiet);
  let swarm: Awaited<ReturnType<typeof startSwarm>> | undefined;
  try {
    await master.start();
    swarm = await startSwarm({ url: nats.url, ns: s.ns, count: 50, connections: 2, waitAccepted: true, heartbeatIntervalSec: 1, log: quiet });
    const ask = () => signedRequest<MinionsReply>(nc, s.api("minions"), { v: 1 }, admin, 10_000);
    const up = await waitFor("all 50 identities up", async () => {
      const r = await ask();
      return r.minions.filter((m) => m.presence === "up").length === 50 ? r : undefined;
    }, 60_000, 200);
    // Past a whole presence_timeout with nothing but heartbeats: still all up.
    const since = Math.max(...up.minions.map((m) => m.last_seen!));
    const later = await waitFor("every identity seen again after a presence_timeout", async () => {
      const r = await ask();
      return r.minions.every((m) => m.last_seen! > since + TIMEOUT_SEC * 1000) ? r : undefined;
    }, 60_000, 500);
    assert.deepEqual(later.minions.filter((m) => m.presence !== "up").map((m) => m.id), []);
    await swarm.stop();
    swarm = undefined;
    await waitFor("all 50 identities down once the swarm stopped", async () => {
      const r = await ask();
      return r.minions.every((m) => m.presence === "down") ? r : undefined;
    }, 60_000, 300);
  } finally {
    await swarm?.stop();
    await master.stop();
    await nc.close();
    await nats.stop();
  }
});
