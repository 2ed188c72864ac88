// The target flags `natrium run` and `natrium minions match` share, as Salt's: one of -L -E -G
// -P -S -C -N chooses how TARGET selects minions; none means a glob on the minion id.

import { Flags } from "./oclif.js";
import type { TargetType } from "../../contracts/events/job.js";

const KINDS = {
  list: { char: "L", type: "list", description: "target is a comma-separated list of minion ids" },
  pcre: { char: "E", type: "pcre", description: "target is a regular expression on the minion id (RE2 syntax)" },
  grain: { char: "G", type: "grain", description: "target is a grain match, key:value (glob in the value, nested keys with ':')" },
  "grain-pcre": { char: "P", type: "grain_pcre", description: "target is a grain regex match, key:regex (nested keys with ':')" },
  ipcidr: { char: "S", type: "ipcidr", description: "target is an IP network or address, e.g. 10.0.0.0/8, matched on the ipv4/ipv6 grains" },
  compound: { char: "C", type: "compound", description: "target is a compound expression, e.g. 'web* and G@os:Debian or not L@db1'" },
  nodegroup: { char: "N", type: "nodegroup", description: "target is a nodegroup name from the master's config" },
} as const;

type Kind = keyof typeof KINDS;
const names = Object.keys(KINDS) as Kind[];

const flag = (n: Kind) => Flags.boolean({ char: KINDS[n].char, description: KINDS[n].description, exclusive: names.filter((o) => o !== n) });

/** -L -E -G -P -S -C -N, mutually exclusive. */
export const targetFlags = {
  list: flag("list"),
  pcre: flag("pcre"),
  grain: flag("grain"),
  "grain-pcre": flag("grain-pcre"),
  ipcidr: flag("ipcidr"),
  compound: flag("compound"),
  nodegroup: flag("nodegroup"),
};

/** The target and its type from the positional TARGET and the flags. */
export function targetOf(text: string, flags: Partial<Record<Kind, boolean>>): { tgt: string | string[]; tgt_type: TargetType } {
  const kind = names.find((n) => flags[n]);
  const tgt_type: TargetType = kind ? KINDS[kind].type : "glob";
  const tgt = tgt_type === "list" ? text.split(",").map((s) => s.trim()).filter(Boolean) : text;
  return { tgt, tgt_type };
}
