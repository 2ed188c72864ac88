// NATS locked down: nats-server runs with the config `natrium nats-config` writes, the real
// daemons run against it (a new minion presents its key through the bootstrap user, is
// accepted, and connects as itself after the config is regenerated and reloaded), and every
// party's forbidden publish or subscription is refused by the server itself.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { connect, nkeyAuthenticator, type NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { jetstreamManager } from "@nats-io/jetstream";
import { cli, cliJson } from "../helpers/cli.js";
import { daemon, stopDaemon, trackedSubtests } from "../helpers/daemons.js";
import { startNats } from "../helpers/nats.js";
import { waitFor } from "../helpers/ports.js";
import { subjects } from "../../contracts/subjects.js";
import { nkeySeedOf } from "../../contracts/nkey.js";
import { inboxPrefix, type NatsParty } from "../../contracts/permissions.js";
import { decode } from "../../contracts/codec.js";
import { minionKeyRecord, registryKeys } from "../../contracts/registry.js";
import { createSigningKeyFile, loadOrCreateKeys, readSigningKey } from "../../services/common/keys.js";
import { readNkeySeed } from "../../services/common/natsauth.js";
import type { RunResult } from "../../cli/lib/run.js";
import type { JobsReply, MinionsReply } from "../../contracts/api.js";

// A file-backed ordered returner (services/returners/sdk.ts): one line per stream message, with
// what ctx.verify() made of it, and the cursor in a file beside them.
const LEDGER_MODULE = `import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
let dir, verify;
export default {
  ordered: true,
  setup(ctx) { dir = ctx.config.dir; verify = ctx.verify; mkdirSync(dir, { recursive: true }); },
  position() { const f = join(dir, "cursor"); return existsSync(f) ? Number(readFileSync(f, "utf8")) : 0; },
  async apply(batch) {
    let out = "";
    for (const m of batch) {
      const c = await verify(m);
      out += JSON.stringify(c.ok ? { seq: m.seq, ok: true, type: c.event.type, id: c.event.body.id } : { seq: m.seq, ok: false, kind: c.kind }) + "\\n";
    }
    appendFileSync(join(dir, "events.jsonl"), out);
    writeFileSync(join(dir, "cursor"), String(batch[batch.length - 1].seq));
  },
};
`;

const JID = "20260101000000000001";



/**
 * A connection as `party`, with `seed` (nkey seed bytes) or none, and every server error and
 * status change it gets. Probes do not reconnect, so a refusal that cost the connection shows;
 * `reconnect` is for the long-lived admin connection that only watches.
 */
async function as(url: string, s: ReturnType<typeof subjects>, party: NatsParty, seed?: Uint8Array, reconnect = false) {
  const nc = await connect({
    servers: url,
    inboxPrefix: inboxPrefix(s, party),
    ...(seed ? { authenticator: nkeyAuthenticator(seed) } : {}),
    maxReconnectAttempts: reconnect ? -1 : 0,
  });
  const errors: string[] = [];
  const statuses: string[] = [];
  (async () => {
    for await (const st of nc.status()) {
      statuses.push(`${new Date().toISOString()} ${st.type} ${JSON.stringify(st)}`);
      if (st.type === "error") errors.push(String((st as { error?: unknown }).error));
    }
  })().catch(() => {});
  void nc.closed().then((err) => statuses.push(`${new Date().toISOString()} closed${err ? `: ${String(err)}` : ""}`));
  return { nc, errors, statuses };
}

/** The server refuses the publish: a permissions violation naming the subject comes back. */
async function publishRefused(c: { nc: NatsConnection; errors: string[] }, subject: string): Promise<void> {
  c.nc.publish(subject, new Uint8Array([0xc0]));
  await c.nc.flush();
  await waitFor(`the server to refuse a publish to ${subject}`, () => c.errors.some((e) => e.includes("Publish") && e.includes(`"${subject}"`)) || undefined, 5000);
  assert.ok(!c.nc.isClosed(), "a refused publish does not cost the connection");
}

async function subscribeRefused(c: { nc: NatsConnection }, subject: string): Promise<void> {
  const err = await new Promise<Error | null>((res) => {
    c.nc.subscribe(subject, { callback: (e) => res(e) });
    setTimeout(() => res(null), 5000);
  });
  assert.ok(err, `subscribing to ${subject} should be refused`);
  assert.match(String(err), /Permissions Violation for Subscription/);
}

