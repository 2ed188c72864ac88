// The job cache's database: a PostgreSQL server through postgres.js when database_url is set,
// otherwise embedded PGlite in the data dir. Both are driven through the same drizzle API, so
// everything above this file is the same code for both.

import { mkdirSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { drizzle as drizzlePg } from "drizzle-orm/postgres-js";
import { migrate as migratePg } from "drizzle-orm/postgres-js/migrator";
import { PGlite } from "@electric-sql/pglite";
import { drizzle as drizzleLite } from "drizzle-orm/pglite";
import { migrate as migrateLite } from "drizzle-orm/pglite/migrator";
import type { PgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import { NatriumError } from "../../contracts/errors.js";
import { sleep } from "../common/bus.js";
import type { Logger } from "../common/log.js";
import * as schema from "../../migrations/schema.js";
import { migrationsFolder, withMigrationLock } from "./migrate.js";
import { describe } from "../common/describe.js";

export type Schema = typeof schema;
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
export type StoreKind = "postgres" | "pglite";

export interface Store {
  kind: StoreKind;
  db: Db;
  /** Where it is, with any password masked: for logs and status. */
  where: string;
  close(): Promise<void>;
}

export class StoreError extends NatriumError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("store", message, options);
  }
}

export interface StoreOptions {
  databaseUrl: string;
  dataDir: string;
  poolSize?: number;
  log: Logger;
  /** Give up waiting for an unreachable PostgreSQL when this aborts. */
  signal?: AbortSignal;
}

/** Open the store and bring its schema up to date (safe when several processes start at once). */
export async function openStore(o: StoreOptions): Promise<Store> {
  return o.databaseUrl ? openPostgres(o) : openPglite(o);
}

export function maskUrl(url: string): string {
  return url.replace(/\/\/([^:@/]*):([^@/]*)@/, "//$1:***@");
}

async function openPostgres(o: StoreOptions): Promise<Store> {
  const where = maskUrl(o.databaseUrl);
  const opts = { onnotice: () => {}, connect_timeout: 10 };
  // Migrations get their own one-connection client: the advisory lock must be taken and released
  // on the connection that runs them, and drizzle rewires a client's serializers, so the query
  // client is never shared with anything else either (MEASURED.md).
  for (let attempt = 1; ; attempt++) {
    const mig = postgres(o.databaseUrl, { ...opts, max: 1 });
    try {
      const mdb = drizzlePg(mig);
      await withMigrationLock(mdb as unknown as Db, () => migratePg(mdb, { migrationsFolder: migrationsFolder() }), o.log);
      break;
    } catch (err) {
      if (!isConnectionError(err) || o.signal?.aborted) throw new StoreError(`cannot migrate the job cache database at ${where}: ${describe(err)}`, { cause: err });
      if (attempt === 1 || attempt % 10 === 0) {
        o.log.warn("PostgreSQL is unreachable; retrying", { database: where, attempt, error: describe(err) });
      }
      await sleep(Math.min(250 * attempt, 2000), o.signal);
    } finally {
      await mig.end({ timeout: 5 });
    }
  }
  // synchronous_commit off: a commit returns before its WAL reaches the disk. A server crash can
  // then lose the last moments of commits, but each batch commits its rows together with the
  // cursor, so what is lost is lost whole and the projector replays it from the stream at its
  // next start (consumer.ts): the stream, not this database, is the record.
  const client = postgres(o.databaseUrl, { ...opts, max: o.poolSize ?? 4, connection: { synchronous_commit: "off" } });
  const db = drizzlePg(client, { schema }) as unknown as Db;
  return { kind: "postgres", db, where, close: () => client.end({ timeout: 5 }) };
}

async function openPglite(o: StoreOptions): Promise<Store> {
  const dir = join(o.dataDir, "jobcache", "pglite");
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let client: PGlite;
  try {
    client = await PGlite.create(dir);
  } catch (err) {
    throw new StoreError(`cannot open the embedded job cache database in ${dir}: ${describe(err)}`, { cause: err });
  }
  const db = drizzleLite(client, { schema });
  // PGlite is one connection in this process, so the lock only matters for the code path being
  // the same as PostgreSQL's.
  await withMigrationLock(db as unknown as Db, () => migrateLite(db, { migrationsFolder: migrationsFolder() }), o.log);
  return { kind: "pglite", db: db as unknown as Db, where: dir, close: () => client.close() };
}

/** The SQLSTATE of a database error, looking through drizzle's wrapper. */
export function sqlState(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    if (typeof e.code === "string" && /^[0-9A-Z]{5}$/.test(e.code)) return e.code;
  }
  return undefined;
}

/**
 * True for errors about the data itself (SQLSTATE class 22 "data exception", e.g. a NUL
 * character in text or jsonb, a number out of range; class 54 "program limit exceeded"):
 * the same rows will fail every time, so retrying is pointless and the event is audited.
 */
export function isDataError(err: unknown): boolean {
  const c = sqlState(err);
  return c !== undefined && (c.startsWith("22") || c.startsWith("54"));
}

/** True when the database could not be reached, as opposed to refusing a statement. */
export function isConnectionError(err: unknown): boolean {
  const c = sqlState(err);
  if (c) return c.startsWith("08") || c.startsWith("57P") || c === "53300";
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    if (typeof e.code === "string" && /^(E[A-Z]+|CONNECT(ION)?_[A-Z_]+)$/.test(e.code)) return true;
  }
  return false;
}

