/**
 * Latency histograms: one set of bucket bounds (1 ms to 1 h) shared by the stores that count them, the
 * Prometheus exposition and the stats time series. The stores keep them as ordinary maintained counters,
 * per queue: `<kind>:b<i>` (observations in bucket i, not cumulative) and `<kind>:sum_ms`.
 *
 * Two kinds:
 *  - `wait` (enqueue→start): observed when a job's first attempt is claimed, measured from when the job became
 *    due — its `runAt`, which is its enqueue time unless it was delayed (`runAt` / `delaySeconds`), so a
 *    delayed job's planned delay is not counted as waiting. A job put back by a graceful shutdown (release)
 *    starts its first attempt again and is observed again; a replayed job starts a new life and is too.
 *  - `e2e` (enqueue→finish): observed when a job completes or goes to the DLQ, measured from its enqueue time.
 * No I/O here.
 */

/** Upper bounds (seconds) of the finite buckets; a last bucket (+Inf) takes everything above 3600 s. */
export const LATENCY_BUCKETS_SECONDS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600,
]);

/** Buckets per histogram, +Inf included. */
export const LATENCY_BUCKET_COUNT = LATENCY_BUCKETS_SECONDS.length + 1;

const BOUNDS_MS = LATENCY_BUCKETS_SECONDS.map((s) => s * 1000);

export type LatencyKind = 'wait' | 'e2e';
export const LATENCY_KINDS: readonly LatencyKind[] = ['wait', 'e2e'];

export interface LatencyHistogram {
  /**
   * Observations per bucket, not cumulative: `buckets[i]` counts values above the previous bound and at most
   * `LATENCY_BUCKETS_SECONDS[i]`; the last entry counts values above 3600 s (+Inf).
   */
  readonly buckets: readonly number[];
  /** Observations in all (the sum of `buckets`). */
  readonly count: number;
  readonly sumSeconds: number;
}

export interface QueueLatency {
  readonly wait: LatencyHistogram;
  readonly e2e: LatencyHistogram;
}

/** The bucket of a duration in ms (Prometheus `le`: a value equal to a bound falls in that bound's bucket). */
export function latencyBucket(ms: number): number {
  let lo = 0;
  let hi = BOUNDS_MS.length; // index of +Inf
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (ms <= BOUNDS_MS[mid]!) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

export function bucketCounterName(kind: LatencyKind, bucket: number): string {
  return `${kind}:b${bucket}`;
}

export function sumCounterName(kind: LatencyKind): string {
  return `${kind}:sum_ms`;
}

const NAMES: Record<LatencyKind, { buckets: readonly string[]; sum: string }> = {
  wait: { buckets: Array.from({ length: LATENCY_BUCKET_COUNT }, (_, i) => bucketCounterName('wait', i)), sum: sumCounterName('wait') },
  e2e: { buckets: Array.from({ length: LATENCY_BUCKET_COUNT }, (_, i) => bucketCounterName('e2e', i)), sum: sumCounterName('e2e') },
};

/** A transaction's counter accumulator (both drivers' TxContext): sums deltas per (queue, name). */
export interface CounterSink {
  count(queue: string, name: string, delta: number): void;
}

/**
 * Count one observation into a transaction's counters. The sink sums deltas per (queue, name), so a
 * transaction writes at most LATENCY_BUCKET_COUNT + 1 counter rows per queue and kind, whatever its batch size.
 */
export function observeLatency(counters: CounterSink, queue: string, kind: LatencyKind, ms: number): void {
  const d = Math.max(0, Math.round(ms));
  const names = NAMES[kind];
  counters.count(queue, names.buckets[latencyBucket(d)]!, 1);
  counters.count(queue, names.sum, d);
}

/** A queue's histograms from its counters (name → value). */
export function latencyFromCounters(values: ReadonlyMap<string, number>): QueueLatency {
  const one = (kind: LatencyKind): LatencyHistogram => {
    const buckets = Array.from({ length: LATENCY_BUCKET_COUNT }, (_, i) => values.get(bucketCounterName(kind, i)) ?? 0);
    return { buckets, count: buckets.reduce((a, b) => a + b, 0), sumSeconds: (values.get(sumCounterName(kind)) ?? 0) / 1000 };
  };
  return { wait: one('wait'), e2e: one('e2e') };
}

export const EMPTY_HISTOGRAM: LatencyHistogram = Object.freeze({
  buckets: Object.freeze(new Array<number>(LATENCY_BUCKET_COUNT).fill(0)),
  count: 0,
  sumSeconds: 0,
});

/** later − earlier, bucket by bucket (negative differences, which monotonic counters never have, become 0). */
export function histogramDelta(later: LatencyHistogram, earlier: LatencyHistogram): LatencyHistogram {
  const buckets = later.buckets.map((n, i) => Math.max(0, n - (earlier.buckets[i] ?? 0)));
  return { buckets, count: buckets.reduce((a, b) => a + b, 0), sumSeconds: Math.max(0, later.sumSeconds - earlier.sumSeconds) };
}

/**
 * The q-quantile (0 < q < 1) estimated from bucket counts as Prometheus' histogram_quantile does: linear
 * interpolation inside the bucket that holds the rank (the first bucket starts at 0); a rank in the +Inf
 * bucket answers the largest finite bound. Null without observations.
 */
export function histogramQuantile(h: LatencyHistogram, q: number): number | null {
  if (h.count === 0) return null;
  const rank = q * h.count;
  let below = 0;
  for (let i = 0; i < h.buckets.length; i++) {
    const n = h.buckets[i]!;
    if (n > 0 && below + n >= rank) {
      if (i >= LATENCY_BUCKETS_SECONDS.length) return LATENCY_BUCKETS_SECONDS[LATENCY_BUCKETS_SECONDS.length - 1]!;
      const lower = i === 0 ? 0 : LATENCY_BUCKETS_SECONDS[i - 1]!;
      const upper = LATENCY_BUCKETS_SECONDS[i]!;
      return lower + (upper - lower) * Math.max(0, Math.min(1, (rank - below) / n));
    }
    below += n;
  }
  return LATENCY_BUCKETS_SECONDS[LATENCY_BUCKETS_SECONDS.length - 1]!;
}
