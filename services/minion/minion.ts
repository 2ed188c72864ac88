// One minion identity: keys, grains, acceptance, master-key pinning, self-selection, running
// jobs and sending their signed returns. The connection and the keys are handed in, so a
// daemon (main.ts) and a swarm of thousands (swarm.ts) run exactly this code.

import { existsSync, readFileSync, mkdirSync } from "node:fs";
import { writeFileAtomic } from "../common/atomic.js";
import { dirname } from "node:path";
import { hostname } from "node:os";
import type { NatsConnection } from "@nats-io/transport-node";
import { encodeToken } from "../../contracts/subjects.js";
import { H, seal, type Sealed } from "../../contracts/message.js";
import { eventIds } from "../../contracts/ids.js";
import { fingerprint } from "../../contracts/sign.js";
import type { MasterKeyRecord, MinionKeyRecord } from "../../contracts/registry.js";
import type { JobPublished, JobReturned, MinionStarted, MinionGrains } from "../../contracts/events/index.js";
import { NatriumError } from "../../contracts/errors.js";
import { matches } from "../common/target.js";
import type { ServiceKeys } from "../common/keys.js";
import { createLogger, type Logger } from "../common/log.js";
import { sleep } from "../common/bus.js";
import { MinionHost, type Command, type HostedMinion, type HostOptions } from "./host.js";
import { SeenJids, normFinger, toWire } from "./guards.js";
import { collectGrains, natriumVersion, type Grains } from "./grains.js";
import { signalGroup } from "./process-group.js";
import { CustomGrains } from "./custom-grains.js";
import { MasterFiles } from "./files.js";
import { ModuleLoader, type ExecContext, type JobControl, type JobInfo, type SignalOutcome } from "./modules/index.js";
import { ExecError, JobAbortedError, JobKilledError, JobTimeoutError, MinionBlackoutError } from "./errors.js";
import { Blackout, type BlackoutSettings } from "./blackout.js";
import { JobQueue } from "./queue.js";
import { Scheduler, type ScheduleEntry, type ScheduledResult } from "./scheduler.js";
import { newJid } from "../../contracts/jid.js";
import { Spool, SpoolEntry } from "./spool.js";
import { progressPublisher, type Coalescer } from "./progress.js";

export interface MinionOptions {
  nc: NatsConnection;
  ns: string;
  id: string;
  keys: ServiceKeys;
  /** Grains to use as they are; when absent they are detected, with `staticGrains` on top. */
  grains?: Grains;
  staticGrains?: Grains;
  /** Required fingerprint of the master key; empty/absent pins the first key seen. */
  masterFinger?: string;
  /** Where the pinned master key is kept (`<pki_dir>/master.pub`); absent keeps it in memory only. */
  pinFile?: string;
  /** Where grains set with grains.setval are kept (YAML); absent: memory only. */
  grainsFile?: string;
  /** Where the jids of accepted commands are kept, so a replay after a restart is refused; absent: memory only. */
  seenFile?: string;
  /** Seconds a job may run (default 3600). */
  jobTimeoutSec?: number;
  /** Blackout (minion_blackout and its whitelist); default off. */
  blackout?: BlackoutSettings;
  /** Most jobs running at once (process_count_max); more wait in a FIFO queue. 0 or less: no limit (the default). */
  processCountMax?: number;
  /**
   * Where returns JetStream has not acknowledged are kept (`<data_dir>/spool`), so they outlive
   * the process; absent: memory only. Anything found there at start is delivered.
   */
  spoolDir?: string;
  /** How long a return may wait for its ack before it is written to the spool (default 1000 ms). */
  spoolAfterMs?: number;
  /** Scheduled jobs (the config's `schedule:`, parsed by parseSchedule); default none. */
  schedule?: Record<string, ScheduleEntry>;
  /** Where runtime schedule changes are kept (`<data_dir>/schedule.json`); absent: memory only. */
  scheduleFile?: string;
  /** Randomness for schedule splay (tests pin it); default Math.random. */
  scheduleRandom?: () => number;
  log?: Logger;
  modules?: ModuleLoader;
  /** The shared per-connection part; by default the one of `nc` (made on first use). */
  host?: MinionHost;
  hostOptions?: HostOptions;
}

export interface RunningJob {
  jid: string;
  fun: string;
  start: number;
}

