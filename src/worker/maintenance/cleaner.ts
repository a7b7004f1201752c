/**
 * The cleaner: retention. Deletes finished jobs past their queue's retention (completed and cancelled:
 * `retention.completedSeconds`, default 7 days; dead: `retention.deadSeconds`, default 30 days) — with their
 * payload blobs — and expired idempotency keys, in bounded batches so one run never holds the write lock for
 * long. `sweepOrphanBlobs` (less often) deletes blobs no job references, left by a crash between a blob and
 * its job (SQLite's files; PostgreSQL has none).
 */
import type { Store } from '../../storage/store.js';

export const CLEAN_BATCH = 1000;
const MAX_BATCHES_PER_RUN = 50;

/**
 * Call `deleteBatch(limit)` until it deletes fewer than `limit` rows or `maxBatches` calls were made (the next
 * run goes on from there); returns how many it deleted. Every bounded delete of maintenance goes through here.
 */
export async function deleteInBatches(
  deleteBatch: (limit: number) => Promise<number>,
  limit: number = CLEAN_BATCH,
  maxBatches: number = MAX_BATCHES_PER_RUN,
): Promise<number> {
  let deleted = 0;
  for (let i = 0; i < maxBatches; i++) {
    const n = await deleteBatch(limit);
    deleted += n;
    if (n < limit) break;
  }
  return deleted;
}

export async function cleanExpired(store: Store): Promise<{ jobs: number; keys: number }> {
  const jobs = await deleteInBatches((limit) => store.jobDeleteExpired({ limit }));
  const keys = await deleteInBatches((limit) => store.idempotencyDeleteExpired({ limit }));
  return { jobs, keys };
}

/** A blob younger than this may belong to an insert still on its way to commit: never swept. */
export const ORPHAN_BLOB_AGE_MS = 60 * 60 * 1000;

export function sweepOrphanBlobs(store: Store): Promise<number> {
  return deleteInBatches((limit) => store.blobDeleteOrphans({ olderThanMs: ORPHAN_BLOB_AGE_MS, limit }));
}
