/**
 * The stats sampler: every 10 s (the maintainer's `sampleIntervalMs`) the leader records every queue's
 * maintained stats — counts, oldest waiting age, monotonic totals and latency histograms, one stats read —
 * as one `queue_samples` row per queue. The stats time series (`GET /v1/queues/{queue}/stats`) are the
 * differences between these samples, so charts never read the job table. Samples older than 7 days are
 * pruned in bounded batches with the cleaner's run.
 */
import type { Store } from '../../storage/store.js';
import { deleteInBatches } from './cleaner.js';

export const SAMPLE_INTERVAL_MS = 10_000;
/** How long samples are kept: the longest window a series may ask for. */
export const SAMPLE_RETENTION_MS = 7 * 86_400_000;
const PRUNE_BATCH = 5000;
const MAX_PRUNE_BATCHES = 20;

/** Record one sample of every queue; returns how many queues were sampled. */
export async function sampleQueueStats(store: Store): Promise<number> {
  const stats = await store.queueStatsGet({});
  if (stats.length === 0) return 0;
  await store.queueSampleInsertMany({ samples: stats });
  return stats.length;
}

export function pruneQueueSamples(store: Store): Promise<number> {
  return deleteInBatches((limit) => store.queueSampleDeleteExpired({ olderThanMs: SAMPLE_RETENTION_MS, limit }), PRUNE_BATCH, MAX_PRUNE_BATCHES);
}
