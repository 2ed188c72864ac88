// What the keys commands share: the request to the master, the accept/reject/delete command
// (one shape, three ops) and salt-key's way of printing keys, grouped by state.

import { Flags } from "./oclif.js";
import { NatriumError } from "../../contracts/errors.js";
import { StackCommand } from "./base.js";
import type { KeyInfo, KeyOp, KeysReply, KeysRequest } from "../../contracts/api.js";
import type { Client } from "./client.js";

type ChangeOp = "accept" | "reject" | "delete";

/** What differs between `keys accept`, `keys reject` and `keys delete`; the rest is shared. */
const CHANGES: Record<ChangeOp, { salt: string; char: "A" | "R" | "D"; all: string; done: string; include?: { flag: string; state: "rejected" | "accepted"; description: string } }> = {
  accept: { salt: "-a / -A", char: "A", all: "accept every pending key", done: "accepted", include: { flag: "include-rejected", state: "rejected", description: "also accept keys that were rejected" } },
  reject: { salt: "-r / -R", char: "R", all: "reject every pending key", done: "rejected", include: { flag: "include-accepted", state: "accepted", description: "also reject keys that are accepted" } },
  delete: { salt: "-d / -D", char: "D", all: "delete every key", done: "deleted" },
};

/** The command class of `keys accept|reject|delete`: ids or globs, or --all. */
export function keyChangeCommand(op: ChangeOp, examples: string[]) {
  const c = CHANGES[op];
  return class KeyChange extends StackCommand {
    static summary = `${op[0].toUpperCase()}${op.slice(1)} minion keys by id or glob (salt-key ${c.salt})`;
    static enableJsonFlag = true;
    static strict = false;
    static examples = examples;
    static flags = {
      all: Flags.boolean({ char: c.char, description: c.all }),
      ...(c.include ? { [c.include.flag]: Flags.boolean({ description: c.include.description }) } : {}),
    };

    async run(): Promise<KeysReply> {
      const { flags, argv } = await this.parse(KeyChange);
      const match = argv as string[];
      if (!match.length && !flags.all) throw new NatriumError("usage", `name the minion ids or globs to ${op}, or pass --all`);
      if (match.length && flags.all) throw new NatriumError("usage", "give minion ids or --all, not both");
      const include = c.include && (flags as Record<string, unknown>)[c.include.flag] ? [c.include.state] : undefined;
      const cl = await this.connect(flags);
      const r = await keysRequest(cl, op, match, include);
      if (!this.jsonEnabled()) {
        if (!r.keys.length) this.log("No keys changed.");
        for (const k of r.keys) this.log(`Key for minion ${k.id} ${c.done}.`);
      }
      return r;
    }
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
