// Who a locked-down nats-server must know, gathered from where the master keeps it: its own key
// and the admin key (pki dir), the users of its config, the accepted minion keys (keys bucket),
// and nkey seeds for the parties that have no Ed25519 key of their own (job cache, returners).

import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { decode } from "../../contracts/codec.js";
import { nkeyOfPub } from "../../contracts/nkey.js";
import { minionKeyRecord } from "../../contracts/registry.js";
import { ADMIN_USER } from "../../contracts/request.js";
import { encodeToken, type Subjects } from "../../contracts/subjects.js";
import type { NatsConfParty } from "../common/natsconf.js";
import { loadOrCreateNkeySeed } from "../common/natsauth.js";
import { loadOrCreateSigningKey } from "../common/keys.js";
import { NatriumError } from "../../contracts/errors.js";

export interface MasterParties {
  pkiDir: string;
  users: Record<string, { pub: string; admin?: boolean }>;
  /** Where the job cache's and returners' seeds are kept (made when missing). */
  seedsDir: string;
  returners: string[];
  /** Accepted minions: id and base64 public key. */
  minions: { id: string; pub: string }[];
}

export interface GatheredParties {
  parties: NatsConfParty[];
  /** Seed files the job cache and returners connect with (`nats_seed`), and whether each was just made. */
  seeds: { party: string; file: string; created: boolean }[];
}

export function gatherParties(o: MasterParties): GatheredParties {
  const parties: NatsConfParty[] = [];
  // Made on the master's first start; made here too so the config can be written before it.
  const master = loadOrCreateSigningKey(o.pkiDir, "master").key;
  const admin = loadOrCreateSigningKey(o.pkiDir, "admin").key;
  parties.push({ party: { role: "master" }, nkey: nkeyOfPub(master.pub) });
  parties.push({ party: { role: "admin" }, nkey: nkeyOfPub(admin.pub) });
  for (const [name, u] of Object.entries(o.users)) {
    if (name === ADMIN_USER) throw new NatriumError("bad_config", `user "${ADMIN_USER}" is reserved for the admin key (<pki_dir>/admin.sign); give this user another name`);
    parties.push({ party: { role: "user", name, admin: u.admin }, nkey: nkeyOfPub(u.pub) });
  }
  const seeds: GatheredParties["seeds"] = [];
  const seeded = (name: string, file: string, party: NatsConfParty["party"]) => {
    const s = loadOrCreateNkeySeed(join(o.seedsDir, file));
    seeds.push({ party: name, file: join(o.seedsDir, file), created: s.created });
    parties.push({ party, nkey: s.nkey });
  };
  seeded("jobcache", "jobcache.nk", { role: "jobcache" });
  for (const r of o.returners) seeded(`returner ${r}`, `returner-${encodeToken(r)}.nk`, { role: "returner", name: r });
  for (const m of o.minions) parties.push({ party: { role: "minion", id: m.id }, nkey: nkeyOfPub(m.pub) });
  return { parties, seeds };
}

/** The accepted minion keys in the keys bucket (none when the bucket does not exist yet). */
export async function acceptedMinions(nc: NatsConnection, s: Subjects): Promise<{ id: string; pub: string }[]> {
  let kv;
  try {
    kv = await new Kvm(nc).open(s.keysBucket);
  } catch (err) {
    if (/not found/i.test(String((err as Error).message))) return [];
    throw err;
  }
  const out: { id: string; pub: string }[] = [];
  const names: string[] = [];
  for await (const k of await kv.keys("minion.*")) names.push(k);
  for (const k of names.sort()) {
    const e = await kv.get(k);
    if (!e || e.operation !== "PUT") continue;
    const rec = minionKeyRecord.parse(decode(e.value));
    if (rec.state === "accepted") out.push({ id: rec.id, pub: rec.pub });
  }
  return out;
}
