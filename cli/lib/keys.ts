// What the keys commands share: the request to the master and salt-key's way of printing keys,
// grouped by state.

import { Args, Flags } from "@oclif/core";
import type { KeyInfo, KeyOp, KeysReply, KeysRequest } from "../../contracts/api.js";
import type { Client } from "./client.js";

export const keyArgs = {
  match: Args.string({ required: false, description: "minion id or glob ('web*'); more may follow" }),
};

export function changeFlags(op: "accept" | "reject" | "delete") {
  return {
    all: Flags.boolean({ char: op === "accept" ? "A" : op === "reject" ? "R" : "D", description: `${op} every ${op === "delete" ? "" : "pending "}key` }),
    ...(op === "accept" ? { "include-rejected": Flags.boolean({ description: "also accept keys that were rejected" }) } : {}),
    ...(op === "reject" ? { "include-accepted": Flags.boolean({ description: "also reject keys that are accepted" }) } : {}),
  };
}

export async function keysRequest(c: Client, op: KeyOp, match: string[], include: KeysRequest["include"]): Promise<KeysReply> {
  const body: KeysRequest = { op, ...(match.length ? { match } : {}), ...(include?.length ? { include } : {}) };
  return c.api<KeysReply>("keys", body);
}

const HEADINGS: Record<KeyInfo["state"], string> = { accepted: "Accepted Keys:", pending: "Unaccepted Keys:", rejected: "Rejected Keys:" };

/** salt-key -L: keys under a heading per state; with fingerprints for `keys finger`. */
export function keyGroups(keys: KeyInfo[], withFinger: boolean): string[] {
  const out: string[] = [];
  for (const state of ["accepted", "pending", "rejected"] as const) {
    out.push(HEADINGS[state]);
    for (const k of keys.filter((x) => x.state === state)) out.push(withFinger ? `${k.id}:  ${k.finger}` : k.id);
  }
  return out;
}
