// The job cache as an ordered returner (services/returners/sdk.ts OrderedReturnerModule): the
// ordered host (services/returners/ordered.ts) hands it every event of the stream once, in
// order; each batch is projected (projection.ts) and written with the cursor in one statement
// or transaction (writer.ts). Its position is that cursor, read back from the database.
//
// Trust comes from the stream itself (key events before the returns they admit), so the key
// state is rebuilt from the database at every position() and carried from batch to batch.

import { H } from "../../contracts/message.js";
import type { Subjects } from "../../contracts/subjects.js";
import { NatriumError } from "../../contracts/errors.js";
import type { Logger } from "../common/log.js";
import { VerifyPool } from "../common/verifypool.js";
import type { OrderedReturnerModule, StreamMessage } from "../returners/sdk.js";
import { emptyState, needsEidLookup, preverify, project, refusalRow, AuditKinds, emptyRows, type ProjectionState, type Trust } from "./projection.js";
import { alreadyProjected, loadState, rewindTo, truncateAll, writeRows } from "./writer.js";
import { isDataError, type Store } from "./store.js";
import { describe } from "../common/describe.js";
import type { MasterKey } from "./trust.js";

export interface JobcacheReturnerOptions {
  subjects: Subjects;
  store: Store;
  master: MasterKey;
  log: Logger;
}

/** The database already holds another namespace's projection. */
export class ForeignDatabaseError extends NatriumError {
  constructor(readonly stream: string, readonly others: string[]) {
    super(
      "foreign_database",
      `the job cache database already holds the projection of stream ${others.join(", ")}, not ${stream}; give each namespace its own database`,
    );
  }
}

/** A write failed for a reason other than the batch's values: resume from the database cursor. */
export class DatabaseInterrupted extends NatriumError {
  constructor(where: string, cause: unknown) {
    // describe() appends the cause's own message.
    super("database_unavailable", `cannot write to the job cache database at ${where} (resuming from its cursor once it answers)`, { cause });
  }
}

export class JobcacheReturner implements OrderedReturnerModule {
  readonly ordered = true;
  readonly description = "the job cache: every event projected into PostgreSQL or PGlite, exactly once";
  private state: ProjectionState = emptyState();
  private cursor = 0;
  /** Highest sequence in the tables at the last position(); above the cursor only if it was wound back. */
  private maxRowSeq = 0;
  private readonly pool = new VerifyPool();

  constructor(private readonly o: JobcacheReturnerOptions) {}

  /** The database cursor, with the key state and the highest row sequence that go with it. */
  async position(): Promise<number> {
    const loaded = await loadState(this.o.store.db, this.o.subjects.stream);
    if (loaded.otherStreams.length) throw new ForeignDatabaseError(this.o.subjects.stream, loaded.otherStreams);
    this.state = loaded.state;
    this.cursor = loaded.lastSeq;
    this.maxRowSeq = loaded.maxRowSeq;
    return this.cursor;
  }

  /** Signatures, checked in worker threads against the key each message's Natrium-Signer names. */
  prepare(batch: StreamMessage[]): Promise<Set<number>> {
    return preverify(this.pool, batch);
  }

  async apply(batch: StreamMessage[], prepared: unknown): Promise<void> {
    const verified = Promise.resolve(prepared as Set<number> | undefined).then((v) => v ?? preverify(this.pool, batch));
    let oneByOne = false;
    for (;;) {
      const pending = batch.filter((r) => r.seq > this.cursor);
      if (!pending.length) return;
      try {
        if (oneByOne) {
          for (const r of pending) await this.writeOne(r);
        } else {
          await this.write(pending, verified);
        }
        return;
      } catch (err) {
        if (isDataError(err) && !oneByOne) {
          // Some event in the batch has values the database refuses; find it by going one by one.
          oneByOne = true;
          continue;
        }
        // Not the batch's fault: the database failed (connection lost, server restarting). A
        // server that crashed may have lost its last commits (synchronous_commit is off, see
        // store.ts), acknowledged already: only the database's own cursor can say where to
        // resume, and the host asks position() again once the database answers.
        throw new DatabaseInterrupted(this.o.store.where, err);
      }
    }
  }

  /** Empty the tables (1), or wind them back to just before `fromSeq`: rows before it are kept, the stream may no longer hold what made them. */
  async rewind(fromSeq: number): Promise<void> {
    if (fromSeq > 1) await rewindTo(this.o.store.db, this.o.subjects.stream, fromSeq);
    else await truncateAll(this.o.store.db);
    this.state = emptyState();
    this.cursor = 0;
    this.maxRowSeq = 0;
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  private trust(): Trust {
    return { ns: this.o.subjects.ns, masterPub: this.o.master.pub };
  }

  private async write(raws: StreamMessage[], verifiedP: Promise<Set<number>>): Promise<void> {
    const db = this.o.store.db;
    const eids = raws
      .filter((r) => needsEidLookup(r.headers?.get(H.type)))
      .map((r) => r.headers?.get(H.msgId))
      .filter((e): e is string => !!e);
    // Rows beyond the cursor exist only if the cursor was wound back; otherwise skip that query.
    const maybeDone = raws.filter((r) => r.seq <= this.maxRowSeq).map((r) => r.seq);
    const [known, verified] = await Promise.all([alreadyProjected(db, maybeDone, eids), verifiedP]);
    const p = project(this.trust(), this.state, raws, known, verified);
    await writeRows(db, this.o.subjects.stream, p.rows, p.lastSeq);
    this.state = p.state;
    this.cursor = Math.max(this.cursor, p.lastSeq);
    for (const a of p.rows.audit) {
      if (a.origin === "jobcache") this.o.log.warn("event refused", { seq: a.seq, subject: a.subject, kind: a.kind, reason: a.reason });
    }
  }

  private async writeOne(r: StreamMessage): Promise<void> {
    try {
      await this.write([r], preverify(this.pool, [r]));
    } catch (err) {
      if (!isDataError(err)) throw err;
      const rows = emptyRows();
      rows.audit.push(refusalRow(r, AuditKinds.unstorable, `the database refused the event: ${describe(err)}`, { type: r.headers?.get(H.type) }));
      await writeRows(this.o.store.db, this.o.subjects.stream, rows, r.seq);
      this.cursor = Math.max(this.cursor, r.seq);
      this.o.log.warn("event refused", { seq: r.seq, subject: r.subject, kind: AuditKinds.unstorable, error: describe(err) });
    }
  }
}
