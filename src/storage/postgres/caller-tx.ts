/**
 * Transactional enqueue for PostgreSQL (the outbox pattern done natively): jobInsertMany on the caller's own
 * `pg` client (PoolClient or Client) inside their BEGIN … COMMIT. The jobs, their counter deltas and the
 * NOTIFY commit or roll back with the caller's own writes (PostgreSQL delivers a NOTIFY only at commit). A
 * delayed job (`runAt` in the future) queues no NOTIFY: nothing can be claimed yet, and the scheduler, which
 * looks at least once a second, promotes it when due.
 *
 * Runs inside a SAVEPOINT with search_path pointed at Spool's schema for its duration; the caller's
 * search_path is put back afterwards (ROLLBACK TO restores it on failure), and a failure leaves nothing of the
 * call behind. Unnamed statements only: nothing is left prepared on the caller's connection.
 *
 * Refused with InvalidArgumentError: a `pg.Pool` (each query may take another connection, outside the
 * caller's transaction), anything without `query`, a client outside a transaction or in an aborted one, and
 * a client on a database where Spool's schema has no Spool tables (mapped from undefined_table, 42P01, which
 * costs no round trip; the database name comes with the first statement the call sends anyway).
 */
import pg from 'pg';
import { InvalidArgumentError } from '../../core/errors.js';
import type { JobInsertManyParams, JobInsertResult } from '../store.js';
import { asStoreError, quoteIdent, type PgClient } from './connection.js';
import { AtomicInsertError } from '../driver-common.js';
import { blobsOf, withBlobRefs } from '../blob-refs.js';
import { insertBlobs } from './blobs.js';
import { insertJobs, nowSql } from './job-writes.js';
import { quoteLiteral, TxContext } from './tx-context.js';

export async function insertInCallerTx(
  tx: unknown,
  params: JobInsertManyParams,
  store: { schema: string; clockNow: number | null; channel: string },
): Promise<JobInsertResult[]> {
  const client = callerClient(tx);
  try {
    await client.query('SAVEPOINT spool_enqueue');
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === '25P01') throw new InvalidArgumentError('tx is not inside a transaction (call BEGIN first)');
    if (code === '25P02') throw new InvalidArgumentError('tx is in a failed transaction (an earlier statement failed): roll it back first');
    throw asStoreError(error);
  }
  let database = '';
  try {
    const { rows } = await client.query<{ old: string; now: string | number; db: string }>(
      `SELECT current_setting('search_path') AS old, set_config('search_path', $1, true), ${nowSql('$2')} AS now, current_database() AS db`,
      [quoteIdent(store.schema), store.clockNow],
    );
    database = rows[0]!.db;
    const ctx = new TxContext(client, Number(rows[0]!.now));
    const blobs = blobsOf(params.jobs);
    const results = await insertJobs(ctx, withBlobRefs(params.jobs, blobs), params.atomic ?? false);
    if (blobs.size > 0) await insertBlobs(ctx, params.jobs, results, blobs); // in the caller's transaction too
    await ctx.flush(store.channel);
    // RELEASE keeps settings made inside the savepoint: put the caller's search_path back.
    await client.query(`RELEASE spool_enqueue; SELECT set_config('search_path', ${quoteLiteral(rows[0]!.old)}, true)`);
    return results;
  } catch (error) {
    // ROLLBACK TO undoes the savepoint's writes and its search_path change.
    await client.query('ROLLBACK TO spool_enqueue; RELEASE spool_enqueue').catch(() => undefined);
    if (error instanceof AtomicInsertError) throw error.error;
    if ((error as { code?: unknown }).code === '42P01') {
      throw new InvalidArgumentError(
        `tx is connected to database "${database}", where schema "${store.schema}" holds no Spool tables (${(error as Error).message}): ` +
          `connect it to Spool's own database`,
      );
    }
    throw asStoreError(error);
  }
}

/** The caller's client, or an InvalidArgumentError saying what `tx` has to be. */
function callerClient(tx: unknown): PgClient {
  const candidate = tx as { query?: unknown; totalCount?: unknown } | null;
  // A Pool has query() too, but each call may run on another connection: never inside the caller's BEGIN.
  if (tx instanceof pg.Pool || typeof candidate?.totalCount === 'number') {
    throw new InvalidArgumentError('tx is a pg Pool: pass the client of your transaction (const client = await pool.connect(); BEGIN on it)');
  }
  if (typeof candidate !== 'object' || candidate === null || typeof candidate.query !== 'function') {
    throw new InvalidArgumentError('tx must be a pg client (PoolClient or Client) inside BEGIN');
  }
  return tx as PgClient;
}
