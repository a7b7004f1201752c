/**
 * The scheduler: moves due `scheduled` and `retrying` jobs to `queued`, in batches, and says when the next
 * one is due so the maintainer can sleep exactly until then (one timer, not one per job).
 */
import type { Store } from '../../storage/store.js';

export const PROMOTE_BATCH = 1000;

/** Promote everything due; returns the number promoted and the next due time (ms) or null. */
export async function promoteDueJobs(store: Store): Promise<{ promoted: number; nextDueAt: number | null }> {
  let promoted = 0;
  for (;;) {
    const { count } = await store.jobPromoteDue({ limit: PROMOTE_BATCH });
    promoted += count;
    if (count < PROMOTE_BATCH) break;
  }
  return { promoted, nextDueAt: await store.jobNextDueAt() };
}
