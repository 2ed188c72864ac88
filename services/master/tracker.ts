// Which expected minions have returned, per job this master published; job.done when all have,
// or when the timeout passes. Returns are counted only when they verify against the minion's
// accepted key, so a forged return cannot close a job early.

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
}

export class JobTracker {
  private readonly jobs = new Map<string, Tracked>();
  private readonly closing = new Set<Promise<unknown>>();

  constructor(
    private readonly js: JetStreamClient,
    private readonly s: Subjects,
    private readonly key: SigningKey,
    private readonly registry: MinionRegistry,
    private readonly audit: Auditor,
    private readonly log: Logger,
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
      timer: setTimeout(() => this.close(job.jid, "timeout"), Math.max(0, job.timeout * 1000)),
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
    else t.timer = setTimeout(() => this.close(jid, "timeout"), Math.max(0, left));
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
    try {
      const o = openAs("job.ret", m.subject, m.data, m.headers);
      if (o.body.id !== p.minion || o.body.jid !== p.jid) throw Object.assign(new Error(`return on ${m.subject} names ${o.body.id}/${o.body.jid}`), { code: "invalid" });
      const k = this.registry.accepted(p.minion);
      if (!k) throw Object.assign(new Error(`return from minion "${p.minion}" whose key is not accepted`), { code: "unknown_signer" });
      verifyAs(o, k.pub, `minion ${p.minion}`);
    } catch (err) {
      const e = err as NatriumError;
      this.audit.record({ kind: e.code === "bad_signature" ? "bad_signature" : "bad_return", reason: e.message, subject: m.subject });
      return;
    }
    if (t.expected.has(p.minion)) t.returned.add(p.minion);
    else t.unexpected.add(p.minion);
    if (t.returned.size === t.expected.size) this.close(p.jid, "all_returned");
  }

  private close(jid: string, reason: JobDone["reason"]): void {
    const t = this.jobs.get(jid);
    if (!t) return;
    this.jobs.delete(jid);
    clearTimeout(t.timer);
    const returned = [...t.returned].sort();
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
    };
    const ev = seal(this.s.jobDone(jid), done, this.key);
    const p = publishDurable(this.js, ev, { log: this.log })
      .then(async (ack) => {
        // A duplicate: our own earlier attempt, or a forgery published first with this
        // predictable event id to have the real close dropped. Again without the id: readers
        // apply the first verified job.done, so a second copy of ours is harmless.
        if (ack.duplicate) await publishDurable(this.js, { ...ev, headers: withoutMsgId(ev.headers) }, { log: this.log });
        this.log.info("job done", { jid, reason, returned: returned.length, missing: done.missing.length });
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
    await Promise.all([...this.closing]);
    return open;
  }
}

function withoutMsgId(h: Record<string, string>): Record<string, string> {
  const { [H.msgId]: _id, ...rest } = h;
  return rest;
}
