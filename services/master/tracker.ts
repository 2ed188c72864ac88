// Which expected minions have returned, per job this master published; job.done when all have,
// or when the timeout passes. When it passes with minions silent, the master asks them, as Salt
// does, whether they still run the job (a saltutil.find_job job that waits gather_job_timeout
// seconds) and keeps waiting for those that do, up to job_max_wait after publication; the
// done event names the minions still running then (`running`). Returns are counted only when
// they verify against the minion's accepted key, so a forged return cannot close a job early.

import type { JetStreamClient } from "@nats-io/jetstream";
import type { Msg } from "@nats-io/transport-node";
import { H, openAs, seal, verifyAs } from "../../contracts/message.js";
import { eventIds } from "../../contracts/ids.js";
import { parseSubject, type Subjects } from "../../contracts/subjects.js";
import type { JobDone, JobPublished } from "../../contracts/events/job.js";
import type { SigningKey } from "../../contracts/sign.js";
import type { NatriumError } from "../../contracts/errors.js";
import { publishDurable } from "../common/bus.js";
import type { Auditor } from "../common/audit.js";
import type { Logger } from "../common/log.js";
import type { MinionRegistry } from "./registry.js";

interface Tracked {
  job: JobPublished;
  expected: Set<string>;
  returned: Set<string>;
  unexpected: Set<string>;
  timer: NodeJS.Timeout;
  /** Minions that said at the last find_job that they still run the job. */
  running: Set<string>;
  /** The find_job in flight: minions asked and what they answered (true: still running). */
  probe?: { asked: Set<string>; answers: Map<string, boolean> };
}

/** Publishes saltutil.find_job for `parent` to `minions`; calls `onJid` with its jid before it is published. */
export type Prober = (parent: JobPublished, minions: string[], timeoutSec: number, onJid: (jid: string) => void) => Promise<void>;

export interface TrackerOptions {
  /** Seconds a find_job waits for answers (Salt's gather_job_timeout); 0: no find_job, a timeout closes the job. */
  gatherJobTimeoutSec?: number;
  /** Seconds after publication after which the master stops waiting even for minions still running. */
  jobMaxWaitSec?: number;
  probe?: Prober;
  /** Called with every verified return of a tracked job: the minion is alive (presence). */
  onVerified?: (minion: string, eid: string) => void;
}

export class JobTracker {
  private readonly jobs = new Map<string, Tracked>();
  private readonly closing = new Set<Promise<unknown>>();
  /** find_job jid -> the jid of the job it asks about. */
  private readonly probes = new Map<string, string>();
  /** Open find_job jobs of this master: their own timeout closes them, never asks again. */
  private readonly probeJobs = new Set<string>();

  constructor(
    private readonly js: JetStreamClient,
    private readonly s: Subjects,
    private readonly key: SigningKey,
    private readonly registry: MinionRegistry,
    private readonly audit: Auditor,
    private readonly log: Logger,
    private readonly opts: TrackerOptions = {},
  ) {}

  get size(): number {
    return this.jobs.size;
  }

  track(job: JobPublished): void {
    const t: Tracked = {
      job,
      expected: new Set(job.minions),
      returned: new Set(),
      unexpected: new Set(),
      timer: setTimeout(() => this.timedOut(job.jid), Math.max(0, job.timeout * 1000)),
      running: new Set(),
    };
    this.jobs.set(job.jid, t);
  }

  /**
   * A job published before this master (re)started, tracked (track()) before its returns were
   * read from the stream: add those, and let its timeout run from its publication.
   */
  resume(jid: string, returned: string[]): void {
    const t = this.jobs.get(jid);
    if (!t) return; // closed meanwhile by returns that arrived live
    for (const id of returned) t.returned.add(id);
    clearTimeout(t.timer);
    const left = t.job.ts + t.job.timeout * 1000 - Date.now();
    if (t.returned.size === t.expected.size) this.close(jid, "all_returned");
    else t.timer = setTimeout(() => this.timedOut(jid), Math.max(0, left));
  }

  /** The job is in the stream: a job that expects nobody is done at once. */
  published(jid: string): void {
    const t = this.jobs.get(jid);
    if (t && t.returned.size === t.expected.size) this.close(jid, "all_returned");
  }

  /** Drop a job that was not published after all (no done event). */
  forget(jid: string): void {
    const t = this.jobs.get(jid);
    if (!t) return;
    clearTimeout(t.timer);
    this.jobs.delete(jid);
  }

  /** A message on the returns wildcard. Jobs of other masters are ignored cheaply by subject. */
  onReturn(m: Msg): void {
    const p = parseSubject(this.s.ns, m.subject);
    if (!p || p.kind !== "job.ret") return;
    const t = this.jobs.get(p.jid);
    if (!t) return;
    let ret: unknown;
    try {
      const o = openAs("job.ret", m.subject, m.data, m.headers);
      ret = o.body.success ? o.body.return : undefined;
      if (o.body.id !== p.minion || o.body.jid !== p.jid) throw Object.assign(new Error(`return on ${m.subject} names ${o.body.id}/${o.body.jid}`), { code: "invalid" });
      const k = this.registry.accepted(p.minion);
      if (!k) throw Object.assign(new Error(`return from minion "${p.minion}" whose key is not accepted`), { code: "unknown_signer" });
      verifyAs(o, k.pub, `minion ${p.minion}`);
      this.opts.onVerified?.(p.minion, o.body.eid);
    } catch (err) {
      const e = err as NatriumError;
      this.audit.record({ kind: e.code === "bad_signature" ? "bad_signature" : "bad_return", reason: e.message, subject: m.subject });
      return;
    }
    if (t.expected.has(p.minion)) t.returned.add(p.minion);
    else t.unexpected.add(p.minion);
    const parent = this.probes.get(p.jid);
    if (parent) this.probeAnswer(parent, p.minion, ret);
    if (t.returned.size === t.expected.size) this.close(p.jid, "all_returned");
  }

