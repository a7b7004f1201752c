/** core/latency.ts: bucket boundaries (Prometheus `le`), quantile estimation and deltas. */
import { describe, expect, it } from 'vitest';
import {
  histogramDelta,
  histogramQuantile,
  LATENCY_BUCKET_COUNT,
  LATENCY_BUCKETS_SECONDS,
  latencyBucket,
  type LatencyHistogram,
} from '../../src/core/latency.js';

function histogram(entries: Record<number, number>, sumSeconds = 0): LatencyHistogram {
  const buckets = new Array<number>(LATENCY_BUCKET_COUNT).fill(0);
  for (const [i, n] of Object.entries(entries)) buckets[Number(i)] = n;
  return { buckets, count: buckets.reduce((a, b) => a + b, 0), sumSeconds };
}

describe('latencyBucket', () => {
  it('resolves 1 ms to 1 h: a value equal to a bound is in that bound’s bucket, above 1 h is +Inf', () => {
    expect(LATENCY_BUCKETS_SECONDS[0]).toBe(0.001);
    expect(LATENCY_BUCKETS_SECONDS[LATENCY_BUCKETS_SECONDS.length - 1]).toBe(3600);
    expect(LATENCY_BUCKET_COUNT).toBe(21);
    expect(latencyBucket(0)).toBe(0);
    expect(latencyBucket(1)).toBe(0);
    expect(latencyBucket(2)).toBe(1); // (1 ms, 2.5 ms]
    LATENCY_BUCKETS_SECONDS.forEach((bound, i) => {
      expect(latencyBucket(bound * 1000)).toBe(i);
      expect(latencyBucket(bound * 1000 + 0.5)).toBe(i + 1);
    });
    expect(latencyBucket(3_600_001)).toBe(20);
    expect(latencyBucket(1e12)).toBe(20);
  });
});

describe('histogramQuantile', () => {
  it('interpolates inside the bucket holding the rank, from 0 in the first bucket', () => {
    expect(histogramQuantile(histogram({}), 0.5)).toBeNull();
    expect(histogramQuantile(histogram({ 0: 4 }), 0.5)).toBeCloseTo(0.0005, 9);
    // 10 observations in (0.5, 1]: p50 is halfway through it.
    expect(histogramQuantile(histogram({ 9: 10 }), 0.5)).toBeCloseTo(0.75, 9);
    // 90 in (0.1, 0.25], 10 in (5, 10]: p50 inside the first, p95 and p99 inside the second.
    const h = histogram({ 7: 90, 12: 10 });
    expect(histogramQuantile(h, 0.5)).toBeCloseTo(0.1 + 0.15 * (50 / 90), 9);
    expect(histogramQuantile(h, 0.95)).toBeCloseTo(5 + 5 * 0.5, 9);
    expect(histogramQuantile(h, 0.99)).toBeCloseTo(5 + 5 * 0.9, 9);
  });

  it('answers the largest finite bound for a rank in +Inf', () => {
    expect(histogramQuantile(histogram({ 20: 3 }), 0.5)).toBe(3600);
  });
});

describe('histogramDelta', () => {
  it('subtracts bucket by bucket and never goes below zero', () => {
    const d = histogramDelta(histogram({ 1: 5, 2: 3 }, 10), histogram({ 1: 2, 2: 4 }, 4));
    expect(d).toEqual(histogram({ 1: 3 }, 6));
  });
});
