// `{ns}.api.match`: which minions a target selects, resolved exactly as a publish would
// (nodegroups expanded, the target checked, the minion data cache consulted), with nothing run.

import { matchRequest, type MatchReply } from "../../contracts/api.js";
import { checkTarget, expandTarget, type Nodegroups } from "../common/target.js";
import type { MinionRegistry } from "./registry.js";

export function handleMatch(raw: unknown, registry: MinionRegistry, nodegroups: Nodegroups): MatchReply {
  const req = matchRequest.parse(raw);
  const { tgt, tgt_type } = expandTarget(req.tgt, req.tgt_type, nodegroups);
  checkTarget(tgt, tgt_type);
  return { minions: registry.resolve(tgt, tgt_type), tgt, tgt_type };
}
