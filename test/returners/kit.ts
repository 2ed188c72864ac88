// What returner tests share: a namespace with the events stream, the master key and accepted
// minion keys in the keys bucket (as the master would leave them), signed synthetic returns
// (services/jobcache/testkit.ts), and a way to run the real host in-process or as the CLI.

import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync, existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { subjects, type Subjects } from "../../contracts/subjects.js";
import { encode } from "../../contracts/codec.js";
import { eventIds } from "../../contracts/ids.js";
import { registryKeys, type MinionKeyRecord } from "../../contracts/registry.js";
import { fingerprint } from "../../contracts/sign.js";
import { ensureBuckets, ensureStream } from "../../services/common/bus.js";
import { Cast, publishAll } from "../../services/jobcache/testkit.js";
import { ensureReturnerStores, listReturners } from "../../services/returners/registry.js";
import type { ReturnerInfo } from "../../contracts/returners.js";
import { BIN } from "../helpers/cli.js";
import { killAndWait } from "../helpers/server.js";

export interface Bus {
  nc: NatsConnection;
  js: JetStreamClient;
  jsm: JetStreamManager;
  s: Subjects;
  cast: Cast;
  close(): Promise<void>;
}

export function freshNs(prefix = "rt"): string {
  return `${prefix}${randomBytes(4).toString("hex")}`;
}

/** A namespace as a running master leaves it: stream, buckets, master key, accepted minions. */
export async function openBus(url: string, ns: string, minions: string[]): Promise<Bus> {
  const nc = await connect({ servers: url, noAsyncTraces: true });
  const s = subjects(ns);
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc);
  await ensureStream(jsm, s, { maxAgeSec: 0, replicas: 1 });
  const { keys } = await ensureBuckets(nc, s);
  await ensureReturnerStores(nc, jsm, s);
  const cast = new Cast(s);
  await cast.putMasterKey(nc);
  for (const id of minions) await acceptMinion(nc, s, cast, id);
  void keys;
  return { nc, js, jsm, s, cast, close: () => nc.close() };
}

export async function acceptMinion(nc: NatsConnection, s: Subjects, cast: Cast, id: string): Promise<void> {
  const k = cast.minion(id);
  const rec: MinionKeyRecord = { id, state: "accepted", pub: k.sign.pub, box_pub: k.boxPub, finger: fingerprint(k.sign.pub), ts: Date.now() };
  await (await new Kvm(nc).open(s.keysBucket)).put(registryKeys.minionKey(id), encode(rec));
}

/** Jobs `jid(i)` with one return per minion each, and their job.new (ret: `ret`) and job.done. */
export function jid(i: number): string {
  return `20261127${String(80000 + Math.floor(i / 1_000_000)).padStart(6, "0")}${String(i % 1_000_000).padStart(6, "0")}`;
}

export async function publishJobs(bus: Bus, from: number, count: number, minions: string[], o: { ret?: string[]; fun?: string; withDone?: boolean } = {}): Promise<string[]> {
  const evs = [];
  const eids: string[] = [];
  for (let i = from; i < from + count; i++) {
    const j = jid(i);
    evs.push(bus.cast.jobNew(j, minions, { ret: o.ret ?? [], ...(o.fun ? { fun: o.fun } : {}) }));
    for (const m of minions) {
      evs.push(bus.cast.jobRet(j, m, o.fun ? { fun: o.fun } : {}));
      eids.push(eventIds.jobRet(j, m));
    }
    if (o.withDone) evs.push(bus.cast.jobDone(j, minions, minions));
  }
  await publishAll(bus.js, evs, 500);
  return eids;
}

export async function returnerInfo(bus: Bus, name: string): Promise<ReturnerInfo | undefined> {
  const kv = await new Kvm(bus.nc).open(bus.s.returnersBucket);
  return (await listReturners(bus.jsm, kv, bus.s)).find((r) => r.name === name);
}

/** Poll until `pred` holds (or throw with the last value after `ms`). */
export async function until<T>(what: string, f: () => Promise<T>, pred: (v: T) => boolean, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  let last: T | undefined;
  for (;;) {
    last = await f();
    if (pred(last)) return last;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The eids in a jsonl file (and its rotated siblings), with how often each appears. */
export function jsonlEids(path: string, backups = 0): Map<string, number> {
  const counts = new Map<string, number>();
  for (const p of [path, ...Array.from({ length: backups }, (_, i) => `${path}.${i + 1}`)]) {
    if (!existsSync(p)) continue;
    for (const line of readFileSync(p, "utf8").split("\n")) {
      if (!line) continue;
      let rec: { kind?: string; eid?: string };
      try {
        rec = JSON.parse(line);
      } catch {
        continue; // a line torn by kill -9: its return comes again
      }
      if (rec.kind === "ret" && rec.eid) counts.set(rec.eid, (counts.get(rec.eid) ?? 0) + 1);
    }
  }
  return counts;
}

/** `natrium returner start …` as a child process (the built CLI), with its log. */
export function startReturnerCli(args: string[], env: NodeJS.ProcessEnv = {}): Started {
  return startReturnerProcess(process.execPath, [BIN, "returner", "start", ...args], { ...process.env, ...env });
}

export interface Started {
  proc: ChildProcess;
  log: () => string;
  /** Resolves when it logs "returner started"; rejects if it exits first. */
  started: Promise<void>;
}

/** Any returner process (the CLI, or one in another language) that logs "returner started" once it consumes. */
export function startReturnerProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv): Started {
  const p = spawn(cmd, args, { env, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  const started = new Promise<void>((res, rej) => {
    const onData = (d: Buffer) => {
      log = (log + d).slice(-200_000);
      if (log.includes('"returner started"')) res();
    };
    p.stdout!.on("data", onData);
    p.stderr!.on("data", onData);
    p.on("exit", (code) => rej(new Error(`returner exited (${code}) before it started:\n${log}`)));
  });
  started.catch(() => {});
  return { proc: p, log: () => log, started };
}

/** Signal a returner process (SIGTERM by default) and wait for it to exit. */
export function killProc(p: ChildProcess, sig: NodeJS.Signals = "SIGTERM"): Promise<void> {
  return killAndWait(p, sig);
}
