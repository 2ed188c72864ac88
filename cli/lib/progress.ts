// Live output of a job (`natrium run --stream`, `natrium jobs watch`): the job's `job.prog`
// chunks, read from the progress stream from its first chunk (an ordered consumer, so a viewer
// that joins late, or after the job ended, still sees everything the stream keeps), each one
// checked against the accepted key of the minion it names, in order per minion.

import { jetstream, jetstreamManager, DeliverPolicy, type ConsumerMessages } from "@nats-io/jetstream";
import { open } from "../../contracts/message.js";
import { parseSubject } from "../../contracts/subjects.js";
import type { JobProgress } from "../../contracts/events/job.js";
import { KeyVerifier, type Client } from "./client.js";

export interface ProgressHooks {
  /** A verified chunk, in order for its minion (duplicates dropped). */
  onChunk(c: JobProgress): void;
  /** A message that is not a valid chunk of this job from the minion it names. */
  onInvalid?(subject: string, reason: string): void;
}

/** Checks one message of the progress stream: a `job.prog` of `jid`, signed by the minion its subject names. */
export async function openChunk(c: Client, verifier: KeyVerifier, jid: string, subject: string, data: Uint8Array, headers: Parameters<typeof open>[2]): Promise<JobProgress> {
  const o = open(subject, data, headers);
  if (o.body.type !== "job.prog") throw new Error(`not a progress chunk (${o.body.type})`);
  const p = parseSubject(c.s.ns, subject);
  if (!p || p.kind !== "job.prog") throw new Error("not a progress subject");
  if (o.body.jid !== jid || p.jid !== jid) throw new Error(`chunk of job ${o.body.jid}, not ${jid}`);
  if (o.body.id !== p.minion) throw new Error(`chunk names minion "${o.body.id}" on the subject of "${p.minion}"`);
  await verifier.verifyMinion(o, o.body.id);
  return o.body;
}

export class ProgressFollower {
  /** Messages delivered so far (valid or not): compared with the stream's count to drain. */
  private received = 0;
  private readonly next = new Map<string, number>();
  private loop!: Promise<void>;

  private constructor(private readonly c: Client, readonly jid: string, private readonly msgs: ConsumerMessages, private readonly verifier: KeyVerifier, private readonly hooks: ProgressHooks) {}

  static async start(c: Client, jid: string, hooks: ProgressHooks, verifier = new KeyVerifier(c.nc, c.s)): Promise<ProgressFollower> {
    const consumer = await jetstream(c.nc).consumers.get(c.s.progressStream, { filter_subjects: c.s.jobProgs(jid), deliver_policy: DeliverPolicy.All });
    const msgs = await consumer.consume({ max_messages: 1000 });
    const f = new ProgressFollower(c, jid, msgs, verifier, hooks);
    f.loop = f.run();
    return f;
  }

  private async run(): Promise<void> {
    for await (const m of this.msgs) {
      try {
        const ch = await openChunk(this.c, this.verifier, this.jid, m.subject, m.data, m.headers);
        const want = this.next.get(ch.id) ?? 0;
        if (ch.seq >= want) {
          this.next.set(ch.id, ch.seq + 1);
          this.hooks.onChunk(ch);
        }
      } catch (err) {
        this.hooks.onInvalid?.(m.subject, (err as Error).message);
      } finally {
        this.received++;
      }
    }
  }

  /**
   * Wait until every chunk of the job the stream holds now has been handled (or `maxMs`
   * passed): call it once the job is over, so the output is complete before the returns.
   */
  async drain(maxMs = 3000): Promise<void> {
    const deadline = Date.now() + maxMs;
    let total = 0;
    try {
      // No account check ($JS.API.INFO): readers on a locked-down server may not ask for it.
      const jsm = await jetstreamManager(this.c.nc, { checkAPI: false });
      const si = await jsm.streams.info(this.c.s.progressStream, { subjects_filter: this.c.s.jobProgs(this.jid) });
      total = Object.values(si.state.subjects ?? {}).reduce((a, b) => a + b, 0);
    } catch {
      total = Number.POSITIVE_INFINITY; // unknown: wait until quiet instead
    }
    let last = this.received;
    let quietSince = Date.now();
    while (this.received < total && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
      if (this.received !== last) {
        last = this.received;
        quietSince = Date.now();
      } else if (total === Number.POSITIVE_INFINITY && Date.now() - quietSince > 300) break;
    }
  }

  async stop(): Promise<void> {
    this.msgs.stop();
    await this.loop.catch(() => {});
    await this.msgs.close().catch(() => {});
  }
}

/**
 * Prints chunks as lines prefixed with the minion id (`web1: line`), keeping a partial line
 * until its end arrives (or `flush`). One buffer per minion and stream.
 */
export class LinePrinter {
  private partial = new Map<string, string>();

  constructor(private readonly print: (line: string, stream: JobProgress["stream"]) => void) {}

  push(c: Pick<JobProgress, "id" | "stream" | "data">): void {
    const k = `${c.stream}\u0000${c.id}`;
    const text = (this.partial.get(k) ?? "") + c.data;
    const lines = text.split("\n");
    this.partial.set(k, lines.pop()!);
    for (const l of lines) this.print(`${c.id}: ${l.replace(/\r$/, "")}`, c.stream);
  }

  flush(): void {
    for (const [k, rest] of this.partial) {
      if (!rest) continue;
      const [stream, id] = k.split("\u0000") as [JobProgress["stream"], string];
      this.print(`${id}: ${rest}`, stream);
    }
    this.partial.clear();
  }
}
