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

export async function cleanExpired(store: Store): Promise<{ jobs: number; keys: number }> {
  let jobs = 0;
  let keys = 0;
  for (let i = 0; i < MAX_BATCHES_PER_RUN; i++) {
    const n = await store.jobDeleteExpired({ limit: CLEAN_BATCH });
    jobs += n;
    if (n < CLEAN_BATCH) break;
  }
  for (let i = 0; i < MAX_BATCHES_PER_RUN; i++) {
    const n = await store.idempotencyDeleteExpired({ limit: CLEAN_BATCH });
    keys += n;
    if (n < CLEAN_BATCH) break;
  }
  return { jobs, keys };
}

/** A blob younger than this may belong to an insert still on its way to commit: never swept. */
export const ORPHAN_BLOB_AGE_MS = 60 * 60 * 1000;

export async function sweepOrphanBlobs(store: Store): Promise<number> {
  let swept = 0;
  for (let i = 0; i < MAX_BATCHES_PER_RUN; i++) {
    const n = await store.blobDeleteOrphans({ olderThanMs: ORPHAN_BLOB_AGE_MS, limit: CLEAN_BATCH });
    swept += n;
    if (n < CLEAN_BATCH) break;
  }
  return swept;
}