/** What a job runs: a command from the master, or a run of a schedule entry made here. */
type JobSpec = Pick<JobPublished, "jid" | "fun" | "arg" | "kwarg" | "tgt" | "tgt_type" | "user"> & {
  /** The schedule entry this run is of; absent for a master's command. */
  schedule?: string;
  /** false: the return is not published (the entry's return_job). */
  returnJob?: boolean;
  /** Told the run's result (schedule.run_job waits on it). */
  onResult?: (r: ScheduledResult) => void;
};

interface JobEntry extends RunningJob {
  job: JobSpec;
  ac: AbortController;
  /** Settles when the job's return is made (not when it is delivered). */
  finished: Promise<void>;
  /** Waiting for a process_count_max slot. */
  queued: boolean;
  done: () => void;
  /** Process groups the job started (cmd.*), registered through ExecContext.jobs. */
  pids: Set<number>;
}

/**
 * Functions that run outside process_count_max: job control is instant and about the other
 * jobs; schedule.* manage the scheduler, and schedule.run_job waits for a run that needs a
 * slot itself, so holding one while it waits could deadlock a minion with process_count_max 1.
 */
const JOB_CONTROL = new Set([
  "saltutil.running", "saltutil.find_job", "saltutil.kill_job", "saltutil.term_job", "saltutil.signal_job",
  "schedule.list", "schedule.run_job", "schedule.enable_job", "schedule.disable_job", "schedule.enable", "schedule.disable", "schedule.add", "schedule.delete",
]);

/** Signals that end a process by default: one of these ends a job that started no process. */
const ENDING = new Set<string>(["SIGKILL", "SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGABRT", "SIGALRM", "SIGUSR1", "SIGUSR2", "SIGPIPE"]);

let sharedLoader: ModuleLoader | undefined;

export class Minion implements HostedMinion {
  readonly id: string;
  readonly token: string;
  readonly finger: string;
  readonly log: Logger;
  private readonly keys: ServiceKeys;
  private readonly host: MinionHost;
  private readonly modules: ModuleLoader;
  private readonly jobTimeoutMs: number;
  private readonly masterFinger: string;
  private grains: Grains = {};
  private custom: CustomGrains;
  private seen: SeenJids;
  private jobs = new Map<string, JobEntry>();
  private readonly queue: JobQueue<JobEntry>;
  private readonly blackout: Blackout;
  /** The schedule (Salt's `schedule:`): started once the key is accepted. */
  readonly scheduler: Scheduler;
  private deliveries = new Set<Promise<void>>();
  private readonly spool?: Spool;
  /** Returns not acknowledged yet, with their place in the spool. */
  private unacked = new Set<SpoolEntry>();
  private started = false;
  private stopping = false;
  /** Ends retries of start events on stop, and of returns when a stop gives up waiting. */
  private startAbort = new AbortController();
  private hardStop = new AbortController();

  private state: MinionKeyRecord["state"] | "none" = "none";
  /** Whether the master held a key record for this id when last seen (its deletion means: present the key again). */
  private hadRecord = false;
  private acceptedNow = false;
  private acceptWaiters: (() => void)[] = [];
  /** The master key this minion trusts (pinned or matching master_finger). */
  private masterPub: string | undefined;
  /** salt:// files from the master's file store, checked against masterPub. */
  private files: MasterFiles | undefined;
  private pinned: string | undefined;
  private refusedMaster = new Set<string>();
  /** Counters for tests and `saltutil`-style introspection; cheap enough to keep always. */
  readonly stats = { received: 0, started: 0, refused: {} as Record<string, number>, progress: { chunks: 0, bytes: 0, droppedChunks: 0, droppedBytes: 0 } };

