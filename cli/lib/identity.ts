// Who the CLI signs requests as. In order: --key FILE (or NATRIUM_KEY), the admin key of the
// stack `natrium up` started (on the machine that runs it, as salt's root user on the master),
// then ~/.natrium/keys/<user>.sign, made by `natrium user keygen`. The user name is --as (or
// NATRIUM_USER), else the key file's name, else the login name.

import { existsSync } from "node:fs";
import { homedir, userInfo } from "node:os";
import { basename, join } from "node:path";
import { NatriumError } from "../../contracts/errors.js";
import { ADMIN_USER, type Identity } from "../../contracts/request.js";
import { readSigningKey } from "../../services/common/keys.js";

export class NoIdentityError extends NatriumError {
  constructor(user: string, looked: string) {
    super(
      "no_identity",
      `no key to sign requests as "${user}" (looked in ${looked}). Make one with \`natrium user keygen ${user}\` and add it to the master's users, or pass --key FILE`,
    );
  }
}

export function userKeysDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.NATRIUM_HOME || join(homedir(), ".natrium"), "keys");
}

export function userKeyPath(user: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(userKeysDir(env), `${user}.sign`);
}

/** `stackAdmin`: the admin key named by the stack file the CLI found (resolveStack). */
export function resolveIdentity(flags: { key?: string; as?: string }, stackAdmin: string | undefined, env: NodeJS.ProcessEnv = process.env): Identity {
  const named = flags.as ?? env.NATRIUM_USER;
  const keyFile = flags.key ?? env.NATRIUM_KEY;
  if (keyFile) return { user: named ?? basename(keyFile).replace(/\.sign$/, ""), key: readSigningKey(keyFile) };
  if ((!named || named === ADMIN_USER) && stackAdmin && existsSync(stackAdmin)) {
    return { user: ADMIN_USER, key: readSigningKey(stackAdmin) };
  }
  const user = named ?? userInfo().username;
  const path = userKeyPath(user, env);
  if (existsSync(path)) return { user, key: readSigningKey(path) };
  throw new NoIdentityError(user, [path, stackAdmin ? `the stack's admin key ${stackAdmin}` : undefined].filter(Boolean).join(" and "));
}
