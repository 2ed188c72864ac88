// `{ns}.api.minions`: Salt's manage.status / up / down / present in one answer. Every minion the
// master knows a key for (accepted, pending, rejected), with its presence as the presence keeper
// sees it, when it was last seen, and a few grains that say what it is.

import { minionsRequest, type GrainsSummary, type MinionStatus, type MinionsReply } from "../../contracts/api.js";
import { globMatch } from "../common/target.js";
import type { MinionRegistry } from "./registry.js";
import type { PresenceEntry } from "./presence.js";

/** What the handler needs of the presence keeper. */
export interface PresenceView {
  entry(id: string): Readonly<PresenceEntry> | undefined;
  inGrace(): boolean;
}

export function handleMinions(
  raw: unknown,
  registry: MinionRegistry,
  presence: PresenceView,
  o: { masterId: string; timeoutSec: number; now?: number },
): MinionsReply {
  const req = minionsRequest.parse(raw);
  const now = o.now ?? Date.now();
  const out: MinionStatus[] = [];
  for (const k of registry.keys.values()) {
    if (k.state === "deleted") continue;
    if (req.match && !req.match.some((m) => m === k.id || globMatch(m, k.id))) continue;
    const e = presence.entry(k.id);
    // Only an accepted key's messages are trusted, so only accepted minions have a presence.
    const state = k.state !== "accepted" || !e ? "unknown" : e.state;
    if (req.presence && state !== req.presence) continue;
    out.push({
      id: k.id,
      key: k.state,
      presence: state,
      last_seen: k.state === "accepted" ? (e?.lastSeen ?? null) : null,
      since: k.state === "accepted" ? (e?.since ?? null) : null,
      grains: grainsSummary(registry.grains.get(k.id)),
    });
  }
  out.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return { minions: out, now, presence_timeout: o.timeoutSec, grace: presence.inGrace(), master: o.masterId };
}

/** os, osrelease, the first IPv4 address that is not loopback, num_cpus and mem_total, where the grains have them. */
export function grainsSummary(g: Record<string, unknown> | undefined): GrainsSummary {
  if (!g) return {};
  const str = (v: unknown) => (typeof v === "string" && v ? v : typeof v === "number" ? String(v) : undefined);
  const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);
  const ips = Array.isArray(g.ipv4) ? g.ipv4.filter((x): x is string => typeof x === "string") : typeof g.ipv4 === "string" ? [g.ipv4] : [];
  const ipv4 = ips.find((ip) => !ip.startsWith("127.")) ?? ips[0];
  const out: GrainsSummary = {};
  const os = str(g.os);
  const osrelease = str(g.osrelease);
  const cpus = num(g.num_cpus);
  const mem = num(g.mem_total);
  if (os !== undefined) out.os = os;
  if (osrelease !== undefined) out.osrelease = osrelease;
  if (ipv4 !== undefined) out.ipv4 = ipv4;
  if (cpus !== undefined) out.num_cpus = cpus;
  if (mem !== undefined) out.mem_total = mem;
  return out;
}
