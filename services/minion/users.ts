// Local users as /etc/passwd has them: for running a command as another user (cmd.* runas).

import { readFileSync } from "node:fs";

export interface LocalUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/** The user named `who` (or with that numeric uid), or undefined. */
export function lookupUser(who: string, passwd = "/etc/passwd"): LocalUser | undefined {
  let text: string;
  try {
    text = readFileSync(passwd, "utf8");
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length < 7 || !/^\d+$/.test(f[2]) || !/^\d+$/.test(f[3])) continue;
    if (f[0] === who || (/^\d+$/.test(who) && f[2] === who)) {
      return { name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5], shell: f[6] };
    }
  }
  return undefined;
}
