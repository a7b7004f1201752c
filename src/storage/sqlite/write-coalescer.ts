/**
 * Group commit for SQLite. Every write operation is queued here; all operations queued during one
 * event-loop turn run in a single BEGIN IMMEDIATE … COMMIT, so they share one fsync. Each caller's promise
 * resolves only after that COMMIT returned. Each operation runs inside its own SAVEPOINT, so one failing
 * operation (a reused idempotency key, a bad row) rolls back alone and the rest of the batch commits.
 *
 * Why on the main thread and not a writer thread: better-sqlite3 is synchronous, so a commit blocks the event
 * loop for its fsync. Measured with `spool bench` (see docs/design.md), one commit of a 32-job batch costs a
 * few hundred microseconds here; a worker-thread writer adds a structured-clone hop per batch and buys
 * nothing while every caller is waiting on that same commit. The coalescer keeps the critical section to one
 * commit per turn, whatever the number of callers.
 *
 * SQLITE_BUSY (another process holds the write lock) is retried asynchronously with capped backoff; the event
 * loop is never parked in SQLite's own busy handler for more than BUSY_TIMEOUT_MS.
 */
import { StoreUnavailableError } from '../../core/errors.js';
import { isBusyError, type Conn } from './connection.js';

/** Per-transaction context handed to each operation: the clock reading, counter deltas and wake-ups. */
export class TxContext {
  readonly now: number;
  readonly conn: Conn;
  /** queue → counter name → delta */
  readonly deltas = new Map<string, Map<string, number>>();
  /** Queues that may have new claimable jobs after this transaction commits. */
  readonly wakeQueues = new Set<string>();

  constructor(conn: Conn, now: number) {
    this.conn = conn;
    this.now = now;
  }

  count(queue: string, name: string, delta: number): void {
    if (delta === 0) return;
    let q = this.deltas.get(queue);
    if (!q) this.deltas.set(queue, (q = new Map()));
    q.set(name, (q.get(name) ?? 0) + delta);
  }

  wake(queue: string): void {
    this.wakeQueues.add(queue);
  }

  mergeInto(parent: TxContext): void {
    for (const [queue, names] of this.deltas) for (const [name, d] of names) parent.count(queue, name, d);
    for (const q of this.wakeQueues) parent.wake(q);
  }

  /** Write the accumulated counter deltas (one upsert per touched counter). */
  flushCounters(): void {
    const upsert = this.conn.stmt(
      `INSERT INTO queue_counters (queue, name, value) VALUES (?, ?, ?)
       ON CONFLICT (queue, name) DO UPDATE SET value = value + excluded.value`,
    );
    for (const [queue, names] of this.deltas) for (const [name, d] of names) if (d !== 0) upsert.run(queue, name, d);
  }
}

export type WriteOp<T> = (ctx: TxContext) => T;

interface Pending {
  readonly op: WriteOp<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

/** Upper bound of operations in one transaction; the rest go into the next one straight away. */
const MAX_OPS_PER_TX = 4096;
const BUSY_RETRY_MAX_MS = 50;
const BUSY_GIVE_UP_MS = 30_000;

export class WriteCoalescer {
  readonly #conn: Conn;
  readonly #now: () => number;
  readonly #onCommit: (ctx: TxContext) => void;
  #pending: Pending[] = [];
  #scheduled = false;
  #busySince = 0;
  #busyDelay = 1;
  #closed = false;
  #idleWaiters: Array<() => void> = [];
  /** Statistics for the benchmark and tests. */
  readonly stats = { transactions: 0, operations: 0, busyRetries: 0 };

  constructor(conn: Conn, now: () => number, onCommit: (ctx: TxContext) => void) {
    this.#conn = conn;
    this.#now = now;
    this.#onCommit = onCommit;
  }

  run<T>(op: WriteOp<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreUnavailableError('the store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ op, resolve: resolve as (v: unknown) => void, reject });
      this.#schedule(0);
    });
  }

