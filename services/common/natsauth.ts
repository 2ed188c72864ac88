// Which NATS credentials a party connects with. On a server without authorization they are
// ignored, so every party always presents them: the same config works before and after the
// server is locked down (deploy/nats/, `natrium nats-config`).

import { existsSync, readFileSync, statSync, mkdirSync } from "node:fs";
import { writeFileAtomic } from "./atomic.js";
import { dirname } from "node:path";
import { createUser } from "@nats-io/nkeys";
import { nkeyOfSeed, nkeySeedOf } from "../../contracts/nkey.js";
import { inboxPrefix, type NatsParty } from "../../contracts/permissions.js";
import type { Subjects } from "../../contracts/subjects.js";
import { KeyFileError } from "./keys.js";
import type { NatsAuth } from "./bus.js";

export interface NatsAuthSource {
  /** An nkey seed file (`nats_seed`); wins over `ownSeed`. */
  seedFile?: string;
  /** The party's own Ed25519 seed (master, minion, CLI user): its nkey is derived from it. */
  ownSeed?: Uint8Array;
}

/** The credentials of `party`, or undefined when it has none (connects anonymously). */
export function natsAuth(s: Subjects, party: NatsParty, src: NatsAuthSource): NatsAuth | undefined {
  const prefix = inboxPrefix(s, party);
  if (src.seedFile) return { seed: new TextEncoder().encode(readNkeySeed(src.seedFile).seed), inboxPrefix: prefix };
  if (src.ownSeed) return { seed: nkeySeedOf(src.ownSeed), inboxPrefix: prefix };
  return undefined;
}

/** Read an nkey seed file ("SU...", 0600 like every key file), checked. */
export function readNkeySeed(path: string): { seed: string; nkey: string } {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    throw new KeyFileError(`cannot read the NATS seed file: ${(err as Error).message}`, path);
  }
  if ((st.mode & 0o077) !== 0) {
    throw new KeyFileError(`permissions are ${(st.mode & 0o777).toString(8)}; a seed file must be 0600 (chmod 600 ${path})`, path);
  }
  const seed = readFileSync(path, "utf8").trim();
  try {
    return { seed, nkey: nkeyOfSeed(seed) };
  } catch (err) {
    throw new KeyFileError((err as Error).message, path);
  }
}

/** The nkey seed in `path`, made (0600) when the file does not exist yet. */
export function loadOrCreateNkeySeed(path: string): { seed: string; nkey: string; created: boolean } {
  if (existsSync(path)) return { ...readNkeySeed(path), created: false };
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const seed = new TextDecoder().decode(createUser().getSeed());
  writeFileAtomic(path, seed + "\n");
  return { ...readNkeySeed(path), created: true };
}