  /** The timeout passed: close, or ask the silent minions whether they still run the job. */
  private timedOut(jid: string): void {
    const t = this.jobs.get(jid);
    if (!t) return;
    const silent = [...t.expected].filter((m) => !t.returned.has(m)).sort();
    const gather = this.opts.gatherJobTimeoutSec ?? 0;
    const capAt = t.job.ts + (this.opts.jobMaxWaitSec ?? 3600) * 1000;
    if (!this.opts.probe || gather <= 0 || !silent.length || this.isProbe(jid) || Date.now() >= capAt) return this.close(jid, "timeout");
    t.probe = { asked: new Set(silent), answers: new Map() };
    const probe = t.probe;
    t.timer = setTimeout(() => this.probeDone(jid), gather * 1000);
    this.opts.probe(t.job, silent, gather, (pjid) => {
      this.probes.set(pjid, jid);
      this.probeJobs.add(pjid);
    }).catch((err) => {
      this.log.error("saltutil.find_job could not be published; closing the job", { jid, error: err as Error });
      if (t.probe === probe) {
        clearTimeout(t.timer);
        t.probe = undefined;
        this.close(jid, "timeout");
      }
    });
  }

  /** A find_job is never followed by another (one resumed after a restart is known by its fun). */
  private isProbe(jid: string): boolean {
    return this.probeJobs.has(jid) || this.jobs.get(jid)?.job.fun === "saltutil.find_job";
  }

  /** A minion's saltutil.find_job return for `parent`: a non-empty entry means it still runs it. */
  private probeAnswer(parent: string, minion: string, ret: unknown): void {
    const t = this.jobs.get(parent);
    if (!t?.probe || !t.probe.asked.has(minion)) return;
    const yes = !!ret && typeof ret === "object" && typeof (ret as { jid?: unknown }).jid === "string";
    t.probe.answers.set(minion, yes);
    if ([...t.probe.asked].every((m) => t.probe!.answers.has(m) || t.returned.has(m))) this.probeDone(parent);
  }

  /** The find_job is over (all answered, or gather_job_timeout passed): wait on for the running, or close. */
  private probeDone(jid: string): void {
    const t = this.jobs.get(jid);
    if (!t?.probe) return;
    clearTimeout(t.timer);
    for (const [p, parent] of this.probes) if (parent === jid) this.probes.delete(p);
    const still = [...t.probe.answers].filter(([m, yes]) => yes && !t.returned.has(m)).map(([m]) => m);
    t.probe = undefined;
    t.running = new Set(still);
    const left = t.job.ts + (this.opts.jobMaxWaitSec ?? 3600) * 1000 - Date.now();
    if (!still.length || left <= 0) return this.close(jid, "timeout");
    this.log.debug("minions still run the job; waiting on", { jid, running: still });
    t.timer = setTimeout(() => this.timedOut(jid), Math.min(Math.max(t.job.timeout * 1000, 1000), left));
  }

  private close(jid: string, reason: JobDone["reason"]): void {
    const t = this.jobs.get(jid);
    if (!t) return;
    this.jobs.delete(jid);
    clearTimeout(t.timer);
    this.probes.delete(jid);
    this.probeJobs.delete(jid);
    const returned = [...t.returned].sort();
    const running = [...t.running].filter((m) => !t.returned.has(m)).sort();
    const done: JobDone = {
      v: 1,
      type: "job.done",
      eid: eventIds.jobDone(jid),
      ts: Date.now(),
      jid,
      expected: [...t.expected].sort(),
      returned,
      missing: [...t.expected].filter((m) => !t.returned.has(m)).sort(),
      unexpected: [...t.unexpected].sort(),
      reason,
      ...(reason === "timeout" && running.length ? { running } : {}),
    };
    const ev = seal(this.s.jobDone(jid), done, this.key);
    const p = publishDurable(this.js, ev, { log: this.log })
      .then(async (ack) => {
        // A duplicate: our own earlier attempt, or a forgery published first with this
        // predictable event id to have the real close dropped. Again without the id: readers
        // apply the first verified job.done, so a second copy of ours is harmless.
        if (ack.duplicate) await publishDurable(this.js, { ...ev, headers: withoutMsgId(ev.headers) }, { log: this.log });
        this.log.info("job done", { jid, reason, returned: returned.length, missing: done.missing.length, running: running.length });
      })
      .catch((err) => this.log.error("job.done could not be published", { jid, error: err as Error }))
      .finally(() => this.closing.delete(p));
    this.closing.add(p);
  }

  /**
   * On shutdown: wait for done events being published. Jobs still open stay open (no done
   * event): a job is not over because its master stopped, and its returns are in the stream.
   */
  async drain(): Promise<string[]> {
    const open = [...this.jobs.keys()];
    for (const t of this.jobs.values()) clearTimeout(t.timer);
    this.jobs.clear();
    this.probes.clear();
    this.probeJobs.clear();
    await Promise.all([...this.closing]);
    return open;
  }
}

function withoutMsgId(h: Record<string, string>): Record<string, string> {
  const { [H.msgId]: _id, ...rest } = h;
  return rest;
}
