/**
 * Queue stats shared by both drivers: QueueStats from a queue's maintained counters (name → value), and the
 * `queue_samples` row (the stats sampler's record of them at one instant) in both directions. A sample row has
 * a column per count and total (small integers: compact in both databases) and each latency histogram as a
 * JSON array of its bucket counts plus a column for its sum, so adding a bucket needs no migration.
 */
import { latencyFromCounters, LATENCY_BUCKET_COUNT, type LatencyHistogram } from '../core/latency.js';
import { JOB_STATES } from '../core/states.js';
import type { QueueSample, QueueStats, StateCounts } from './store.js';

export function statsFromCounters(queue: string, values: ReadonlyMap<string, number>, oldestAgeSeconds: number): QueueStats {
  return {
    queue,
    counts: Object.fromEntries(JOB_STATES.map((s) => [s, values.get(s) ?? 0])) as StateCounts,
    oldestAgeSeconds,
    totals: {
      enqueued: values.get('total:enqueued') ?? 0,
      completed: values.get('total:completed') ?? 0,
      failed: values.get('total:failed') ?? 0,
      dead: values.get('total:dead') ?? 0,
      cancelled: values.get('total:cancelled') ?? 0,
      replayed: values.get('total:replayed') ?? 0,
    },
    latency: latencyFromCounters(values),
  };
}

/** The columns of `queue_samples`, in the order `sampleValues` lists them. */
export const SAMPLE_COLUMNS = [
  'queue', 'at', 'scheduled', 'queued', 'active', 'retrying', 'completed', 'dead', 'cancelled', 'oldest_age_ms',
  'total_enqueued', 'total_completed', 'total_failed', 'total_dead', 'total_cancelled', 'total_replayed',
  'wait_buckets', 'wait_sum_ms', 'e2e_buckets', 'e2e_sum_ms',
] as const;

export type SampleRow = Record<(typeof SAMPLE_COLUMNS)[number], string | number>;

/** One sample's values in SAMPLE_COLUMNS order. */
export function sampleValues(s: QueueStats, at: number): Array<string | number> {
  const c = s.counts;
  const t = s.totals;
  return [
    s.queue, at, c.scheduled, c.queued, c.active, c.retrying, c.completed, c.dead, c.cancelled, Math.round(s.oldestAgeSeconds * 1000),
    t.enqueued, t.completed, t.failed, t.dead, t.cancelled, t.replayed,
    JSON.stringify(s.latency.wait.buckets), Math.round(s.latency.wait.sumSeconds * 1000),
    JSON.stringify(s.latency.e2e.buckets), Math.round(s.latency.e2e.sumSeconds * 1000),
  ];
}

export function rowToSample(r: SampleRow): QueueSample {
  const n = (v: string | number) => Number(v);
  return {
    queue: String(r.queue),
    at: n(r.at),
    counts: Object.fromEntries(JOB_STATES.map((s) => [s, n(r[s])])) as StateCounts,
    oldestAgeSeconds: n(r.oldest_age_ms) / 1000,
    totals: {
      enqueued: n(r.total_enqueued),
      completed: n(r.total_completed),
      failed: n(r.total_failed),
      dead: n(r.total_dead),
      cancelled: n(r.total_cancelled),
      replayed: n(r.total_replayed),
    },
    latency: { wait: histogram(r.wait_buckets, r.wait_sum_ms), e2e: histogram(r.e2e_buckets, r.e2e_sum_ms) },
  };
}

function histogram(bucketsJson: string | number, sumMs: string | number): LatencyHistogram {
  const stored = JSON.parse(String(bucketsJson)) as number[];
  // A sample written with fewer buckets than this build knows reads as zeros in the missing ones.
  const buckets = Array.from({ length: LATENCY_BUCKET_COUNT }, (_, i) => stored[i] ?? 0);
  return { buckets, count: buckets.reduce((a, b) => a + b, 0), sumSeconds: Number(sumMs) / 1000 };
}