  /** Resolves once every queued operation has committed (or failed). */
  drain(): Promise<void> {
    if (this.#pending.length === 0 && !this.#scheduled) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  close(): void {
    this.#closed = true;
  }

  #schedule(delayMs: number): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    if (delayMs === 0) setImmediate(() => this.#flush());
    else setTimeout(() => this.#flush(), delayMs);
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#pending.length === 0) return this.#notifyIdle();
    const batch = this.#pending.length > MAX_OPS_PER_TX ? this.#pending.splice(0, MAX_OPS_PER_TX) : this.#pending;
    if (batch === this.#pending) this.#pending = [];
    const db = this.#conn.db;

    try {
      db.exec('BEGIN IMMEDIATE');
    } catch (error) {
      this.#pending = batch.concat(this.#pending);
      if (isBusyError(error)) return this.#retryBusy();
      return this.#failAll(error);
    }
    this.#busySince = 0;
    this.#busyDelay = 1;

    const ctx = new TxContext(this.#conn, this.#now());
    const outcomes: Array<{ ok: boolean; value: unknown }> = new Array(batch.length);
    const single = batch.length === 1;
    for (let i = 0; i < batch.length; i++) {
      const { op } = batch[i]!;
      if (single) {
        try {
          outcomes[i] = { ok: true, value: op(ctx) };
        } catch (error) {
          // A lone operation needs no savepoint: roll the whole transaction back.
          db.exec('ROLLBACK');
          batch[i]!.reject(error);
          return this.#afterFlush();
        }
        continue;
      }
      const child = new TxContext(this.#conn, ctx.now);
      db.exec('SAVEPOINT op');
      try {
        const value = op(child);
        db.exec('RELEASE op');
        child.mergeInto(ctx);
        outcomes[i] = { ok: true, value };
      } catch (error) {
        db.exec('ROLLBACK TO op');
        db.exec('RELEASE op');
        outcomes[i] = { ok: false, value: error };
      }
    }

    try {
      ctx.flushCounters();
      db.exec('COMMIT');
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK');
      for (const p of batch) p.reject(asStoreError(error));
      this.#afterFlush();
      return;
    }
    this.stats.transactions++;
    this.stats.operations += batch.length;
    for (let i = 0; i < batch.length; i++) {
      const o = outcomes[i]!;
      if (o.ok) batch[i]!.resolve(o.value);
      else batch[i]!.reject(o.value);
    }
    this.#onCommit(ctx);
    this.#afterFlush();
  }

  #afterFlush(): void {
    if (this.#pending.length > 0) this.#schedule(0);
    else this.#notifyIdle();
  }

  #retryBusy(): void {
    this.stats.busyRetries++;
    const now = Date.now();
    if (this.#busySince === 0) this.#busySince = now;
    if (now - this.#busySince > BUSY_GIVE_UP_MS) {
      this.#busySince = 0;
      return this.#failAll(new StoreUnavailableError(`database is locked by another process for over ${BUSY_GIVE_UP_MS} ms`));
    }
    const delay = Math.min(BUSY_RETRY_MAX_MS, this.#busyDelay);
    this.#busyDelay = Math.min(BUSY_RETRY_MAX_MS, this.#busyDelay * 2);
    this.#schedule(Math.max(1, Math.round(delay * (0.5 + Math.random()))));
  }

  #failAll(error: unknown): void {
    const batch = this.#pending;
    this.#pending = [];
    for (const p of batch) p.reject(asStoreError(error));
    this.#notifyIdle();
  }

  #notifyIdle(): void {
    if (this.#pending.length > 0 || this.#scheduled) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}

function asStoreError(error: unknown): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('SQLITE_') && !code.startsWith('SQLITE_CONSTRAINT')) {
    return new StoreUnavailableError(`SQLite: ${(error as Error).message}`, { cause: error });
  }
  return error;
}
