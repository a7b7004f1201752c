/**
 * Group commit for PostgreSQL. Every write operation is queued here; everything queued while the previous
 * transaction ran (or during one event-loop turn) runs in one BEGIN … COMMIT on one pooled connection, so
 * a burst of enqueues costs one commit (one WAL flush) instead of one per caller, and each caller's promise
 * resolves only after that COMMIT returned. Transactions of one store run one after another: a claim issued
 * after a completion commits with it or after it, never before (the worker's "never more leased than
 * slots" holds as on SQLite, where the claim and the previous completions share a transaction).
 *
 * Differs from the SQLite version in that savepoints cost round trips here, so a batch first runs without
 * them (optimistic); if one operation throws, the transaction is rolled back and the batch is run again
 * with one SAVEPOINT per operation, so the failing one rolls back alone. Deadlocks and serialization
 * failures rerun the whole batch, and so does a connection lost before COMMIT was sent (nothing was
 * committed); a database that cannot be reached rejects the batch with StoreUnavailableError at once.
 */
import type pg from 'pg';
import { StoreUnavailableError } from '../../core/errors.js';
import { asStoreError, isConnectionError, isRetryableTxError } from './connection.js';
import { TxContext } from './tx-context.js';

export type WriteOp<T> = (ctx: TxContext) => Promise<T>;

interface Pending {
  readonly op: WriteOp<unknown>;
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

/** Upper bound of operations in one transaction; the rest go into the next one straight away. */
const MAX_OPS_PER_TX = 4096;
const MAX_RETRIES = 5;

/** An operation threw in a batch run without savepoints: rerun the batch with them. */
class NeedSavepoints extends Error {}

export interface PgWriteCoalescerOptions {
  readonly pool: pg.Pool;
  /** SQL text of `now` in ms (a literal from the injected clock, or the database's clock). */
  readonly nowSql: () => string;
  readonly channel: string;
  readonly onCommit: (ctx: TxContext) => void;
}

export class PgWriteCoalescer {
  readonly #options: PgWriteCoalescerOptions;
  #pending: Pending[] = [];
  #scheduled = false;
  #running = false;
  #closed = false;
  #idleWaiters: Array<() => void> = [];
  /** Statistics for the benchmark and tests (busyRetries: deadlock and serialization reruns). */
  readonly stats = { transactions: 0, operations: 0, busyRetries: 0 };

  constructor(options: PgWriteCoalescerOptions) {
    this.#options = options;
  }

  run<T>(op: WriteOp<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreUnavailableError('the store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.#pending.push({ op: op as WriteOp<unknown>, resolve: resolve as (v: unknown) => void, reject });
      this.#schedule();
    });
  }

  /** Resolves once every queued operation has committed (or failed). */
  drain(): Promise<void> {
    if (this.#pending.length === 0 && !this.#scheduled && !this.#running) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  close(): void {
    this.#closed = true;
  }

  #schedule(): void {
    if (this.#scheduled || this.#running) return;
    this.#scheduled = true;
    setImmediate(() => void this.#flush());
  }

  async #flush(): Promise<void> {
    this.#scheduled = false;
    if (this.#pending.length === 0) return this.#notifyIdle();
    this.#running = true;
    const batch = this.#pending.length > MAX_OPS_PER_TX ? this.#pending.splice(0, MAX_OPS_PER_TX) : this.#pending;
    if (batch === this.#pending) this.#pending = [];
    try {
      await this.#runBatch(batch);
    } finally {
      this.#running = false;
      if (this.#pending.length > 0) this.#schedule();
      else this.#notifyIdle();
    }
  }

  async #runBatch(batch: Pending[]): Promise<void> {
    let savepoints = false;
    for (let attempt = 0; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.#options.pool.connect();
      } catch (error) {
        for (const p of batch) p.reject(asStoreError(error));
        return;
      }
      let broken: Error | undefined;
      let commitSent = false;
      try {
        const results = (await client.query(`BEGIN; SELECT ${this.#options.nowSql()} AS now`)) as unknown as pg.QueryResult<{ now: number }>[];
        const ctx = new TxContext(client, Number(results[1]!.rows[0]!.now), { prepared: true });
        const outcomes = savepoints ? await runWithSavepoints(ctx, batch) : await runPlain(ctx, batch);
        // Counter deltas, the NOTIFY and COMMIT in one round trip.
        commitSent = true;
        await client.query(ctx.commitSql(this.#options.channel));
        client.release();
        this.stats.transactions++;
        this.stats.operations += batch.length;
        for (let i = 0; i < batch.length; i++) {
          const o = outcomes[i]!;
          if (o.ok) batch[i]!.resolve(o.value);
          else batch[i]!.reject(o.error);
        }
        this.#options.onCommit(ctx);
        return;
      } catch (error) {
        if (isConnectionError(error)) broken = error as Error;
        else await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        client.release(broken);
        if (error instanceof NeedSavepoints) {
          savepoints = true;
          continue;
        }
        // A connection lost before COMMIT was sent rolled the transaction back: run it again on another
        // connection (a pooled client killed while idle fails only its first query). Lost during COMMIT,
        // the outcome is unknown: the callers hear StoreUnavailableError.
        if (broken && !commitSent && attempt < MAX_RETRIES) continue;
        if (isRetryableTxError(error) && attempt < MAX_RETRIES) {
          this.stats.busyRetries++;
          continue;
        }
        if (batch.length === 1 && !isConnectionError(error)) {
          batch[0]!.reject(error);
          return;
        }
        for (const p of batch) p.reject(asStoreError(error));
        return;
      }
    }
  }

  #notifyIdle(): void {
    if (this.#pending.length > 0 || this.#scheduled || this.#running) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}

/** Every operation on the transaction's own context; a throw aborts the batch (a lone op's error is its own). */
async function runPlain(ctx: TxContext, batch: readonly Pending[]): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const p of batch) {
    try {
      outcomes.push({ ok: true, value: await p.op(ctx) });
    } catch (error) {
      if (batch.length === 1 || isConnectionError(error) || isRetryableTxError(error)) throw error;
      throw new NeedSavepoints();
    }
  }
  return outcomes;
}

async function runWithSavepoints(ctx: TxContext, batch: readonly Pending[]): Promise<Outcome[]> {
  const outcomes: Outcome[] = [];
  for (const p of batch) {
    const child = ctx.child();
    await ctx.client.query('SAVEPOINT op');
    try {
      const value = await p.op(child);
      await ctx.client.query('RELEASE op');
      child.mergeInto(ctx);
      outcomes.push({ ok: true, value });
    } catch (error) {
      if (isConnectionError(error) || isRetryableTxError(error)) throw error;
      await ctx.client.query('ROLLBACK TO op; RELEASE op');
      outcomes.push({ ok: false, error });
    }
  }
  return outcomes;
}
