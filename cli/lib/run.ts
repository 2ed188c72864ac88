// `natrium run`: ask the master to publish a job, then follow the job's returns in the stream
// (an ordered consumer from the job's first return, so nothing is missed however fast minions
// answer) until every expected minion returned or the time is up.

import { jetstream, DeliverPolicy } from "@nats-io/jetstream";
import { open } from "../../contracts/message.js";
import type { PublishReply, PublishRequest } from "../../contracts/api.js";
import type { JobReturned, TargetType } from "../../contracts/events/job.js";
import { KeyVerifier, type Client } from "./client.js";

export interface Answer {
  id: string;
  return: unknown;
  retcode: number;
  success: boolean;
  duration_ms: number;
}

export interface RunResult {
  jid: string;
  /** Minions the master expected to answer. */
  minions: string[];
  returns: Record<string, { return: unknown; retcode: number; success: boolean; duration_ms: number }>;
  /** Expected minions that did not answer in time. */
  missing: string[];
}

export interface RunRequest {
  tgt: string | string[];
  tgt_type: TargetType;
  fun: string;
  arg: unknown[];
  kwarg: Record<string, unknown>;
  timeout?: number;
  /** Returners asked for by name (`--return`): those in `requested` mode deliver this job. */
  ret?: string[];
}

export interface RunHooks {
  onPublished?(reply: PublishReply): void;
  onAnswer?(a: Answer): void;
  onProgress?(returned: number, expected: number, elapsedMs: number): void;
  onInvalid?(subject: string, reason: string): void;
}

export async function runJob(c: Client, req: RunRequest, hooks: RunHooks = {}): Promise<RunResult> {
  const t0 = Date.now();
  const body: PublishRequest = { v: 1, ...req };
  const reply = await c.api<PublishReply>("publish", body);
  hooks.onPublished?.(reply);
  const result: RunResult = { jid: reply.jid, minions: reply.minions, returns: {}, missing: [] };
  const expected = new Set(reply.minions);
  if (expected.size === 0) return result;

  const verifier = new KeyVerifier(c.nc, c.s);
  verifier.prefetch(reply.minions);
  const js = jetstream(c.nc);
  const consumer = await js.consumers.get(c.s.stream, { filter_subjects: c.s.jobRets(reply.jid), deliver_policy: DeliverPolicy.All });
  const msgs = await consumer.consume({ max_messages: 1000 });
  let returned = 0;
  const deadline = setTimeout(() => msgs.stop(), reply.timeout * 1000 + 1000);
  const progress = hooks.onProgress ? setInterval(() => hooks.onProgress!(returned, expected.size, Date.now() - t0), 100) : undefined;
  try {
    for await (const m of msgs) {
      let o;
      try {
        o = open(m.subject, m.data, m.headers);
        if (o.body.type === "job.ret") await verifier.verifyMinion(o, o.body.id);
      } catch (err) {
        hooks.onInvalid?.(m.subject, (err as Error).message);
        continue;
      }
      if (o.body.type !== "job.ret" || result.returns[o.body.id]) continue;
      const r = o.body as JobReturned;
      result.returns[r.id] = { return: r.return, retcode: r.retcode, success: r.success, duration_ms: r.duration_ms };
      if (expected.has(r.id)) returned++;
      hooks.onAnswer?.({ id: r.id, return: r.return, retcode: r.retcode, success: r.success, duration_ms: r.duration_ms });
      if (returned === expected.size) break;
    }
  } finally {
    clearTimeout(deadline);
    if (progress) clearInterval(progress);
    await msgs.close().catch(() => {});
  }
  result.missing = reply.minions.filter((id) => !result.returns[id]);
  return result;
}
