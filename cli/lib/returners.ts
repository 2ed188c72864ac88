// What the returner commands share: `--config k=v` parsing, and the stream manager and
// returners bucket they read and change.

import { jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { NatriumError } from "../../contracts/errors.js";
import { checkReturnerName } from "../../contracts/subjects.js";
import type { Client } from "./client.js";
import { bucketExists } from "../../services/returners/registry.js";

/** `["path=/tmp/x", "max_bytes=10"]` → `{path: "/tmp/x", max_bytes: "10"}`; the module parses its values. */
export function parseKeyValues(items: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const it of items) {
    const i = it.indexOf("=");
    if (i <= 0) {
      throw new NatriumError("usage", `--config takes KEY=VALUE for the returner module (got "${it}"); the host's YAML file is --config-file/-c`);
    }
    out[it.slice(0, i)] = it.slice(i + 1);
  }
  return out;
}

export interface ReturnerAdmin {
  jsm: JetStreamManager;
  /** The returners bucket, or undefined when no returner was ever set up. */
  kv?: KV;
}

export async function returnerAdmin(c: Client): Promise<ReturnerAdmin> {
  const jsm = await jetstreamManager(c.nc, { checkAPI: false });
  const kv = (await bucketExists(jsm, c.s)) ? await new Kvm(c.nc).open(c.s.returnersBucket) : undefined;
  return { jsm, kv };
}

/** `--return a,b` → ["a", "b"]: returner names, checked, without repeats. */
export function parseReturners(list: string): string[] {
  const names = [...new Set(list.split(",").map((x) => x.trim()).filter(Boolean))];
  if (!names.length) throw new NatriumError("usage", "--return needs returner names, comma-separated (e.g. --return audit-sink,slack)");
  for (const n of names) checkReturnerName(n);
  if (names.length > 100) throw new NatriumError("usage", "--return names at most 100 returners");
  return names;
}
