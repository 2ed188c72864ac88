// Schema migrations, applied at start-up. drizzle's migrate() has no lock of its own
// (drizzle-orm issue #874): two job caches starting together against a fresh database would
// both try CREATE SCHEMA / CREATE TABLE and one would fail. So the migrator runs while holding
// a session-level advisory lock, on a connection that is used for nothing else; the second
// process waits, then finds every migration applied and does nothing.

import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { sql } from "drizzle-orm";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import type { Logger } from "../common/log.js";

/** Advisory lock key: "Natrium jobcache migrate", any fixed 64-bit number works. */
export const MIGRATION_LOCK_KEY = "7306245178214617409";

/**
 * migrations/sql at the repository root, found from this file whether it runs compiled
 * (dist/services/jobcache) or from source (services/jobcache). NATRIUM_MIGRATIONS overrides.
 */
export function migrationsFolder(): string {
  const candidates = [
    process.env.NATRIUM_MIGRATIONS,
    fileURLToPath(new URL("../../../migrations/sql", import.meta.url)),
    fileURLToPath(new URL("../../migrations/sql", import.meta.url)),
  ].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(`${p}/meta/_journal.json`));
  if (!found) throw new Error(`job cache migrations not found; looked in ${candidates.join(", ")}`);
  return found;
}

/**
 * Run `apply` (drizzle's migrate for the driver in use) under the migration lock. `db` must sit
 * on a single connection: an advisory lock belongs to the session that took it.
 */
export async function withMigrationLock(
  db: PgDatabase<PgQueryResultHKT, Record<string, unknown>>,
  apply: () => Promise<void>,
  log?: Logger,
): Promise<void> {
  await db.execute(sql.raw(`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`));
  try {
    log?.debug("migration lock held; applying migrations");
    await apply();
  } finally {
    await db.execute(sql.raw(`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`));
  }
}
