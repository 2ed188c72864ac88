// Local users and groups as /etc/passwd and /etc/group have them (no NSS lookups: the files
// are the truth on a host): for running a command as another user (cmd.* runas) and for file
// ownership (file.stats, chown, mkdir).

import { readFileSync } from "node:fs";

export interface LocalUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/** The colon-separated records of an account file whose third field is a numeric id. */
function records(file: string): string[][] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    return []; // no such file: numeric ids still work
  }
  return text.split("\n").map((l) => l.split(":")).filter((f) => f.length > 2 && /^\d+$/.test(f[2]));
}

/** name -> id of every user (/etc/passwd) or group (/etc/group). */
export function idsByName(file: "/etc/passwd" | "/etc/group"): Map<string, number> {
  return new Map(records(file).map((f) => [f[0], Number(f[2])]));
}

/** The user named `who` (or with that numeric uid), or undefined. */
export function lookupUser(who: string, passwd = "/etc/passwd"): LocalUser | undefined {
  const f = records(passwd).find((r) => r.length >= 7 && /^\d+$/.test(r[3]) && (r[0] === who || (/^\d+$/.test(who) && r[2] === who)));
  return f && { name: f[0], uid: Number(f[2]), gid: Number(f[3]), home: f[5], shell: f[6] };
}
