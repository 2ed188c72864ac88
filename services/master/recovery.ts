// A master that restarts finds the jobs it published and did not close (no job.done in the
// stream), counts the returns already in the stream, and tracks them again: the done event of
// a job does not depend on its master staying up. Jobs older than the recovery window are left
// as they are.

import { DeliverPolicy, type JetStreamClient, type JetStreamManager, type JsMsg, type OrderedConsumerOptions } from "@nats-io/jetstream";
import { openAs, verifyAs } from "../../contracts/message.js";
import { parseSubject, type Subjects } from "../../contracts/subjects.js";
import type { JobPublished } from "../../contracts/events/job.js";
import type { Logger } from "../common/log.js";
import type { MinionRegistry } from "./registry.js";

export interface OpenJob {
  job: JobPublished;
  /** Expected minions whose verified return is already in the stream. */
  returned: string[];
}

/** Every message the filter holds now (from `opts`), in order; stops when caught up. */
export async function readAll(js: JetStreamClient, stream: string, opts: Partial<OrderedConsumerOptions>, each: (m: JsMsg) => void): Promise<void> {
  const consumer = await js.consumers.get(stream, opts);
  const msgs = await consumer.consume({ max_messages: 1000 });
  // An empty filter delivers nothing at all: give up waiting after a short idle time.
  let idle = setTimeout(() => msgs.stop(), 750);
  try {
    for await (const m of msgs) {
      clearTimeout(idle);
      each(m);
      if (m.info.pending === 0) break;
      idle = setTimeout(() => msgs.stop(), 750);
    }
  } finally {
    clearTimeout(idle);
    await msgs.close().catch(() => {});
  }
}

export async function findOpenJobs(o: {
  js: JetStreamClient;
  jsm: JetStreamManager;
  s: Subjects;
  masterId: string;
  masterPub: string;
  registry: MinionRegistry;
  windowSec: number;
  log: Logger;
  /** Called for each open job before its returns are read, so that one landing meanwhile is counted too. */
  onOpen?: (job: JobPublished) => void;
}): Promise<OpenJob[]> {
  const { js, jsm, s } = o;
  const mine: JobPublished[] = [];
  await readAll(
    js,
    s.stream,
    { filter_subjects: s.allJobNew, deliver_policy: DeliverPolicy.StartTime, opt_start_time: new Date(Date.now() - o.windowSec * 1000).toISOString() },
    (m) => {
      try {
        const ev = openAs("job.new", m.subject, m.data, m.headers);
        verifyAs(ev, o.masterPub, "this master");
        if (ev.body.master === o.masterId) mine.push(ev.body);
      } catch {
        // not ours, or not valid: the job cache audits invalid events
      }
    },
  );
  const open: OpenJob[] = [];
  for (const job of mine) {
    if (await jsm.streams.getMessage(s.stream, { last_by_subj: s.jobDone(job.jid) }).catch(() => null)) continue;
    o.onOpen?.(job);
    const expected = new Set(job.minions);
    const returned = new Set<string>();
    await readAll(js, s.stream, { filter_subjects: s.jobRets(job.jid), deliver_policy: DeliverPolicy.All }, (m) => {
      const p = parseSubject(s.ns, m.subject);
      const k = p && "minion" in p ? o.registry.accepted(p.minion) : undefined;
      if (!p || !("minion" in p) || !k || !expected.has(p.minion)) return;
      try {
        verifyAs(openAs("job.ret", m.subject, m.data, m.headers), k.pub, `minion ${p.minion}`);
        returned.add(p.minion);
      } catch {
        // a forged or broken return does not count
      }
    });
    open.push({ job, returned: [...returned] });
  }
  if (open.length) o.log.info("resuming jobs left open by a previous run", { jids: open.map((j) => j.job.jid) });
  return open;
}
