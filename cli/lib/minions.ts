// What `natrium minions list` prints: one line per minion, Salt's manage.status answer widened
// with when each was last seen, its key's state and a few grains. Pure, so it is tested without
// a stack (test/unit/minions-cli.test.ts).

import type { GrainsSummary, MinionStatus, MinionsReply } from "../../contracts/api.js";
import { table } from "./output.js";

/** "just now", "42s ago", "5m ago", "3h ago", "2d ago"; "never" for null. */
export function ago(then: number | null, now: number): string {
  if (then === null) return "never";
  const s = Math.max(0, Math.round((now - then) / 1000));
  if (s < 1) return "just now";
  if (s < 120) return `${s}s ago`;
  const m = Math.round(s / 60);
  if (m < 120) return `${m}m ago`;
  const h = Math.round(m / 60);
  if (h < 48) return `${h}h ago`;
  return `${Math.round(h / 24)}d ago`;
}

/** "Debian 12", "Debian", "" */
function os(g: GrainsSummary): string {
  return [g.os, g.osrelease].filter((x) => x !== undefined && x !== "").join(" ");
}

const PRESENCE: Record<MinionStatus["presence"], string> = { up: "up", down: "down", unknown: "-" };

export function minionsTable(r: MinionsReply): string {
  const rows = r.minions.map((m) => [
    m.id,
    PRESENCE[m.presence],
    m.key === "accepted" ? ago(m.last_seen, r.now) : "-",
    m.key,
    os(m.grains),
    m.grains.ipv4 ?? "",
    m.grains.num_cpus !== undefined ? String(m.grains.num_cpus) : "",
  ]);
  return table(["ID", "STATE", "LAST SEEN", "KEY", "OS", "IPV4", "CPUS"], rows);
}

/** What to say under the table, if anything. */
export function minionsNote(r: MinionsReply): string | undefined {
  if (r.grace) {
    return `The master started less than presence_timeout (${r.presence_timeout} s) ago: minions it has not heard from yet are not counted down until then.`;
  }
  return undefined;
}