test("nats lockdown - the generated config, real daemons, and each forbidden publish refused", { timeout: 300_000 }, async (t0) => {
  // A failed step prints the daemons' logs: CI keeps nothing else of them.
  const t = trackedSubtests(t0);
  const work = mkdtempSync(join(tmpdir(), "natrium-lockdown-"));
  const s = subjects(`lk${randomBytes(4).toString("hex")}`);
  const dataDir = join(work, "master");
  const pki = join(dataDir, "pki");
  const alice = createSigningKeyFile(join(work, "alice.sign"));
  const masterYaml = join(work, "master.yaml");
  const env: NodeJS.ProcessEnv = { ...process.env, NATRIUM_HOME: join(work, "home") };
  delete env.NATS_URL;
  let confArgs: string[] = [];
  const nats = await startNats({
    // Debug logging names each connection's close and its reason, for a failed run's report.
    args: ["-D"],
    configFor: async (port, dir) => {
      writeFileSync(
        masterYaml,
        [`ns: ${s.ns}`, `nats_url: nats://127.0.0.1:${port}`, `data_dir: ${dataDir}`, "autosign: [m1, m2]", "log_level: debug", "users:", "  alice:", `    pub: ${alice.pub}`, "    acl: ['test.*']", ""].join("\n"),
      );
      confArgs = ["nats-config", "-c", masterYaml, "--listen", `127.0.0.1:${port}`, "--store-dir", join(dir, "js"), "--out", join(dir, "nats.conf"), "--returner", "audit-sink", "--returner", "ledger"];
      // First deployment: nothing runs yet, so no minion keys to read.
      const r = await cli([...confArgs, "--offline"], { cwd: work, env });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Made .*jobcache\.nk for the jobcache/);
      return join(dir, "nats.conf");
    },
  });
  const url = nats.url;
  const procs: ChildProcess[] = [];
  let adminStatuses: string[] = [];
  const adminEnv = { ...env, NATRIUM_KEY: join(pki, "admin.sign"), NATRIUM_USER: "admin", NATS_URL: url, NATRIUM_NS: s.ns };
  const opts = { cwd: work, env: adminEnv };
  try {
    const conf = readFileSync(join(nats.dir, "nats.conf"), "utf8");
    assert.match(conf, /no_auth_user: "natrium-bootstrap"/);
    assert.doesNotMatch(conf, /SU[A-Z2-7]{50,}/, "no seed (secret) is written into the server config");

    const jcYaml = join(work, "jobcache.yaml");
    writeFileSync(jcYaml, [`ns: ${s.ns}`, `nats_url: ${url}`, `data_dir: ${join(work, "jc")}`, `nats_seed: ${join(pki, "nats", "jobcache.nk")}`, ""].join("\n"));
    procs.push(daemon(["master", "-c", masterYaml], join(work, "master.log")));
    procs.push(daemon(["jobcache", "-c", jcYaml], join(work, "jobcache.log")));
    const minionPki = (id: string) => join(work, id, "pki");
    for (const id of ["m1", "m2", "m3"]) {
      const y = join(work, `${id}.yaml`);
      writeFileSync(y, [`ns: ${s.ns}`, `id: ${id}`, `nats_url: ${url}`, `data_dir: ${join(work, id)}`, `pki_dir: ${minionPki(id)}`, "heartbeat_interval: 1", ""].join("\n"));
      procs.push(daemon(["minion", "-c", y], join(work, `${id}.log`)));
    }

    const admin = await as(url, s, { role: "admin" }, nkeySeedOf(readSigningKey(join(pki, "admin.sign")).seed), true);
    adminStatuses = admin.statuses;
    await t.test("new minions present their keys through bootstrap; autosign accepts m1 and m2, m3 stays pending", async () => {
      const kv = await waitFor("the keys bucket", () => new Kvm(admin.nc).open(s.keysBucket), 30_000, 200);
      const state = async (id: string) => {
        const e = await kv.get(registryKeys.minionKey(id));
        return e && e.operation === "PUT" ? minionKeyRecord.parse(decode(e.value)).state : undefined;
      };
      await waitFor("m1, m2 accepted and m3 pending", async () =>
        (await state("m1")) === "accepted" && (await state("m2")) === "accepted" && (await state("m3")) === "pending" ? true : undefined, 60_000, 200);
    });

    await t.test("after regenerating and reloading, accepted minions connect as themselves and run jobs", async () => {
      const r = await cli(confArgs, { cwd: work, env });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /\(2 minions\)/);
      assert.match(r.stdout, /Kept .*jobcache\.nk/);
      nats.reload();
      const ran = await waitFor("m1 and m2 to answer through the locked-down server", async () => {
        const { code, data } = await cliJson<RunResult>(["run", "*", "test.ping", "--timeout", "2"], opts);
        return code === 0 && data.minions.length === 2 && data.missing.length === 0 ? data : undefined;
      }, 60_000, 500);
      assert.deepEqual(ran.minions, ["m1", "m2"]);
      assert.match(readFileSync(join(work, "m1.log"), "utf8"), /the NATS server now knows this minion's nkey/);
    });

    await t.test("a user runs what the ACL allows, and the job cache (own seed) records it", async () => {
      const r = await cli(["run", "m1", "test.echo", "from-alice", "--key", join(work, "alice.sign"), "--as", "alice", "--url", url, "--ns", s.ns], { cwd: work, env });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), "m1: from-alice");
      const jobs = await waitFor("the job in the job cache", async () => {
        const { data } = await cliJson<JobsReply>(["jobs", "list"], opts);
        return data.jobs.some((j) => j.user === "alice") ? data : undefined;
      }, 120_000, 300); // the embedded job cache's first start (PGlite) is slow on a loaded machine
      assert.ok(jobs.jobs.some((j) => j.fun === "test.ping" && j.user === "admin"));
      // A user's history comes through the master, narrowed to the jobs the user ran.
      const mine = await cliJson<JobsReply>(["jobs", "list", "--key", join(work, "alice.sign"), "--as", "alice"], { cwd: work, env: { ...env, NATS_URL: url, NATRIUM_NS: s.ns } });
      assert.equal(mine.code, 0, mine.stderr);
      assert.deepEqual([...new Set(mine.data.jobs.map((j) => j.user))], ["alice"]);
      // The job cache replays the stream through its own consumer: its rights suffice for that too.
      const rb = await cli(["cache", "rebuild"], opts);
      assert.equal(rb.code, 0, rb.stderr);
      const after = await cliJson<JobsReply>(["jobs", "list"], opts);
      assert.deepEqual(after.data.jobs.map((j) => j.jid).sort(), jobs.jobs.map((j) => j.jid).sort());
    });

    await t.test("a returner with its own seed: the admin registers it, it backfills verified returns; the admin lists and removes it", async () => {
      const add = await cli(["returners", "add", "audit-sink", "--from", "start"], opts);
      assert.equal(add.code, 0, add.stderr);
      const out = join(work, "audit-sink.jsonl");
      const rtYaml = join(work, "returner.yaml");
      writeFileSync(rtYaml, [`ns: ${s.ns}`, `nats_url: ${url}`, "name: audit-sink", "module: jsonl", `nats_seed: ${join(pki, "nats", "returner-audit-sink.nk")}`, "config:", `  path: ${out}`, ""].join("\n"));
      const rt = daemon(["returner", "start", "-c", rtYaml], join(work, "returner.log"));
      procs.push(rt);
      const ids = await waitFor("the returns of the jobs so far in the returner's file", () => {
        if (!existsSync(out)) return undefined;
        const got = new Set(readFileSync(out, "utf8").split("\n").filter(Boolean).map((l) => (JSON.parse(l) as { id: string; fun: string }).id));
        return got.has("m1") && got.has("m2") ? got : undefined;
      }, 60_000, 300);
      assert.ok(!ids.has("m3"), "the pending minion's returns are not delivered");
      const list = await waitFor("the returner to catch up", async () => {
        const { data } = await cliJson<{ returners: { name: string; pending: number; ack_pending: number; dead_failed: number }[] }>(["returners", "list"], opts);
        const r = data.returners.find((x) => x.name === "audit-sink");
        return r && r.pending === 0 && r.ack_pending === 0 ? r : undefined;
      }, 60_000, 300);
      assert.equal(list.dead_failed, 0);
      const dead = await cli(["returners", "dead", "audit-sink"], opts);
      assert.equal(dead.code, 0, dead.stderr);
      assert.doesNotMatch(readFileSync(join(work, "returner.log"), "utf8"), /Permissions Violation/);
      await stopDaemon(rt);
      const rm = await cli(["returners", "remove", "audit-sink"], opts);
      assert.equal(rm.code, 0, rm.stderr);
    });

    await t.test("an ordered returner with its own seed: every event once, in order, verified, nothing refused by the server", async () => {
      const dirL = join(work, "ledger");
      const mod = join(work, "ledger.mjs");
      writeFileSync(mod, LEDGER_MODULE);
      const y = join(work, "ledger.yaml");
      writeFileSync(y, [`ns: ${s.ns}`, `nats_url: ${url}`, "name: ledger", `module: ${mod}`, `nats_seed: ${join(pki, "nats", "returner-ledger.nk")}`, "config:", `  dir: ${dirL}`, ""].join("\n"));
      const rt = daemon(["returner", "start", "-c", y], join(work, "ledger.log"));
      procs.push(rt);
      const last = (await jetstreamManager(admin.nc, { checkAPI: false }).then((jsm) => jsm.streams.info(s.stream))).state.last_seq;
      await waitFor("the ordered returner to reach the end of the stream", () => {
        const cursor = join(dirL, "cursor");
        return existsSync(cursor) && Number(readFileSync(cursor, "utf8")) >= last ? true : undefined;
      }, 60_000, 300);
      const lines = readFileSync(join(dirL, "events.jsonl"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as { seq: number; ok: boolean; type?: string; id?: string });
      assert.deepEqual(lines.map((l) => l.seq), Array.from({ length: lines.length }, (_, i) => i + 1), "every event once, in stream order");
      assert.ok(lines.length >= last);
      const rets = lines.filter((l) => l.ok && l.type === "job.ret").map((l) => l.id);
      assert.ok(rets.includes("m1") && rets.includes("m2"), "the accepted minions' returns verify");
      assert.doesNotMatch(readFileSync(join(work, "ledger.log"), "utf8"), /Permissions Violation/);
      await stopDaemon(rt);
    });

    await t.test("live output: a minion streams through its own prog subject; the admin and a user read the progress stream", async () => {
      const r = await cli(["run", "--stream", "m1", "cmd.run", "echo one; echo two"], opts);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(r.stdout.split("\n").slice(0, 2), ["m1: one", "m1: two"], r.stdout);
      const jid = await waitFor("the cmd.run job in the job cache", async () => {
        const { data } = await cliJson<JobsReply>(["jobs", "list"], opts);
        return data.jobs.find((j) => j.fun === "cmd.run")?.jid;
      }, 30_000, 300);
      const w = await cli(["jobs", "watch", jid, "--key", join(work, "alice.sign"), "--as", "alice", "--url", url, "--ns", s.ns, "--timeout", "20"], { cwd: work, env });
      assert.equal(w.code, 0, w.stderr);
      assert.deepEqual(w.stdout.trim().split("\n"), ["m1: one", "m1: two"]);
    });

    await t.test("minions list: accepted minions up through their own heartbeat grants, m3 pending; a user without the right refused", async () => {
      const r = await waitFor("m1 and m2 up", async () => {
        const { code, data } = await cliJson<MinionsReply>(["minions", "list"], opts);
        return code === 0 && data.minions.filter((m) => m.presence === "up").length === 2 ? data : undefined;
      }, 30_000, 500);
      assert.deepEqual(r.minions.map((m) => [m.id, m.key, m.presence]), [["m1", "accepted", "up"], ["m2", "accepted", "up"], ["m3", "pending", "unknown"]]);
      const u = await cli(["minions", "list", "--key", join(work, "alice.sign"), "--as", "alice", "--url", url, "--ns", s.ns], { cwd: work, env });
      assert.equal(u.code, 2);
      assert.match(u.stderr, /may not list minions/);
    });

    // Observe everything in the namespace as the master does, to prove refused messages never arrive.
    const masterKeys = loadOrCreateKeys(pki, "master");
    const observer = await as(url, s, { role: "master" }, nkeySeedOf(masterKeys.sign.seed));
    const seenSubjects: string[] = [];
    observer.nc.subscribe(`${s.ns}.>`, { callback: (_e, m) => { seenSubjects.push(m.subject); } });
    await observer.nc.flush();

    await t.test("a minion cannot publish a command, nor anything under another minion's id", async () => {
      const m1 = await as(url, s, { role: "minion", id: "m1" }, nkeySeedOf(loadOrCreateKeys(minionPki("m1"), "minion").sign.seed));
      try {
        await publishRefused(m1, s.jobNew(JID));
        await publishRefused(m1, s.jobDone(JID));
        await publishRefused(m1, s.jobRet(JID, "m2"));
        await publishRefused(m1, s.jobProg(JID, "m2"));
        await publishRefused(m1, s.minionStart("m2"));
        // Heartbeats: only its own; a minion cannot keep a dead one "up", nor write the master's verdict.
        await publishRefused(m1, s.heartbeat("m2"));
        await publishRefused(m1, s.minionPresence("m1"));
        await publishRefused(m1, s.key("m1", "accepted"));
        await publishRefused(m1, `$JS.API.STREAM.DELETE.${s.stream}`);
        await publishRefused(m1, `$KV.${s.keysBucket}.${registryKeys.minionKey("m1")}`);
        // The file store is the master's to write (minions read it, and check its signatures).
        await publishRefused(m1, `$O.${s.filesBucket}.M.c2NyaXB0cy9ldmlsLnNo`);
        await subscribeRefused(m1, s.ctl("m2"));
        await subscribeRefused(m1, `${inboxPrefix(s, { role: "admin" })}.>`);
        await subscribeRefused(m1, s.allJobRet);
        // Its own subjects stay open: progress for itself reaches the bus.
        m1.nc.publish(s.jobProg(JID, "m1"), new Uint8Array([0xc0]));
        await m1.nc.flush();
        await waitFor("m1's own progress chunk", () => seenSubjects.includes(s.jobProg(JID, "m1")) || undefined, 5000);
        // The m1 daemon's heartbeats reach the master through its own grant.
        await waitFor("m1's heartbeat", () => seenSubjects.includes(s.heartbeat("m1")) || undefined, 10_000);
      } finally {
        await m1.nc.close();
      }
    });

    await t.test("a CLI user cannot publish to the events stream directly, nor touch JetStream", async () => {
      const u = await as(url, s, { role: "user", name: "alice" }, nkeySeedOf(alice.seed));
      try {
        await publishRefused(u, s.jobNew(JID));
        await publishRefused(u, s.jobRet(JID, "m1"));
        await publishRefused(u, s.key("m3", "accepted"));
        await publishRefused(u, s.audit("denied"));
        await publishRefused(u, s.minionStart("m9"));
        await publishRefused(u, s.heartbeat("m1"));
        await publishRefused(u, `$JS.API.STREAM.PURGE.${s.stream}`);
        await publishRefused(u, s.jobProg(JID, "m1"));
        await publishRefused(u, `$JS.API.STREAM.PURGE.${s.progressStream}`);
        await publishRefused(u, `$JS.API.STREAM.DELETE.${s.progressStream}`);
        await publishRefused(u, `$JS.API.STREAM.DELETE.KV_${s.keysBucket}`);
        await publishRefused(u, `$KV.${s.keysBucket}.master`);
        // History only through the master, which narrows it to the user's own jobs.
        await publishRefused(u, s.cache("jobs"));
        // Reading the stream means ephemeral consumers, never touching another party's durable.
        await publishRefused(u, `$JS.API.CONSUMER.DELETE.${s.stream}.${s.jobcacheConsumer}`);
        await publishRefused(u, `$JS.API.CONSUMER.CREATE.${s.stream}.${s.lifecycleConsumer}.${s.allMinion}`);
        await publishRefused(u, `$JS.API.CONSUMER.DELETE.${s.stream}.returner_audit-sink`);
        await subscribeRefused(u, s.allAudit);
        await subscribeRefused(u, `${inboxPrefix(s, { role: "master" })}.>`);
      } finally {
        await u.nc.close();
      }
    });

    await t.test("the job cache and a returner cannot publish commands or manage the stream", async () => {
      const jc = await as(url, s, { role: "jobcache" }, new TextEncoder().encode(readNkeySeed(join(pki, "nats", "jobcache.nk")).seed));
      const rt = await as(url, s, { role: "returner", name: "audit-sink" }, new TextEncoder().encode(readNkeySeed(join(pki, "nats", "returner-audit-sink.nk")).seed));
      try {
        await publishRefused(jc, s.jobNew(JID));
        await publishRefused(jc, s.jobRet(JID, "m1"));
        await publishRefused(jc, `$JS.API.STREAM.DELETE.${s.stream}`);
        await publishRefused(jc, `$JS.API.CONSUMER.DELETE.${s.stream}.other`);
        await publishRefused(rt, s.jobNew(JID));
        await publishRefused(rt, s.audit("denied"));
        await publishRefused(rt, `$JS.API.CONSUMER.DURABLE.CREATE.${s.stream}.jobcache`);
        // Only its own dead letters and records.
        await publishRefused(rt, s.deadLetter("other", "failed"));
        await publishRefused(rt, `$KV.${s.returnersBucket}.settings.other`);
        await publishRefused(rt, `$JS.API.STREAM.PURGE.${s.deadStream}`);
        await subscribeRefused(rt, `${s.ns}.>`);
      } finally {
        await jc.nc.close();
        await rt.nc.close();
      }
    });

    await t.test("without credentials only a minion start goes through; unknown keys are refused", async () => {
      const anon = await as(url, s, { role: "bootstrap" });
      try {
        await publishRefused(anon, s.jobNew(JID));
        await publishRefused(anon, s.jobRet(JID, "m1"));
        await publishRefused(anon, s.minionGrains("m1"));
        await publishRefused(anon, s.heartbeat("m3"));
        await subscribeRefused(anon, s.allJobNew);
      } finally {
        await anon.nc.close();
      }
      // m3 is pending: the server does not know its nkey, and a stranger's key is refused too.
      for (const seed of [nkeySeedOf(loadOrCreateKeys(minionPki("m3"), "minion").sign.seed), nkeySeedOf(new Uint8Array(randomBytes(32)))]) {
        await assert.rejects(connect({ servers: url, authenticator: nkeyAuthenticator(seed), maxReconnectAttempts: 0 }), /Authorization Violation/);
      }
    });

    await t.test("nothing refused reached the bus, and the stack still works", async () => {
      const forbidden = [s.jobNew(JID), s.jobDone(JID), s.jobRet(JID, "m1"), s.jobRet(JID, "m2"), s.jobProg(JID, "m2"), s.minionStart("m2"), s.minionPresence("m1"), s.minionStart("m9"), s.key("m1", "accepted"), s.key("m3", "accepted"), s.audit("denied"), s.minionGrains("m1")];
      for (const f of forbidden) assert.ok(!seenSubjects.includes(f), `${f} must not have been delivered`);
      const { code, data } = await cliJson<RunResult>(["run", "*", "test.ping"], opts);
      assert.equal(code, 0);
      assert.deepEqual(data.minions, ["m1", "m2"]);
      assert.deepEqual(data.missing, []);
      // The daemons themselves never hit a permission they lack (only the attacks above did).
      const own = nats.log().split("\n").filter((l) => /Violation/.test(l) && /natrium-(master|jobcache|minion|cli|returner)/.test(l));
      assert.deepEqual(own, []);
    });
    await observer.nc.close();
    await admin.nc.close();
  } finally {
    // A server that died mid-test says why in its own log.
    if (nats.proc.exitCode !== null || nats.proc.signalCode !== null) console.error(`nats-server exited (${nats.proc.exitCode ?? nats.proc.signalCode}):\n${nats.log().slice(-3000)}`);
    if (t.failed()) {
      for (const name of ["master", "jobcache", "returner", "m1", "m2", "m3"]) {
        const f = join(work, `${name}.log`);
        console.error(`--- ${name}.log (last 4 kB) ---\n${existsSync(f) ? readFileSync(f, "utf8").slice(-4000) : "(none)"}`);
      }
      console.error(`--- the test's admin connection ---\n${adminStatuses.join("\n")}`);
      console.error(`--- nats-server log (last 4 kB) ---\n${nats.log().slice(-4000)}`);
    }
    await Promise.all(procs.map(stopDaemon));
    await nats.stop();
    rmSync(work, { recursive: true, force: true });
  }
});
