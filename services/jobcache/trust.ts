// The master's public key, which signs job.new, job.done and key events. The master writes it
// to the keys bucket at start; the job cache waits for it and follows later changes.
//
// Known limit: events are checked against the master key current when they are projected. If
// the master's key is replaced, a rebuild refuses (audits) events signed by the old one.

import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm, KvWatchInclude, type KV } from "@nats-io/kv";
import { decode } from "../../contracts/codec.js";
import { masterKeyRecord, registryKeys, type MasterKeyRecord } from "../../contracts/registry.js";
import type { Subjects } from "../../contracts/subjects.js";
import { sleep } from "../common/bus.js";
import type { Logger } from "../common/log.js";

export interface MasterKey {
  /** The master's Ed25519 public key, base64. */
  readonly pub: string;
  stop(): void;
}

function parseRecord(value: Uint8Array): MasterKeyRecord | undefined {
  try {
    return masterKeyRecord.parse(decode(value));
  } catch {
    return undefined;
  }
}

/** Resolves once the master key is known; keeps it current until stop(). */
export async function watchMasterKey(nc: NatsConnection, s: Subjects, log: Logger, signal?: AbortSignal): Promise<MasterKey> {
  const kvm = new Kvm(nc);
  let kv: KV | undefined;
  let rec: MasterKeyRecord | undefined;
  for (let attempt = 1; !signal?.aborted; attempt++) {
    try {
      kv ??= await kvm.open(s.keysBucket);
      const e = await kv.get(registryKeys.master);
      if (e && e.operation === "PUT") rec = parseRecord(e.value);
      if (rec) break;
    } catch {
      kv = undefined; // bucket not there yet: the master has not started
    }
    if (attempt === 1 || attempt % 60 === 0) {
      log.info("waiting for the master key (start the master)", { bucket: s.keysBucket, key: registryKeys.master });
    }
    await sleep(500, signal);
  }
  if (!rec || !kv) throw new Error("stopped while waiting for the master key");
  log.info("master key known", { master: rec.id, finger: rec.finger });

  const current = { pub: rec.pub, stop: () => {} } as { pub: string; stop(): void };
  const w = await kv.watch({ key: registryKeys.master, include: KvWatchInclude.UpdatesOnly });
  current.stop = () => w.stop();
  (async () => {
    for await (const e of w) {
      if (e.operation !== "PUT") continue;
      const r = parseRecord(e.value);
      if (r && r.pub !== current.pub) {
        log.warn("the master key changed; new events are checked against the new key", { master: r.id, finger: r.finger });
        current.pub = r.pub;
      }
    }
  })().catch((err) => log.warn("master key watch ended", { error: err as Error }));
  return current;
}
