// The master's in-memory view of the minion registry: accepted keys and the minion data cache
// (grains), kept current by watching the two KV buckets. Target resolution reads only this.

import type { KV } from "@nats-io/kv";
import { decode } from "../../contracts/codec.js";
import { minionDataRecord, minionKeyRecord, type MinionKeyRecord } from "../../contracts/registry.js";
import { decodeToken } from "../../contracts/subjects.js";
import { matches } from "../common/target.js";
import type { TargetType } from "../../contracts/events/job.js";
import type { Logger } from "../common/log.js";

export class MinionRegistry {
  readonly keys = new Map<string, MinionKeyRecord>();
  readonly grains = new Map<string, Record<string, unknown>>();
  private stops: (() => void)[] = [];

  constructor(private readonly log: Logger) {}

  /** Load current values and keep following updates. Resolves once the current values are in. */
  async start(keysKv: KV, minionsKv: KV): Promise<void> {
    await Promise.all([
      this.follow(keysKv, (key, value) => {
        if (!key.startsWith("minion.")) return;
        const id = decodeToken(key.slice("minion.".length));
        if (value === undefined) this.keys.delete(id);
        else this.keys.set(id, minionKeyRecord.parse(value));
      }),
      this.follow(minionsKv, (key, value) => {
        const id = decodeToken(key);
        if (value === undefined) this.grains.delete(id);
        else this.grains.set(id, minionDataRecord.parse(value).grains);
      }),
    ]);
  }

  private async follow(kv: KV, apply: (key: string, value: unknown) => void): Promise<void> {
    // The watcher delivers current values first; a status count tells us when they are all in.
    const initial = (await kv.status()).values;
    const it = await kv.watch();
    this.stops.push(() => it.stop());
    let seen = 0;
    let ready!: () => void;
    const loaded = new Promise<void>((r) => (ready = r));
    if (initial === 0) ready();
    (async () => {
      for await (const e of it) {
        try {
          apply(e.key, e.operation === "PUT" ? decode(e.value) : undefined);
        } catch (err) {
          this.log.warn("ignoring a registry entry that does not decode", { bucket: e.bucket, key: e.key, error: err as Error });
        }
        if (!e.isUpdate && ++seen >= initial) ready();
        if (e.isUpdate) ready();
      }
    })().catch((err) => this.log.error("registry watch ended", { error: err as Error }));
    // A bucket with deleted entries reports fewer values than its history; don't wait forever.
    await Promise.race([loaded, new Promise((r) => setTimeout(r, 2000))]);
  }

  accepted(id: string): MinionKeyRecord | undefined {
    const k = this.keys.get(id);
    return k?.state === "accepted" ? k : undefined;
  }

  /** Accepted minions the target selects, per the minion data cache. Sorted for stable output. */
  resolve(tgt: string | string[], type: TargetType): string[] {
    const out: string[] = [];
    for (const [id, k] of this.keys) {
      if (k.state !== "accepted") continue;
      if (matches(tgt, type, id, this.grains.get(id) ?? {})) out.push(id);
    }
    return out.sort();
  }

  stop(): void {
    for (const s of this.stops) s();
  }
}
