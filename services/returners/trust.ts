// Whose signature a returner accepts: the master key and the minions' accepted keys, both from
// the `{ns}_keys` bucket (what the master writes on start and on every key change), kept
// current by one watch. A miss is looked up once more directly before a message is refused,
// so a return that overtakes the watch after its minion was accepted is not lost.
//
// Known limit (docs/returners.md): trust is the keys' state *now*. A backfill refuses returns
// of minions whose key has since been deleted or rejected.

import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { decode } from "../../contracts/codec.js";
import { masterKeyRecord, minionKeyRecord, registryKeys } from "../../contracts/registry.js";
import type { Subjects } from "../../contracts/subjects.js";
import { sleep } from "../common/bus.js";
import type { Logger } from "../common/log.js";
import type { MinionKey } from "../jobcache/projection.js";

export class KeyBook {
  private masterPub?: string;
  /** Minion id -> key state and public key, as the job cache's projection state holds them. */
  readonly keys = new Map<string, MinionKey>();
  private stopWatch = () => {};

  private constructor(private readonly kv: KV, private readonly log: Logger) {}

  /** Waits for the keys bucket (the master makes it) and starts watching it. */
  static async open(nc: NatsConnection, s: Subjects, log: Logger, signal: AbortSignal): Promise<KeyBook> {
    const kvm = new Kvm(nc);
    for (let attempt = 1; ; attempt++) {
      try {
        const book = new KeyBook(await kvm.open(s.keysBucket), log);
        await book.watch();
        return book;
      } catch (err) {
        if (signal.aborted) throw err;
        if (attempt === 1 || attempt % 60 === 0) log.info("waiting for the keys bucket (start the master)", { bucket: s.keysBucket, error: String((err as Error).message) });
        await sleep(500, signal);
      }
    }
  }

  private apply(key: string, value: Uint8Array | undefined): void {
    try {
      if (key === registryKeys.master) {
        if (value) this.masterPub = masterKeyRecord.parse(decode(value)).pub;
        return;
      }
      if (!key.startsWith("minion.")) return;
      if (!value) {
        // A deleted KV entry: the id is in the key, but only as a token; drop every id mapping to it lazily.
        for (const id of this.keys.keys()) if (registryKeys.minionKey(id) === key) this.keys.delete(id);
        return;
      }
      const rec = minionKeyRecord.parse(decode(value));
      this.keys.set(rec.id, { state: rec.state, pub: rec.pub });
    } catch (err) {
      this.log.warn("unreadable record in the keys bucket; ignored", { key, error: String((err as Error).message) });
    }
  }

  private async watch(): Promise<void> {
    const w = await this.kv.watch();
    this.stopWatch = () => w.stop();
    (async () => {
      for await (const e of w) this.apply(e.key, e.operation === "PUT" ? e.value : undefined);
    })().catch((err) => this.log.warn("keys watch ended", { error: String((err as Error).message) }));
  }

  async master(): Promise<string | undefined> {
    if (this.masterPub) return this.masterPub;
    const e = await this.kv.get(registryKeys.master);
    if (e?.operation === "PUT") this.apply(e.key, e.value);
    return this.masterPub;
  }

  /** Make sure `keys` has the bucket's answer for a minion not known as accepted (the watch may lag). */
  async refresh(id: string): Promise<void> {
    if (this.keys.get(id)?.state === "accepted") return;
    const e = await this.kv.get(registryKeys.minionKey(id));
    if (e?.operation === "PUT") this.apply(e.key, e.value);
    else this.keys.delete(id);
  }

  /** Who signed a verified event, as EventRecord.signer says it: "master", "minion <id>" or "unknown". */
  async signerOf(b: { type: string; id?: unknown }, pub: string): Promise<string> {
    if (b.type === "job.new" || b.type === "job.done" || b.type === "key") return "master";
    if (typeof b.id === "string" && b.type !== "audit") return `minion ${b.id}`;
    if (pub === (await this.master())) return "master";
    for (const [id, k] of this.keys) if (k.pub === pub) return `minion ${id}`;
    return "unknown";
  }

  stop(): void {
    this.stopWatch();
  }
}
