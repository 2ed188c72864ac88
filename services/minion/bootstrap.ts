// A new minion on a locked-down NATS server: the server knows only accepted minions' nkeys, so
// the first connection is refused. The minion then connects without credentials (the server's
// bootstrap user may only publish minion start events and read the keys bucket), presents its
// key as pending, and keeps trying its own nkey: once an admin has accepted the key and the
// server's config was regenerated and reloaded, that connection succeeds and the minion runs.

import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { seal } from "../../contracts/message.js";
import { decode } from "../../contracts/codec.js";
import { minionKeyRecord, registryKeys } from "../../contracts/registry.js";
import type { Subjects } from "../../contracts/subjects.js";
import { inboxPrefix } from "../../contracts/permissions.js";
import { connectBus, publishDurable, sleep, UnreachableError, type NatsAuth } from "../common/bus.js";
import type { ServiceKeys } from "../common/keys.js";
import type { Logger } from "../common/log.js";
import { startEvent } from "./minion.js";

export function isAuthRefused(err: unknown): boolean {
  const cause = err instanceof UnreachableError ? err.cause : err;
  return (cause as Error | undefined)?.name === "AuthorizationError" || /authorization violation/i.test(String((cause as Error)?.message));
}

export interface BootstrapOptions {
  url: string;
  name: string;
  s: Subjects;
  id: string;
  keys: ServiceKeys;
  auth: NatsAuth;
  log: Logger;
  signal: AbortSignal;
  /** How often to try the minion's own nkey while its key is accepted but the server does not know it yet. */
  retryMs?: number;
  /** How often while the key is not accepted. */
  idleRetryMs?: number;
}

/**
 * Present the key through the bootstrap user and wait until the minion's own nkey is let in.
 * Resolves with that connection, or undefined when `signal` aborts first.
 */
export async function connectThroughBootstrap(o: BootstrapOptions): Promise<NatsConnection | undefined> {
  const retryMs = o.retryMs ?? 2000;
  const idleRetryMs = o.idleRetryMs ?? 30_000;
  o.log.warn(
    "the NATS server does not know this minion's nkey yet: presenting the key through the bootstrap user. Accept it (natrium keys accept ID), regenerate the server config (natrium nats-config) and reload nats-server",
    { id: o.id },
  );
  let anon: NatsConnection | undefined;
  let kv: KV | undefined;
  let presented = false;
  let lastState = "";
  let lastTry = 0;
  try {
    while (!o.signal.aborted) {
      try {
        if (!anon) {
          anon = await connectBus({ url: o.url, name: `${o.name}-bootstrap`, log: o.log, auth: { inboxPrefix: inboxPrefix(o.s, { role: "bootstrap" }) } });
        }
        if (!presented) {
          await publishDurable(jetstream(anon), seal(o.s.minionStart(o.id), startEvent(o.id, o.keys), o.keys.sign), { signal: o.signal, log: o.log, timeoutMs: 5000 });
          presented = true;
        }
        kv ??= await new Kvm(anon).open(o.s.keysBucket);
        const e = await kv.get(registryKeys.minionKey(o.id));
        const rec = e && e.operation === "PUT" ? minionKeyRecord.parse(decode(e.value)) : undefined;
        const state = !rec ? "unknown" : rec.pub !== o.keys.sign.pub ? "held by another key" : rec.state;
        if (state !== lastState) {
          o.log.info("key state seen through bootstrap", { id: o.id, key_state: state });
          lastState = state;
          if (state === "unknown" || state === "deleted") presented = false;
        }
      } catch (err) {
        if (o.signal.aborted) break;
        if (isAuthRefused(err)) {
          o.log.error("the NATS server refuses connections without credentials (no bootstrap user): add this minion's key to the server config by hand, or regenerate it without --no-bootstrap", { id: o.id });
        } else {
          o.log.warn("bootstrap connection failed; retrying", { error: String((err as Error).message) });
        }
        await anon?.close().catch(() => {});
        anon = undefined;
        kv = undefined;
      }
      const wait = lastState === "accepted" ? retryMs : idleRetryMs;
      if (Date.now() - lastTry >= wait) {
        lastTry = Date.now();
        try {
          const nc = await connectBus({ url: o.url, name: o.name, log: o.log, auth: o.auth });
          o.log.info("the NATS server now knows this minion's nkey", { id: o.id });
          return nc;
        } catch (err) {
          if (!isAuthRefused(err)) o.log.warn("cannot reach NATS; retrying", { error: String((err as Error).message) });
        }
      }
      await sleep(Math.min(retryMs, wait), o.signal).catch(() => {});
    }
    return undefined;
  } finally {
    await anon?.close().catch(() => {});
  }
}
