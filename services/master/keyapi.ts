// `{ns}.api.keys`: what salt-key does. list, accept, reject and delete take minion ids or globs;
// each op changes only keys in the states it applies to (accept: pending; reject: pending;
// delete: any), widened by `include` (salt-key --include-rejected / --include-accepted).
// Every change is a key event in the stream, naming the user who made it.

import { keysRequest, type KeyInfo, type KeysReply } from "../../contracts/api.js";
import type { KeyState } from "../../contracts/subjects.js";
import type { MinionKeyRecord } from "../../contracts/registry.js";
import { NatriumError } from "../../contracts/errors.js";
import { globMatch } from "../common/target.js";
import type { KeyKeeper } from "./keykeeper.js";
import type { MinionRegistry } from "./registry.js";
import type { Principal } from "./acl.js";

const APPLIES_TO: Record<"accept" | "reject" | "delete", KeyState[]> = {
  accept: ["pending"],
  reject: ["pending"],
  delete: ["pending", "accepted", "rejected"],
};

export class NoSuchKeyError extends NatriumError {
  constructor(match: string[], op: string, states: KeyState[]) {
    super("not_found", `no ${states.join(" or ")} key matches ${match.map((m) => `"${m}"`).join(", ")} (nothing to ${op}; see natrium keys list)`);
  }
}

export async function handleKeys(
  raw: unknown,
  who: Principal,
  registry: MinionRegistry,
  keeper: KeyKeeper,
  master: KeysReply["master"],
): Promise<KeysReply> {
  const req = keysRequest.parse(raw);
  const matches = (r: MinionKeyRecord) => !req.match || req.match.some((m) => m === r.id || globMatch(m, r.id));
  const all = [...registry.keys.values()].filter((r) => r.state !== "deleted").sort((a, b) => a.id.localeCompare(b.id));
  if (req.op === "list") {
    return { keys: all.filter((r) => matches(r) && (!req.include || req.include.includes(r.state as never))).map(info), master };
  }
  const states = [...new Set([...APPLIES_TO[req.op], ...(req.include ?? [])])];
  const picked = all.filter((r) => matches(r) && states.includes(r.state));
  if (!picked.length && req.match) throw new NoSuchKeyError(req.match, req.op, states);
  const by = `user ${who.user}`;
  const changed: KeyInfo[] = [];
  for (const r of picked) {
    if (req.op === "delete") {
      await keeper.deleteKey(r, by);
      changed.push(info(r));
    } else {
      const to: KeyState = req.op === "accept" ? "accepted" : "rejected";
      if (r.state === to) continue;
      await keeper.setKey(r.id, to, r.pub, r.box_pub, by);
      changed.push(info(registry.keys.get(r.id)!));
    }
  }
  return { keys: changed, master };
}

function info(r: MinionKeyRecord): KeyInfo {
  return { id: r.id, state: r.state as KeyInfo["state"], finger: r.finger, pub: r.pub, box_pub: r.box_pub, ts: r.ts };
}
