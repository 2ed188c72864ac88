// Render a locked-down nats-server config: one nkey user per party, each allowed only the
// subjects contracts/permissions.ts grants its role. `natrium nats-config` gathers the parties
// (from the master config, its pki dir and the accepted minion keys); this file only writes.

import { randomBytes } from "node:crypto";
import { defaultDurables, natsPermissions, returnerDurable, type NatsParty } from "../../contracts/permissions.js";
import type { Subjects } from "../../contracts/subjects.js";

export interface NatsConfParty {
  party: NatsParty;
  /** Public nkey ("U..."). */
  nkey: string;
}

export interface NatsConfInput {
  s: Subjects;
  parties: NatsConfParty[];
  /** host:port the server listens on. */
  listen: string;
  /** JetStream store directory; omitted leaves the server's default. */
  storeDir?: string;
  /** Let a connection without credentials act as a minion presenting its key (pending). */
  bootstrap: boolean;
  /** Largest message the server accepts, bytes. */
  maxPayload: number;
  /** Shown in the header: what the file was made from. */
  source: string;
}

/** nats-server config syntax: a double-quoted string, so `$`, `>` and `*` are taken literally. */
function q(v: string): string {
  return JSON.stringify(v);
}

function list(items: string[], indent: string): string {
  return `[\n${items.map((i) => `${indent}  ${q(i)}`).join(",\n")}\n${indent}]`;
}

function describeParty(p: NatsParty): string {
  switch (p.role) {
    case "returner":
    case "user":
      return `${p.role} ${p.name}`;
    case "minion":
      return `minion ${p.id}`;
    default:
      return p.role;
  }
}

export function renderNatsConfig(i: NatsConfInput): string {
  const durables = [...defaultDurables(i.s), ...i.parties.flatMap(({ party }) => (party.role === "returner" ? [returnerDurable(party.name)] : []))];
  const users: string[] = [];
  const seen = new Set<string>();
  for (const { party, nkey } of i.parties) {
    // nats-server refuses a config naming one nkey twice; one key serving two parties would
    // also merge their rights, so it is an error for the caller to resolve, not to paper over.
    if (seen.has(nkey)) throw new Error(`nkey ${nkey} is given to two parties (the second is ${describeParty(party)}); every party needs its own key`);
    seen.add(nkey);
    users.push(userBlock(i.s, party, nkey, durables, "    "));
  }
  if (i.bootstrap) {
    // A user with a password nobody knows: only connections without credentials become it.
    users.push(userBlock(i.s, { role: "bootstrap" }, undefined, durables, "    "));
  }
  const lines = [
    `# nats-server config for natrium namespace "${i.s.ns}", written by \`natrium nats-config\`.`,
    `# Made from ${i.source}.`,
    "# Regenerate after accepting or deleting minion keys and after changing users, then reload",
    "# the server (nats-server --signal reload, or systemctl reload). docs/security.md explains it.",
    `listen: ${q(i.listen)}`,
    `max_payload: ${i.maxPayload}`,
    "jetstream {",
    ...(i.storeDir ? [`  store_dir: ${q(i.storeDir)}`] : []),
    "}",
    "authorization {",
    "  users = [",
    users.join(",\n"),
    "  ]",
    "}",
  ];
  if (i.bootstrap) lines.push(`no_auth_user: ${q(BOOTSTRAP_USER)}`);
  return lines.join("\n") + "\n";
}

export const BOOTSTRAP_USER = "natrium-bootstrap";

function userBlock(s: Subjects, party: NatsParty, nkey: string | undefined, durables: string[], ind: string): string {
  const p = natsPermissions(s, party, durables);
  const who = nkey ? `nkey: ${q(nkey)}` : `user: ${q(BOOTSTRAP_USER)}, password: ${q(randomBytes(24).toString("base64url"))}`;
  return [
    `${ind}# ${describeParty(party)}`,
    `${ind}{`,
    `${ind}  ${who}`,
    `${ind}  permissions: {`,
    `${ind}    publish: { allow: ${list(p.publish, ind + "    ")}${p.publishDeny.length ? `, deny: ${list(p.publishDeny, ind + "    ")}` : ""} }`,
    `${ind}    subscribe: { allow: ${list(p.subscribe, ind + "    ")} }`,
    ...(p.allowResponses ? [`${ind}    allow_responses: true`] : []),
    `${ind}  }`,
    `${ind}}`,
  ].join("\n");
}