  constructor(private readonly opts: MinionOptions) {
    this.id = opts.id;
    this.token = encodeToken(opts.id);
    this.keys = opts.keys;
    this.finger = fingerprint(opts.keys.sign.pub);
    this.log = opts.log ?? createLogger({ svc: "minion", id: opts.id });
    this.host = opts.host ?? MinionHost.for(opts.nc, opts.ns, this.log, opts.hostOptions);
    this.modules = opts.modules ?? (sharedLoader ??= new ModuleLoader());
    this.jobTimeoutMs = (opts.jobTimeoutSec ?? 3600) * 1000;
    this.seen = new SeenJids(4096, opts.seenFile);
    this.custom = new CustomGrains(opts.grainsFile);
    this.blackout = new Blackout(opts.blackout);
    this.queue = new JobQueue(opts.processCountMax ?? 0, (e) => this.launch(e));
    if (opts.spoolDir) this.spool = new Spool(opts.spoolDir, this.log);
    this.scheduler = new Scheduler({
      entries: opts.schedule ?? {},
      file: opts.scheduleFile,
      log: this.log.child({ part: "schedule" }),
      random: opts.scheduleRandom,
      runner: { run: (name, e) => this.runScheduled(name, e) },
    });
    this.masterFinger = normFinger(opts.masterFinger ?? "");
    if (opts.pinFile && !this.masterFinger && existsSync(opts.pinFile)) {
      const pub = readFileSync(opts.pinFile, "utf8").trim();
      if (Buffer.from(pub, "base64").length !== 32) {
        throw new NatriumError("bad_key_file", `${opts.pinFile}: not a base64 Ed25519 public key; remove it to pin the master key again`);
      }
      // The pinned key is trusted from the start: a different key in the bucket later is
      // refused, and the master this minion knows keeps working.
      this.pinned = this.masterPub = pub;
    }
  }

  get sign() {
    return this.keys.sign;
  }

  get accepted(): boolean {
    return this.acceptedNow && this.masterPub !== undefined;
  }

  get keyState(): string {
    return this.state;
  }

  /** Whether this minion took (selected and started) the job `jid`; decided when the command arrives. */
  tookJob(jid: string): boolean {
    return this.seen.check(jid, "") !== undefined;
  }

  /** Returns waiting for JetStream's acknowledgement. */
  get pendingReturns(): number {
    return this.deliveries.size;
  }

  /** Of those, the ones written to the spool. */
  get spooledReturns(): number {
    return [...this.unacked].filter((e) => e.saved).length;
  }

  /** Jobs running now. */
  running(): RunningJob[] {
    return [...this.jobs.values()].filter((j) => !j.queued).map(({ jid, fun, start }) => ({ jid, fun, start }));
  }

  /** Jobs waiting for a process_count_max slot, oldest first (`start`: when each arrived). */
  queued(): RunningJob[] {
    return this.queue.queued.map(({ jid, fun, start }) => ({ jid, fun, start }));
  }

  /** Jobs running or queued, with their arguments and processes (saltutil.running). */
  jobTable(): JobInfo[] {
    return [...this.jobs.values()].map((e) => this.info(e));
  }

  private info(e: JobEntry): JobInfo {
    const j = e.job;
    return {
      jid: e.jid, fun: e.fun, arg: j.arg, kwarg: j.kwarg, tgt: j.tgt, tgt_type: j.tgt_type, user: j.user, pid: process.pid, pids: [...e.pids], start: e.start, queued: e.queued,
      ...(j.schedule !== undefined ? { schedule: j.schedule } : {}),
    };
  }

  /**
   * Send `sig` to the processes of job `jid` (saltutil.signal_job and friends); see
   * JobControl.signal. A queued job is taken out of the queue and ended.
   */
  signalJob(jid: string, sig: NodeJS.Signals, by: string, abort = false): SignalOutcome | undefined {
    const e = this.jobs.get(jid);
    if (!e) return undefined;
    const pids = [...e.pids];
    for (const pid of pids) signalGroup(pid, sig);
    const end = abort || sig === "SIGKILL" || e.queued || (pids.length === 0 && ENDING.has(sig));
    if (end && !e.ac.signal.aborted) {
      this.log.warn("job killed", { jid, fun: e.fun, by, signal: sig, pids });
      e.ac.abort(new JobKilledError(jid, by, sig));
      if (e.queued && this.queue.remove(e)) void this.launch(e);
    } else {
      this.log.info("job signalled", { jid, fun: e.fun, by, signal: sig, pids });
    }
    return { jid, signal: sig, pids, aborted: end };
  }

  private control(entry: JobEntry): JobControl {
    return {
      list: () => this.jobTable(),
      find: (jid) => {
        const e = this.jobs.get(jid);
        return e && this.info(e);
      },
      signal: (jid, sig, by, abort) => this.signalJob(jid, sig, by, abort),
      addProcess: (pid) => {
        entry.pids.add(pid);
        return () => entry.pids.delete(pid);
      },
    };
  }

