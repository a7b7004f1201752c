/**
 * The cleaner: retention. Deletes finished jobs past their queue's retention (completed and cancelled:
 * `retention.completedSeconds`, default 7 days; dead: `retention.deadSeconds`, default 30 days) and expired
 * idempotency keys, in bounded batches so one run never holds the write lock for long.
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
