/**
 * Payload blobs of the PostgreSQL store: `job_blobs (job_id, data bytea)`, in the database so every node
 * reads them. A blob is written in the same transaction as its job (the store's group commit, or the
 * caller's own transaction for a transactional enqueue), and deleted in the same transaction as its job
 * (retention, DLQ purge): there is never a blob without its job, nor a job without its blob.
 *
 * One INSERT per blob: node-postgres sends a Buffer parameter in binary, whereas an array of Buffers would
 * travel hex-encoded (twice the size). Blob jobs are rare and large, so the round trip per blob is noise
 * next to the bytes.
 */
import type { JobInsertResult } from '../store.js';
import type { TxContext } from './tx-context.js';

/** Write the blobs of the jobs this insert created (not of refused items or idempotent replays). */
export async function insertBlobs(
  ctx: TxContext,
  jobs: ReadonlyArray<{ readonly id: string }>,
  results: readonly JobInsertResult[],
  blobs: ReadonlyMap<string, Buffer>,
): Promise<void> {
  for (let i = 0; i < jobs.length; i++) {
    const data = blobs.get(jobs[i]!.id);
    const r = results[i];
    if (!data || !r?.ok || r.replayed) continue;
    await ctx.query('INSERT INTO job_blobs (job_id, data) VALUES ($1, $2)', [jobs[i]!.id, data]);
  }
}

/** The blobs of these jobs, in one statement. */
export async function readBlobs(
  read: <R extends object>(sql: string, params: unknown[]) => Promise<R[]>,
  ids: readonly string[],
): Promise<Map<string, Buffer>> {
  const rows = await read<{ job_id: string; data: Buffer }>('SELECT job_id, data FROM job_blobs WHERE job_id = ANY($1::text[])', [[...ids]]);
  return new Map(rows.map((r) => [r.job_id, r.data]));
}

/** Delete the blobs of deleted jobs (in the deleting transaction). */
export async function deleteBlobs(ctx: TxContext, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await ctx.query('DELETE FROM job_blobs WHERE job_id = ANY($1::text[])', [[...ids]]);
}
