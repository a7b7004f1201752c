/**
 * The counter folder: moves counter delta rows into the folded totals (PostgreSQL writes one delta row per
 * touched counter per transaction, so no hot counter row serialises writers). Folding every second keeps the
 * unfolded tail — which every stats read and metrics scrape sums — to about one second of traffic. Bounded
 * batches, so one run never holds a long transaction; a backlog left over is taken on the next run.
 */
import type { Store } from '../../storage/store.js';

export const FOLD_BATCH = 10_000;
const MAX_BATCHES_PER_RUN = 20;

export async function foldCounters(store: Store): Promise<number> {
  let folded = 0;
  for (let i = 0; i < MAX_BATCHES_PER_RUN; i++) {
    const n = await store.counterFold({ limit: FOLD_BATCH });
    folded += n;
    if (n < FOLD_BATCH) break;
  }
  return folded;
}
