/**
 * Transactional enqueue on SQLite (the outbox pattern done natively): `jobInsertMany({ tx })` on the caller's
 * own better-sqlite3 connection to Spool's file, inside their BEGIN … COMMIT, so the jobs commit or roll back
 * with the caller's rows (WAL lets several connections share the file). SqliteStore.jobInsertMany calls it.
 *
 * Synchronous, like better-sqlite3 itself: the insert runs during the call, and a failure is *thrown* (a
 * SpoolError), not returned as a rejected promise. Inside `db.transaction(fn)` — which cannot await — a failed
 * enqueue therefore throws out of `fn` and better-sqlite3 rolls the caller's rows back with it. On success the
 * answer is an already-resolved promise (the store seam is asynchronous). The facade keeps this: with a SQLite
 * `tx` its own validation errors are thrown too.
 *
 * Checks, all refused with InvalidArgumentError before anything is written:
 *  - `tx` is an open better-sqlite3 Database, inside a transaction;
 *  - its main database is Spool's own file (same device and inode, so symlinks and relative paths are fine) —
 *    compared once per handle and cached with the handle's statement cache: a connection's main database
 *    cannot change;
 *  - it runs `synchronous=FULL` — read again on every call (one prepared PRAGMA read, about a microsecond),
 *    since the caller may lower it at any time, and at NORMAL their COMMIT may not survive a power loss.
 *
 * Spool's writes run in `SAVEPOINT spool_enqueue`: a failure rolls back to it (the failed call leaves nothing)
 * and the caller's transaction stays usable.
 */
import { statSync } from 'node:fs';
import { InvalidArgumentError, StoreUnavailableError } from '../../core/errors.js';
import { AtomicInsertError } from '../driver-common.js';
import type { JobInsertManyParams, JobInsertResult } from '../store.js';
import { Conn, isBusyError, SYNCHRONOUS_FULL, type SqliteDatabase } from './connection.js';
import { insertJobs } from './job-writes.js';
import { TxContext } from './write-coalescer.js';

interface FileIdentity {
  readonly path: string;
  readonly dev: bigint;
  readonly ino: bigint;
}

export class CallerTxInserter {
  readonly #storeDb: SqliteDatabase;
  readonly #now: () => number;
  /** Caller handles already checked against Spool's file, each with its own prepared-statement cache. */
  readonly #conns = new WeakMap<object, Conn>();
  #storeFile: FileIdentity | null | undefined;

  constructor(storeDb: SqliteDatabase, now: () => number) {
    this.#storeDb = storeDb;
    this.#now = now;
  }

  /** Insert on the caller's connection; throws (synchronously) on any failure. */
  insert(tx: unknown, params: JobInsertManyParams): Promise<JobInsertResult[]> {
    const conn = this.#connOf(tx);
    const db = conn.db;
    if (!db.inTransaction) throw new InvalidArgumentError('tx is not inside a transaction (call BEGIN IMMEDIATE first)');
    const [sync] = conn.raw('PRAGMA synchronous').get() as [number];
    if (sync < SYNCHRONOUS_FULL) {
      throw new InvalidArgumentError(
        `tx runs with synchronous=${sync}; Spool requires FULL (2) for durable commits (prepare the connection with configureSqliteConnection)`,
      );
    }
    const ctx = new TxContext(conn, this.#now());
    db.exec('SAVEPOINT spool_enqueue');
    try {
      const results = insertJobs(ctx, params.jobs, params.atomic ?? false);
      ctx.flushCounters();
      db.exec('RELEASE spool_enqueue');
      return Promise.resolve(results);
    } catch (error) {
      if (db.inTransaction) {
        try {
          db.exec('ROLLBACK TO spool_enqueue');
          db.exec('RELEASE spool_enqueue');
        } catch {
          // SQLite already ended the caller's transaction (it does on some errors): the error below says why.
        }
      }
      throw callerTxError(error);
    }
  }

  /** The caller's handle, checked (once) to be a connection to Spool's own file. */
  #connOf(tx: unknown): Conn {
    const cached = typeof tx === 'object' && tx !== null ? this.#conns.get(tx) : undefined;
    if (cached) {
      if (!cached.db.open) throw new InvalidArgumentError('tx is a closed better-sqlite3 Database');
      return cached;
    }
    if (!isDatabase(tx)) {
      throw new InvalidArgumentError("tx must be a better-sqlite3 Database open on Spool's database file, inside BEGIN IMMEDIATE");
    }
    if (!tx.open) throw new InvalidArgumentError('tx is a closed better-sqlite3 Database');
    if (this.#storeFile === undefined) this.#storeFile = mainFile(this.#storeDb);
    const ours = this.#storeFile;
    if (ours === null) {
      throw new InvalidArgumentError('an in-memory store (sqlite::memory:) cannot share its database: transactional enqueue needs a file');
    }
    const theirs = mainFile(tx);
    if (theirs === null || theirs.dev !== ours.dev || theirs.ino !== ours.ino) {
      throw new InvalidArgumentError(
        `tx is a connection to ${theirs ? theirs.path : 'an in-memory database'}, not to Spool's database ${ours.path}: open it on the same file`,
      );
    }
    const conn = new Conn(tx);
    this.#conns.set(tx, conn);
    return conn;
  }
}

function isDatabase(value: unknown): value is SqliteDatabase {
  const db = value as Partial<SqliteDatabase> | null;
  return (
    typeof db === 'object' &&
    db !== null &&
    typeof db.prepare === 'function' &&
    typeof db.pragma === 'function' &&
    typeof db.exec === 'function' &&
    typeof db.inTransaction === 'boolean'
  );
}

/** The file behind a connection's main database (as SQLite resolved it), or null for an in-memory one. */
function mainFile(db: SqliteDatabase): FileIdentity | null {
  const rows = db.pragma('database_list') as Array<{ name: string; file: string }>;
  const path = rows.find((r) => r.name === 'main')?.file;
  if (!path) return null;
  const st = statSync(path, { bigint: true });
  return { path, dev: st.dev, ino: st.ino };
}

function callerTxError(error: unknown): unknown {
  if (error instanceof AtomicInsertError) return error.error;
  if (isBusyError(error)) {
    return new StoreUnavailableError(
      `SQLite: ${(error as Error).message} — your transaction does not hold the write lock (another connection is writing); begin it with BEGIN IMMEDIATE, and retry`,
      { cause: error },
    );
  }
  return error;
}