  /** Turn blackout on or off (config today; pillar later). Applies to jobs that start from now on. */
  setBlackout(s: BlackoutSettings): void {
    this.blackout.set(s);
  }

  /** Resolves when the master has accepted this minion's key and its own key is trusted. */
  whenAccepted(): Promise<void> {
    if (this.accepted) return Promise.resolve();
    return new Promise((r) => this.acceptWaiters.push(r));
  }

  /**
   * Join the host (commands and key changes flow from then on) and announce this minion: its
   * start event (presenting its keys) and its grains, each retried until JetStream has them.
   */
  async start(): Promise<void> {
    if (this.started) throw new Error(`minion ${this.id} already started`);
    this.started = true;
    // Grains set on the minion (grains.setval) win over detected and configured ones, as in Salt.
    this.grains = toWire({ ...(this.opts.grains ?? (await collectGrains(this.id, this.opts.staticGrains))), ...this.custom.all(), id: this.id }) as Grains;
    this.host.add(this);
    this.deliverSpooled();
    // Scheduled runs wait for the key's acceptance: until then no reader could verify their
    // returns. After that the schedule keeps running whether NATS is there or not (spool).
    void this.whenAccepted().then(() => {
      if (!this.stopping) this.scheduler.start();
    });
    await this.announceStart();
  }

