// Live output: a running command's stdout/stderr, cut into signed `job.prog` chunks on
// `{ns}.job.{jid}.prog.{minion}` as it is written. Output is coalesced (a chunk goes when it
// reaches PROG_CHUNK_MAX bytes, when the other stream writes, or `flushMs` after its first
// byte), numbered from 0 per job, and published with a core publish that never waits: the
// progress stream captures it for late viewers. Progress is best effort. When NATS is
// unreachable or slow (the client's outbound buffer is backed up) or a job writes faster than
// the budget, chunks are dropped and counted; the next chunk that goes says how many bytes were
// lost. The job's return always carries the full output.

import { StringDecoder } from "node:string_decoder";
import type { NatsConnection } from "@nats-io/transport-node";
import { PROG_CHUNK_MAX, type JobProgress } from "../../contracts/events/job.js";
import { eventIds } from "../../contracts/ids.js";
import { seal } from "../../contracts/message.js";
import type { SigningKey } from "../../contracts/sign.js";
import type { Subjects } from "../../contracts/subjects.js";
import { toHeaders } from "../common/bus.js";

export type ProgStream = JobProgress["stream"];

export interface Chunk {
  seq: number;
  stream: ProgStream;
  data: string;
  /** Bytes dropped since the previous chunk that went out. */
  dropped: number;
}

export interface CoalescerOptions {
  /** Milliseconds output may wait for more before it goes (default 75). */
  flushMs?: number;
  /** Most bytes of one chunk (default PROG_CHUNK_MAX). */
  maxChunk?: number;
  /** Bytes per second a job may send; more is dropped (default 1 MiB/s, with a 1 MiB burst). */
  bytesPerSec?: number;
  now?: () => number;
}

/** Cut the longest prefix of `s` that is at most `max` UTF-8 bytes, without splitting a character. */
export function _cutUtf8(s: string, max: number): [string, string] {
  if (Buffer.byteLength(s, "utf8") <= max) return [s, ""];
  let bytes = 0;
  let i = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch, "utf8");
    if (bytes + n > max) break;
    bytes += n;
    i += ch.length;
  }
  return [s.slice(0, i), s.slice(i)];
}

/**
 * Turns a command's output into ordered chunks. `send` returns false when the chunk could not
 * go (it is then counted as dropped). Pure apart from its timer: unit-tested on its own.
 */
export class Coalescer {
  private seq = 0;
  private pending = "";
  private pendingBytes = 0;
  private stream: ProgStream = "stdout";
  private timer: NodeJS.Timeout | undefined;
  private droppedBytes = 0;
  private readonly decoders = { stdout: new StringDecoder("utf8"), stderr: new StringDecoder("utf8") };
  private readonly flushMs: number;
  private readonly maxChunk: number;
  private readonly rate: number;
  private tokens: number;
  private last: number;
  private readonly now: () => number;
  private closed = false;
  /** Totals, for the minion's stats and the tests. */
  readonly stats = { chunks: 0, bytes: 0, droppedChunks: 0, droppedBytes: 0 };

  constructor(private readonly send: (c: Chunk) => boolean, o: CoalescerOptions = {}) {
    this.flushMs = o.flushMs ?? 75;
    this.maxChunk = o.maxChunk ?? PROG_CHUNK_MAX;
    this.rate = o.bytesPerSec ?? 1024 * 1024;
    this.tokens = this.rate;
    this.now = o.now ?? Date.now;
    this.last = this.now();
  }

  /** Output as the command wrote it. */
  write(stream: ProgStream, data: Buffer | string): void {
    if (this.closed) return;
    const text = typeof data === "string" ? data : this.decoders[stream].write(data);
    if (!text) return;
    if (stream !== this.stream && this.pending) this.flush();
    this.stream = stream;
    this.pending += text;
    this.pendingBytes += Buffer.byteLength(text, "utf8");
    while (this.pendingBytes >= this.maxChunk) {
      const [head, rest] = _cutUtf8(this.pending, this.maxChunk);
      this.pending = rest;
      this.pendingBytes = Buffer.byteLength(rest, "utf8");
      this.emit(head);
    }
    if (this.pending && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.flush();
      }, this.flushMs);
      this.timer.unref?.();
    }
  }

  /** Send what is pending now. */
  flush(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (!this.pending) return;
    const text = this.pending;
    this.pending = "";
    this.pendingBytes = 0;
    this.emit(text);
  }

  /** The command ended: send the rest (and any partial character the decoders held) and stop. */
  end(): void {
    if (this.closed) return;
    for (const st of ["stdout", "stderr"] as const) {
      const tail = this.decoders[st].end();
      if (tail) this.write(st, tail);
    }
    this.flush();
    this.closed = true;
  }

  private emit(data: string): void {
    const bytes = Buffer.byteLength(data, "utf8");
    const t = this.now();
    this.tokens = Math.min(this.rate, this.tokens + ((t - this.last) / 1000) * this.rate);
    this.last = t;
    const chunk: Chunk = { seq: this.seq, stream: this.stream, data, dropped: this.droppedBytes };
    if (this.tokens >= bytes && this.send(chunk)) {
      this.tokens -= bytes;
      this.seq++;
      this.droppedBytes = 0;
      this.stats.chunks++;
      this.stats.bytes += bytes;
    } else {
      this.droppedBytes += bytes;
      this.stats.droppedChunks++;
      this.stats.droppedBytes += bytes;
    }
  }
}

/** Outbound bytes the client may hold before progress is dropped instead of queued. */
const MAX_BACKLOG = 1024 * 1024;

/** Whether a core publish now would go out soon, rather than pile up in the client. */
export function _canPublish(nc: NatsConnection): boolean {
  if (nc.isClosed()) return false;
  // nats.js keeps its connection state and outbound buffer on `protocol` (not public API):
  // when they are not there, assume connected.
  const p = (nc as unknown as { protocol?: { connected?: boolean; outbound?: { size(): number } } }).protocol;
  if (p?.connected === false) return false;
  const backlog = p?.outbound?.size?.() ?? 0;
  return backlog < MAX_BACKLOG;
}

/** A job's live output on the wire: chunks sealed with the minion key and published at once. */
export function progressPublisher(
  nc: NatsConnection,
  s: Subjects,
  jid: string,
  minion: string,
  key: SigningKey,
  o: CoalescerOptions = {},
): Coalescer {
  const subject = s.jobProg(jid, minion);
  return new Coalescer((c) => {
    if (!_canPublish(nc)) return false;
    const body: JobProgress = {
      v: 1,
      type: "job.prog",
      eid: eventIds.jobProg(jid, minion, c.seq),
      ts: Date.now(),
      jid,
      id: minion,
      seq: c.seq,
      stream: c.stream,
      data: c.data,
      ...(c.dropped ? { dropped: c.dropped } : {}),
    };
    try {
      const ev = seal(subject, body, key);
      nc.publish(ev.subject, ev.payload, { headers: toHeaders(ev.headers) });
      return true;
    } catch {
      return false;
    }
  }, o);
}
