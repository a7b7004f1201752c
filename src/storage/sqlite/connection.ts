/**
 * Opening SQLite connections: WAL, `synchronous=FULL` set explicitly and read back (better-sqlite3's bundled
 * build compiles with SQLITE_DEFAULT_WAL_SYNCHRONOUS=1, so WAL silently runs at NORMAL — not durable on power
 * loss — unless told otherwise), and a per-connection prepared-statement cache.
 *
 * Busy handling: busy_timeout is kept tiny (the busy handler sleeps synchronously and would freeze the event
 * loop); the write coalescer retries SQLITE_BUSY asynchronously instead.
 */
import type Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { SqliteDriver } from './driver.js';

export type SqliteDatabase = Database.Database;

/** SQLITE_SYNCHRONOUS values as PRAGMA synchronous reads them back. */
export const SYNCHRONOUS_FULL = 2;

export const BUSY_TIMEOUT_MS = 2;
/** Busy wait allowed while a connection is being opened and configured (start-up only). */
export const OPEN_BUSY_TIMEOUT_MS = 5000;

export function openDatabase(path: string, opts: { readonly?: boolean } = {}): SqliteDatabase {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new SqliteDriver(path, { readonly: opts.readonly ?? false });
  configureConnection(db);
  return db;
}

/** Apply Spool's pragmas to a connection (ours or a caller's that shares the file) and verify durability. */
export function configureConnection(db: SqliteDatabase): void {
  // Opening may meet another process's connection in the middle of closing (it checkpoints and removes the
  // WAL under an exclusive lock) or recovering the WAL: wait for that here, at start-up, where a short
  // synchronous wait is harmless; the tiny timeout for the running store is set at the end.
  db.pragma(`busy_timeout = ${OPEN_BUSY_TIMEOUT_MS}`);
  if (!db.readonly) {
    const mode = String(db.pragma('journal_mode = WAL', { simple: true }));
    if (mode !== 'wal' && db.name !== ':memory:') throw new Error(`could not enable WAL on ${db.name} (got ${mode})`);
  }
  db.pragma('synchronous = FULL');
  db.pragma('cache_size = -65536'); // 64 MiB: keeps the hot indexes cached with a million stored jobs (S1)
  db.pragma('temp_store = MEMORY');
  db.pragma('journal_size_limit = 67108864');
  assertDurable(db);
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
}

/** Throws unless the connection runs with synchronous=FULL (checked on every connection Spool uses). */
export function assertDurable(db: SqliteDatabase): void {
  const sync = Number(db.pragma('synchronous', { simple: true }));
  if (sync < SYNCHRONOUS_FULL) {
    throw new Error(`SQLite connection to ${db.name} runs with synchronous=${sync}; Spool requires FULL (2) for durable commits`);
  }
}

export function readDurability(db: SqliteDatabase): { synchronous: string; journalMode: string } {
  const names = ['OFF', 'NORMAL', 'FULL', 'EXTRA'];
  const sync = Number(db.pragma('synchronous', { simple: true }));
  return { synchronous: names[sync] ?? String(sync), journalMode: String(db.pragma('journal_mode', { simple: true })) };
}

/** A connection plus its prepared statements, keyed by SQL text. */
export class Conn {
  readonly db: SqliteDatabase;
  readonly #statements = new Map<string, Database.Statement>();
  readonly #rawStatements = new Map<string, Database.Statement>();

  constructor(db: SqliteDatabase) {
    this.db = db;
  }

  stmt(sql: string): Database.Statement {
    let s = this.#statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.#statements.set(sql, s);
    }
    return s;
  }

  /** A prepared statement that returns rows as arrays (cheaper than objects on hot paths). */
  raw(sql: string): Database.Statement {
    let s = this.#rawStatements.get(sql);
    if (!s) {
      s = this.db.prepare(sql).raw(true);
      this.#rawStatements.set(sql, s);
    }
    return s;
  }
}

export function isBusyError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_BUSY_SNAPSHOT' || code === 'SQLITE_LOCKED';
}