  /** The start event, presenting this minion's keys to the master: at start, and after its key was deleted. */
  private async announceStart(): Promise<void> {
    const s = this.host.s;
    const startEv = startEvent(this.id, this.keys);
    const signal = this.startAbort.signal;
    try {
      // Only the start event now; grains follow once the key is accepted (announceGrains), so
      // they land in the stream after the key event and every reader can verify them.
      await this.host.publish(seal(s.minionStart(this.id), startEv, this.keys.sign), signal);
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }

  /** Grains detected again (a new disk, address or OS release), custom ones on top, sent to the master. */
  private async refreshGrains(): Promise<Grains> {
    const detected = this.opts.grains ?? (await collectGrains(this.id, this.opts.staticGrains));
    this.grains = toWire({ ...detected, ...this.custom.all(), id: this.id }) as Grains;
    if (this.accepted) this.announceGrains();
    return this.grains;
  }

  /** A custom grain changed by a module: persisted, used for self-selection, and sent to the master. */
  private setGrain(key: string, value: unknown): void {
    if (key === "id") throw new ExecError("bad_argument", "the id grain is the minion's id and cannot be set");
    const wire = value === undefined ? undefined : toWire(value);
    this.custom.set(key, wire);
    const next = { ...this.grains };
    if (wire === undefined) delete next[key];
    else next[key] = wire;
    this.grains = next as Grains;
    if (this.accepted) this.announceGrains();
  }

  /** Publish the grains, signed; called on each acceptance (a re-accepted key re-sends them). */
  private announceGrains(): void {
    const ev: MinionGrains = { v: 1, type: "minion.grains", eid: eventIds.unique("grains"), ts: Date.now(), id: this.id, grains: this.grains };
    const signal = this.startAbort.signal;
    this.host.publish(seal(this.host.s.minionGrains(this.id), ev, this.keys.sign), signal).catch((err) => {
      if (!signal.aborted) this.log.error("grains could not be published", { id: this.id, error: err as Error });
    });
  }

  // ---- keys --------------------------------------------------------------------------------

  onKeyRecord(rec: MinionKeyRecord | null): void {
    const before = this.state;
    let accepted = false;
    if (!rec) {
      this.state = "none";
    } else if (rec.pub !== this.keys.sign.pub) {
      this.state = "none";
      this.log.error("the master holds a different key for this minion id; delete it on the master (natrium keys delete) to let this minion in", {
        id: this.id,
        finger: this.finger,
        master_has: rec.finger,
        key_state: rec.state,
      });
    } else {
      this.state = rec.state;
      accepted = rec.state === "accepted";
    }
    this.acceptedNow = accepted;
    const hadRecord = this.hadRecord;
    this.hadRecord = !!rec;
    if (!rec && hadRecord) {
      // The master deleted this minion's key: present it again, as salt-minion re-authenticates;
      // it comes back as pending (or accepted by auto_accept/autosign).
      this.log.warn("key deleted by the master; presenting it again", { id: this.id, finger: this.finger });
      this.announceStart().catch((err) => this.log.error("could not present the key again", { id: this.id, error: err as Error }));
    }
    if (before !== this.state) {
      if (this.state === "accepted") {
        this.log.info("key accepted by the master", { id: this.id, finger: this.finger });
        this.announceGrains();
      }
      else if (this.state === "rejected") {
        this.log.error("key rejected by the master; no jobs will run until it is accepted", { id: this.id, finger: this.finger });
      } else if (before === "accepted") this.log.warn("key no longer accepted by the master; jobs stop", { id: this.id, key_state: this.state });
    }
    this.wake();
  }

  onMasterRecord(rec: MasterKeyRecord | null): void {
    if (!rec) return; // a vanished record changes nothing: the trusted key stays trusted
    if (rec.pub === this.masterPub) return;
    const finger = fingerprint(rec.pub);
    if (this.masterFinger) {
      if (normFinger(finger) !== this.masterFinger) return this.refuseMaster(rec, finger, "its fingerprint does not match master_finger");
    } else if (this.pinned) {
      if (rec.pub !== this.pinned) return this.refuseMaster(rec, finger, `it is not the key pinned at first contact (${fingerprint(this.pinned)})`);
    } else {
      this.pinned = rec.pub;
      if (this.opts.pinFile) writePin(this.opts.pinFile, rec.pub);
      this.log.info("pinned the master key on first contact", { id: this.id, master: rec.id, finger, file: this.opts.pinFile });
    }
    this.masterPub = rec.pub;
    this.wake();
  }

  private refuseMaster(rec: MasterKeyRecord, finger: string, why: string): void {
    if (this.refusedMaster.has(rec.pub)) return;
    this.refusedMaster.add(rec.pub);
    this.log.error(`refusing the master key: ${why}`, { id: this.id, master: rec.id, finger });
    this.refuse(undefined, "master_key_mismatch", `master key ${finger} refused: ${why}`, { master: rec.id, finger });
  }

  private wake(): void {
    if (!this.accepted) return;
    for (const w of this.acceptWaiters.splice(0)) w();
  }

  // ---- commands ----------------------------------------------------------------------------

  onCommand(cmd: Command): void {
    if (this.stopping) return;
    this.stats.received++;
    if (cmd.error || !cmd.opened) {
      const e = cmd.error as NatriumError | undefined;
      this.refuse(cmd, "bad_command", `unreadable command on ${cmd.subject}: ${e?.message ?? "unknown error"}`, {
        code: e?.code ?? "bad_payload",
        bytes: cmd.payload.length,
      });
      return;
    }
    const job = cmd.opened.body;
    if (!this.accepted) {
      this.host.noteOnce(cmd, "not_accepted", "command ignored: key not accepted or master key unknown yet", { jid: job.jid });
      return;
    }
    const bad = cmd.verify(this.masterPub!);
    if (bad) {
      this.refuse(cmd, "bad_signature", `command ${job.jid} is not signed by the trusted master key: ${bad.message}`, {
        jid: job.jid,
        fun: job.fun,
        signer: cmd.opened.signer,
      });
      return;
    }
    let selected: boolean;
    try {
      selected = matches(job.tgt, job.tgt_type, this.id, this.grains);
    } catch (err) {
      this.host.noteOnce(cmd, "bad_target", "command with an unusable target ignored", { jid: job.jid, error: String((err as Error).message) });
      return;
    }
    if (!selected) return;
    if (job.expires < Date.now()) {
      this.refuse(cmd, "expired_command", `command ${job.jid} expired at ${new Date(job.expires).toISOString()}`, {
        jid: job.jid,
        fun: job.fun,
        expires: job.expires,
      });
      return;
    }
    const seen = this.seen.check(job.jid, cmd.opened.sig);
    if (seen) {
      // `identical` tells a retransmitted publish from a second command reusing a jid.
      this.refuse(cmd, "replayed_command", `command ${job.jid} was received before`, { jid: job.jid, fun: job.fun, identical: seen.identical });
      return;
    }
    this.seen.add(job.jid, cmd.opened.sig, job.expires);
    this.runJob(job);
  }

  private refuse(cmd: Command | undefined, kind: string, reason: string, detail?: Record<string, unknown>): void {
    this.stats.refused[kind] = (this.stats.refused[kind] ?? 0) + 1;
    this.host.refuse(this, cmd, kind, reason, detail);
  }

  /**
   * One run of schedule entry `name`, through the same path as a master's command (blackout,
   * process_count_max, kill_job, signed return, spool) under a jid made here. Resolves with its
   * result when it ends; undefined when the minion is stopping.
   */
  private runScheduled(name: string, e: ScheduleEntry): Promise<ScheduledResult> | undefined {
    if (this.stopping) return undefined;
    return new Promise<ScheduledResult>((onResult) => {
      // contracts/jid.ts hands out strictly increasing jids within this process, so two runs
      // (of any entry, on any identity here) never share one.
      const jid = newJid();
      this.runJob({ jid, fun: e.function, arg: e.args, kwarg: e.kwargs, tgt: [this.id], tgt_type: "list", user: "", schedule: name, returnJob: e.return_job, onResult });
    });
  }

  private runJob(job: JobSpec): void {
    this.stats.started++;
    let done!: () => void;
    const finished = new Promise<void>((r) => (done = r));
    const entry: JobEntry = { jid: job.jid, fun: job.fun, start: Date.now(), job, ac: new AbortController(), finished, queued: true, done, pids: new Set() };
    this.jobs.set(job.jid, entry);
    // Job control answers at once and must not wait behind the jobs it is about.
    if (JOB_CONTROL.has(job.fun)) {
      void this.launch(entry);
      return;
    }
    if (!this.queue.push(entry)) {
      this.log.debug("process_count_max reached: job queued", { jid: job.jid, fun: job.fun, running: this.queue.running, queued: this.queue.queued.length });
    }
  }

  /** Run a job now (a slot is free, or the minion is stopping); resolves when its return is made. */
  private launch(entry: JobEntry): Promise<void> {
    entry.queued = false;
    entry.start = Date.now();
    return this.execute(entry.job, entry).finally(() => {
      this.jobs.delete(entry.jid);
      entry.done();
    });
  }

  private async execute(job: JobSpec, entry: JobEntry): Promise<void> {
    const { jid, fun } = job;
    const start = entry.start;
    const timer = setTimeout(() => entry.ac.abort(new JobTimeoutError(jid, this.jobTimeoutMs / 1000)), this.jobTimeoutMs);
    let retcode = 0;
    let ret: unknown;
    let error: { code: string; message: string } | undefined;
    const log = this.log.child({ jid, fun });
    log.debug("job started");
    // Made on the first output, so a job that streams nothing costs nothing.
    let live: Coalescer | undefined;
    try {
      if (!this.blackout.allows(fun)) throw new MinionBlackoutError(fun);
      const fn = await this.modules.resolve(fun);
      const ctx: ExecContext = {
        id: this.id,
        jid,
        fun,
        grains: this.grains,
        signal: entry.ac.signal,
        log,
        setRetcode: (c) => { retcode = Math.trunc(c); },
        progress: (stream, data) => {
          live ??= progressPublisher(this.host.nc, this.host.s, jid, this.id, this.keys.sign);
          live.write(stream, data);
        },
        modules: this.modules,
        setGrain: (key, value) => this.setGrain(key, value),
        refreshGrains: () => this.refreshGrains(),
        jobs: this.control(entry),
        schedule: this.scheduler,
        files: (this.files ??= new MasterFiles(this.host.nc, this.host.s, () => this.masterPub)),
      };
      ret = await raceAbort(fn(ctx, job.arg, job.kwarg), entry.ac.signal);
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      if (e instanceof ExecError) {
        retcode = e.retcode;
        error = { code: e.code, message: e.message };
      } else {
        retcode = retcode || 1;
        error = { code: e instanceof NatriumError ? e.code : "exception", message: e.message || e.name };
      }
      ret = error.message;
      log.debug("job failed", { error: e });
    } finally {
      clearTimeout(timer);
      if (live) {
        // The rest of the output goes before the return, on the same connection, so in order.
        live.end();
        const p = this.stats.progress;
        p.chunks += live.stats.chunks;
        p.bytes += live.stats.bytes;
        p.droppedChunks += live.stats.droppedChunks;
        p.droppedBytes += live.stats.droppedBytes;
        if (live.stats.droppedBytes) log.warn("live output dropped (NATS slow or unreachable, or output too fast); the return has all of it", { dropped_bytes: live.stats.droppedBytes });
      }
    }
    const end = Date.now();
    const body: JobReturned = {
      v: 1,
      type: "job.ret",
      eid: eventIds.jobRet(jid, this.id),
      ts: end,
      jid,
      id: this.id,
      fun,
      fun_args: Object.keys(job.kwarg).length ? [...job.arg, job.kwarg] : job.arg,
      return: null,
      retcode,
      success: retcode === 0 && !error,
      start,
      end,
      duration_ms: end - start,
      ...(error ? { error } : {}),
      ...(job.schedule !== undefined ? { schedule: job.schedule } : {}),
    };
    this.jobs.delete(jid);
    job.onResult?.({ jid, fun, return: wireOrText(ret), retcode: body.retcode, success: body.success, ...(error ? { error } : {}) });
    if (job.returnJob === false) {
      log.debug("scheduled run done; its return is not published (return_job: false)", { schedule: job.schedule, success: body.success });
      return;
    }
    // Not awaited: the job is over; shutdown waits on deliveries separately, with its own bound.
    this.track(this.deliver(body, ret));
  }

  /** Seal and publish a return until acknowledged; one that cannot travel becomes an error return. */
  private async deliver(body: JobReturned, ret: unknown): Promise<void> {
    const subject = this.host.s.jobRet(body.jid, this.id);
    let sealed;
    try {
      body.return = toWire(ret);
      sealed = seal(subject, body, this.keys.sign);
      const max = (this.host.nc.info?.max_payload ?? 1024 * 1024) - 4096;
      if (sealed.payload.length > max) {
        const message = `the return is ${sealed.payload.length} bytes, more than a NATS message can carry (${max}); it was dropped`;
        Object.assign(body, { return: message, success: false, retcode: body.retcode || 1, error: { code: "return_too_large", message } });
        sealed = seal(subject, body, this.keys.sign);
      }
    } catch (err) {
      const message = `the return cannot be encoded: ${(err as Error).message}`;
      Object.assign(body, { return: message, success: false, retcode: body.retcode || 1, error: { code: "bad_return", message } });
      sealed = seal(subject, body, this.keys.sign);
    }
    await this.publishReturn(sealed, body.jid);
  }

  /** Returns a previous run left in the spool: each is published again, and its file goes once acknowledged. */
  private deliverSpooled(): void {
    if (!this.spool) return;
    const left = this.spool.list();
    if (!left.length) return;
    this.log.info("delivering returns left in the spool", { count: left.length, dir: this.spool.dir });
    for (const { path, ev, jid } of left) this.track(this.publishReturn(ev, jid, path));
  }

  private track(delivery: Promise<void>): void {
    this.deliveries.add(delivery);
    void delivery.finally(() => this.deliveries.delete(delivery));
  }

  /**
   * Publish a sealed return until JetStream acknowledges it. With a spool, a return not
   * acknowledged within spoolAfterMs is written to disk (and removed once acknowledged), so a
   * restart while NATS is away does not lose it. `spooledAt`: it comes from the spool.
   */
  private async publishReturn(sealed: Sealed, jid: string, spooledAt?: string): Promise<void> {
    const entry = this.spool ? new SpoolEntry(this.spool, sealed, jid, spooledAt) : undefined;
    let timer: NodeJS.Timeout | undefined;
    if (entry) {
      this.unacked.add(entry);
      if (!entry.saved) timer = setTimeout(() => this.save(entry, jid), this.opts.spoolAfterMs ?? 1000);
    }
    try {
      const ack = await this.host.publish(sealed, this.hardStop.signal);
      if (ack.duplicate && spooledAt) {
        // A return from an earlier run: its publish landed and the ack was lost before the
        // process ended. It is in the stream once; that is what we want.
        this.log.info("spooled return was already in the stream", { jid });
      } else if (ack.duplicate) {
        // The stream already holds a message with this return's event id: an earlier attempt
        // whose ack was lost, or a forgery someone published first (the id is predictable) so
        // that JetStream drops the real return as its duplicate. Publish once more without the
        // id: readers keep one verified return per (jid, minion), so a second copy of ours is
        // harmless, and a forgery cannot cost the real one.
        const { [H.msgId]: _id, ...headers } = sealed.headers;
        await this.host.publish({ ...sealed, headers }, this.hardStop.signal);
      }
      entry?.acknowledged();
      this.log.debug("return delivered", { jid, spooled: !!spooledAt });
    } catch (err) {
      if (entry) this.save(entry, jid);
      this.log.error(entry?.saved ? "return not delivered yet; it stays in the spool for the next start" : "return not delivered", {
        jid,
        error: String((err as Error).message),
      });
    } finally {
      clearTimeout(timer);
      if (entry) this.unacked.delete(entry);
    }
  }

  private save(entry: SpoolEntry, jid: string): void {
    if (entry.saved) return;
    try {
      entry.save();
      this.log.warn("return not acknowledged yet; written to the spool", { jid, dir: this.spool?.dir });
    } catch (err) {
      this.log.error("return could not be written to the spool", { jid, error: err as Error });
    }
  }

  /**
   * Stop: take no more commands, give running jobs `graceMs` to finish, abort the rest, and
   * deliver every return (waiting up to `deliverMs` for NATS) before leaving the host.
   */
  async stop(opts: { graceMs?: number; deliverMs?: number; spoolWaitMs?: number } = {}): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.scheduler.stop();
    this.startAbort.abort();
    const graceMs = opts.graceMs ?? 10_000;
    const deliverMs = opts.deliverMs ?? 60_000;
    // Jobs still waiting for a slot never start; each still gets its (aborted) return.
    for (const e of this.queue.drain()) {
      e.ac.abort(new JobAbortedError(e.jid, "the minion is shutting down (the job was waiting for a process_count_max slot)"));
      void this.launch(e);
    }
    if (this.jobs.size) {
      const all = Promise.allSettled([...this.jobs.values()].map((j) => j.finished));
      const giveUp = new AbortController();
      await Promise.race([all, sleep(graceMs, giveUp.signal)]);
      giveUp.abort();
      for (const j of this.jobs.values()) {
        this.log.warn("aborting a job still running at shutdown", { jid: j.jid, fun: j.fun });
        j.ac.abort(new JobAbortedError(j.jid, "the minion is shutting down"));
      }
      await Promise.allSettled([...this.jobs.values()].map((j) => j.finished));
    }
    if (this.deliveries.size) {
      // With a spool, what is not acknowledged yet goes to disk now, and the wait is short:
      // the next start delivers it.
      for (const e of this.unacked) this.save(e, e.jid);
      const giveUp = new AbortController();
      const all = Promise.allSettled([...this.deliveries]);
      await Promise.race([all, sleep(this.spool ? Math.min(deliverMs, opts.spoolWaitMs ?? 5000) : deliverMs, giveUp.signal)]);
      giveUp.abort();
      if (this.deliveries.size) {
        if (this.spool) this.log.warn("returns not acknowledged before shutdown stay in the spool for the next start", { count: this.deliveries.size, dir: this.spool.dir });
        else this.log.error("returns not delivered before shutdown", { count: this.deliveries.size });
        this.hardStop.abort();
        await all;
      }
    }
    this.host.remove(this);
  }
}


/** A result as it would travel, or its text when it cannot be encoded (deliver() reports that case). */
function wireOrText(v: unknown): unknown {
  try {
    return toWire(v);
  } catch {
    return String(v);
  }
}

/** The function's result, or the abort reason as soon as the job is aborted (a function may ignore its signal). */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    p.catch(() => {}); // its own rejection (it saw the aborted signal too) is not the answer
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(
      (v) => { signal.removeEventListener("abort", onAbort); resolve(v); },
      (e) => { signal.removeEventListener("abort", onAbort); reject(e); },
    );
  });
}

function writePin(path: string, pub: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  writeFileAtomic(path, pub + "\n");
}

/** The start event: a minion presenting its keys (at start, after its key was deleted, through bootstrap). */
export function startEvent(id: string, keys: ServiceKeys): MinionStarted {
  return {
    v: 1,
    type: "minion.start",
    eid: eventIds.unique("start"),
    ts: Date.now(),
    id,
    pub: keys.sign.pub,
    box_pub: keys.boxPub,
    version: natriumVersion(),
    pid: process.pid,
    host: hostname().slice(0, 255),
  };
}
