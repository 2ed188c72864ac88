// Users and what they may do, in Salt's publisher_acl shape. A user's `acl` is a list whose
// items are either a function pattern (any minion) or a mapping of minion-id glob to function
// patterns:
//
//   acl:
//     - test.ping                  # test.ping on any minion
//     - 'web*': ['test.*', cmd.run] # on minions whose id matches web*
//
// The check is against the minions a target *resolves to*, not the target's text: a user
// allowed `web*` cannot reach db1 through a list, grain, regex, ipcidr, compound or nodegroup
// target (nodegroups are expanded before resolution). Patterns are globs
// (`*`, `?`, `[...]`), as Salt's are by default.

import { NatriumError } from "../../contracts/errors.js";
import { globToRegExp, type Pattern } from "../common/target.js";

export type AclItem = string | Record<string, string[]>;

/** One compiled ACL rule: on minions matching `minions`, functions matching any of `funs`. */
export interface AclRule {
  minions: Pattern;
  minionText: string;
  funs: { re: Pattern; text: string }[];
}

export interface Principal {
  user: string;
  /** May do everything. */
  admin: boolean;
  /** May list, accept, reject and delete minion keys. */
  keys: boolean;
  /** May see every job in the history, not only the ones the user ran (Salt's @jobs). */
  jobs: boolean;
  /** May put files into and remove files from the master's file store. */
  files: boolean;
  /** May list minions with their presence and grains (`natrium minions list`, Salt's manage.status); `keys` implies it. */
  minions?: boolean;
  rules: AclRule[];
}

/** A request the user's permissions do not cover; the message names the rule that failed. */
export class DeniedError extends NatriumError {
  constructor(message: string) {
    super("denied", message);
  }
}

/** Compile a user's ACL once, at start: a pattern that is not a valid glob stops the master. */
export function compileAcl(user: string, acl: AclItem[]): AclRule[] {
  const glob = (pattern: string) => {
    try {
      return globToRegExp(pattern);
    } catch (err) {
      throw new NatriumError("bad_config", `users.${user}.acl: ${(err as Error).message}`);
    }
  };
  return acl.flatMap((item) =>
    typeof item === "string"
      ? [{ minions: /^/, minionText: "*", funs: [{ re: glob(item), text: item }] }]
      : Object.entries(item).map(([tgt, funs]) => ({ minions: glob(tgt), minionText: tgt, funs: funs.map((f) => ({ re: glob(f), text: f })) })),
  );
}

/** Throws DeniedError unless `who` may run `fun` on every one of `minions`. */
export function checkPublish(who: Principal, fun: string, minions: readonly string[], target: string): void {
  if (who.admin) return;
  const rs = who.rules;
  if (!rs.length) throw new DeniedError(`user "${who.user}" may not run jobs (no acl in the master's users config)`);
  const mayRun = rs.filter((r) => r.funs.some((f) => f.re.test(fun)));
  if (!mayRun.length) {
    throw new DeniedError(`user "${who.user}" may not run ${fun}: no acl rule allows it (allowed: ${describe(rs)})`);
  }
  const outside = minions.filter((m) => !mayRun.some((r) => r.minions.test(m)));
  if (outside.length) {
    const shown = outside.slice(0, 5).join(", ") + (outside.length > 5 ? ` (+${outside.length - 5} more)` : "");
    throw new DeniedError(
      `user "${who.user}" may not run ${fun} on ${shown}: target "${target}" selects minions outside the acl (${fun} is allowed on ${mayRun.map((r) => r.minionText).join(", ")})`,
    );
  }
}

export function checkKeys(who: Principal): void {
  if (who.admin || who.keys) return;
  throw new DeniedError(`user "${who.user}" may not manage minion keys (set keys: true for the user in the master's users config)`);
}

/** `natrium minions list`: the admin, key managers (they see every key anyway) and users with `minions: true`. */
export function checkMinions(who: Principal): void {
  if (who.admin || who.keys || who.minions) return;
  throw new DeniedError(`user "${who.user}" may not list minions (set minions: true, or keys: true, for the user in the master's users config)`);
}

/** Whose jobs `who` may see: undefined for everyone's, else the user's own. */
export function historyScope(who: Principal): string | undefined {
  return who.admin || who.jobs ? undefined : who.user;
}

export function checkJobVisible(who: Principal, jid: string, ranBy: string): void {
  const only = historyScope(who);
  if (only !== undefined && only !== ranBy) {
    throw new DeniedError(`user "${who.user}" may see only the jobs they ran; job ${jid} was run by "${ranBy}" (set jobs: true for the user in the master's users config to see every job)`);
  }
}

function describe(rs: AclRule[]): string {
  return rs.map((r) => `${r.minionText}: ${r.funs.map((f) => f.text).join(" ")}`).join("; ");
}
