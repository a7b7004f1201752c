/**
 * Transactional enqueue for PostgreSQL (the outbox pattern done natively): jobInsertMany on the caller's own
 * `pg` client (PoolClient or Client) inside their BEGIN … COMMIT. The jobs, their counter deltas and the
 * NOTIFY commit or roll back with the caller's own writes (PostgreSQL delivers a NOTIFY only at commit).
 *
 * Runs inside a SAVEPOINT with search_path pointed at Spool's schema for its duration; the caller's
 * search_path is put back afterwards (ROLLBACK TO restores it on failure). Unnamed statements only: nothing
 * is left prepared on the caller's connection.
 */
import { SpoolError } from '../../core/errors.js';
import type { JobInsertManyParams, JobInsertResult } from '../store.js';
import { asStoreError, quoteIdent, type PgClient } from './connection.js';
import { AtomicInsertError } from '../driver-common.js';
import { insertJobs, nowSql } from './job-writes.js';
import { quoteLiteral, TxContext } from './tx-context.js';

export async function insertInCallerTx(
  tx: unknown,
  params: JobInsertManyParams,
  store: { schema: string; clockNow: number | null; channel: string },
): Promise<JobInsertResult[]> {
  const client = tx as PgClient;
  if (!client || typeof (client as { query?: unknown }).query !== 'function') {
    throw new SpoolError('invalid_argument', 'tx must be a pg client (PoolClient or Client) inside BEGIN');
  }
  try {
    await client.query('SAVEPOINT spool_enqueue');
  } catch (error) {
    if ((error as { code?: unknown }).code === '25P01') throw new SpoolError('invalid_argument', 'tx is not inside a transaction (call BEGIN first)');
    throw asStoreError(error);
  }
  try {
    const { rows } = await client.query<{ old: string; now: string | number }>(
      `SELECT current_setting('search_path') AS old, set_config('search_path', $1, true), ${nowSql('$2')} AS now`,
      [quoteIdent(store.schema), store.clockNow],
    );
    const ctx = new TxContext(client, Number(rows[0]!.now));
    const results = await insertJobs(ctx, params.jobs, params.atomic ?? false);
    await ctx.flush(store.channel);
    // RELEASE keeps settings made inside the savepoint: put the caller's search_path back.
    await client.query(`RELEASE spool_enqueue; SELECT set_config('search_path', ${quoteLiteral(rows[0]!.old)}, true)`);
    return results;
  } catch (error) {
    // ROLLBACK TO undoes the savepoint's writes and its search_path change.
    await client.query('ROLLBACK TO spool_enqueue; RELEASE spool_enqueue').catch(() => undefined);
    if (error instanceof AtomicInsertError) throw error.error;
    throw asStoreError(error);
  }
}
