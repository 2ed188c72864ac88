// The CLI's connection to a stack: fail fast with a message that says where the settings came
// from, and verify what it shows (returns are checked against the minions' accepted keys).

import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm, type KV } from "@nats-io/kv";
import { connectBus, signedRequest, UnreachableError } from "../../services/common/bus.js";
import { subjects, type ApiVerb, type Subjects } from "../../contracts/subjects.js";
import { ADMIN_USER, type Identity } from "../../contracts/request.js";
import type { NatsParty } from "../../contracts/permissions.js";
import { natsAuth } from "../../services/common/natsauth.js";
import { resolveIdentity } from "./identity.js";
import { decode } from "../../contracts/codec.js";
import { minionKeyRecord, registryKeys } from "../../contracts/registry.js";
import { verifyAs, type Opened } from "../../contracts/message.js";
import { NatriumError } from "../../contracts/errors.js";
import { resolveStack } from "./stack.js";

export class StackUnreachableError extends NatriumError {
  constructor(url: string, from: string, cause: unknown) {
    super("unreachable", `cannot reach NATS at ${url} (from ${from}): ${(cause as Error)?.message ?? cause}. Is the stack up? Start it with \`natrium up\`, or pass --url / set NATS_URL.`);
  }
}

export interface Client {
  nc: NatsConnection;
  s: Subjects;
  /** Who requests to the master are signed as (resolved on first use). */
  identity(): Identity;
  /** A signed request to the master on `{ns}.api.{verb}`. */
  api<T>(verb: ApiVerb, body: unknown, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

export interface ClientFlags {
  url?: string;
  ns?: string;
  /** Key file to sign requests with. */
  key?: string;
  /** User name to sign requests as. */
  as?: string;
}

export async function openClient(flags: ClientFlags): Promise<Client> {
  const r = resolveStack(flags);
  const s = subjects(r.ns);
  // The signing key is also the NATS identity on a locked-down server. A command that signs
  // nothing can still run without one (on an open server), so a missing key fails only on use.
  let who: Identity | undefined;
  let noKey: unknown;
  try {
    who = resolveIdentity(flags, r.adminKey);
  } catch (err) {
    noKey = err;
  }
  const identity = (): Identity => {
    if (!who) throw noKey;
    return who;
  };
  const party: NatsParty | undefined = who && (who.user === ADMIN_USER ? { role: "admin" } : { role: "user", name: who.user });
  let nc: NatsConnection;
  try {
    nc = await connectBus({ url: r.url, name: "natrium-cli", auth: who && party ? natsAuth(s, party, { ownSeed: who.key.seed }) : undefined });
  } catch (err) {
    throw new StackUnreachableError(r.url, r.from, err instanceof UnreachableError ? err.cause : err);
  }
  return {
    nc,
    s,
    identity,
    api: <T>(verb: ApiVerb, body: unknown, timeoutMs = 10_000) => signedRequest<T>(nc, s.api(verb), body, identity(), timeoutMs),
    close: () => nc.close(),
  };
}

/** Looks up and caches minions' accepted keys to verify what the CLI displays. */
export class KeyVerifier {
  private kv?: Promise<KV>;
  private cache = new Map<string, Promise<string | undefined>>();

  constructor(private readonly nc: NatsConnection, private readonly s: Subjects) {}

  private pubOf(id: string): Promise<string | undefined> {
    let p = this.cache.get(id);
    if (!p) {
      this.kv ??= new Kvm(this.nc).open(this.s.keysBucket);
      p = this.kv.then(async (kv) => {
        const e = await kv.get(registryKeys.minionKey(id));
        if (!e || e.operation !== "PUT") return undefined;
        const rec = minionKeyRecord.parse(decode(e.value));
        return rec.state === "accepted" ? rec.pub : undefined;
      });
      this.cache.set(id, p);
    }
    return p;
  }

  /** Start the key lookups of the minions a job expects, all at once, before their returns arrive. */
  prefetch(ids: string[]): void {
    for (const id of ids) this.pubOf(id).catch(() => {});
  }

  /** Throws SignatureError (or NatriumError for an unknown minion) unless `o` is from `id`. */
  async verifyMinion(o: Opened, id: string): Promise<void> {
    const pub = await this.pubOf(id);
    if (!pub) throw new NatriumError("unknown_signer", `minion "${id}" has no accepted key`);
    verifyAs(o, pub, `minion ${id}`);
  }
}
