/**
 * A queue's stats as a time series for charts (`spool.queueSeries`, `GET /v1/queues/{queue}/stats`): the
 * window ending now, cut into steps; each point is the difference between the stats samples nearest the
 * step's two boundaries (the latest sample at or before each boundary, stats-sampler.ts), so a series of
 * N points costs N + 1 indexed sample reads and never touches the job table.
 *
 * Per point: the gauge at its end (counts, oldest waiting age; null without a sample), what happened during
 * the step (enqueued, completed, failed attempts, dead; 0 when a boundary has no sample), throughput, retry
 * rate, and wait / enqueue→finish percentiles estimated from the histogram buckets' deltas in the step.
 */
import { InvalidArgumentError } from '../core/errors.js';
import { EMPTY_HISTOGRAM, histogramDelta, histogramQuantile, type LatencyHistogram } from '../core/latency.js';
import type { QueueConfig } from '../core/queue-config.js';
import { JOB_STATES } from '../core/states.js';
import type { QueueRecord, QueueSample, QueueStats, StateCounts, Store } from '../storage/store.js';
import { SAMPLE_INTERVAL_MS } from '../worker/maintenance/stats-sampler.js';

export const SERIES_DEFAULTS = { windowSeconds: 3600, stepSeconds: 60 } as const;
export const SERIES_LIMITS = { minStepSeconds: 10, maxWindowSeconds: 7 * 86_400, maxPoints: 1000 } as const;

export interface SeriesOptions {
  /** Length of the series, seconds (default 3600, at most 7 days); a whole multiple of the step. */
  readonly windowSeconds?: number;
  /** Length of one point, seconds (default 60, at least 10). */
  readonly stepSeconds?: number;
}

export interface Percentiles {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
}

export interface SeriesPoint {
  /** The end of the step. */
  readonly at: Date;
  readonly counts: StateCounts | null;
  readonly oldestAgeSeconds: number | null;
  readonly enqueued: number;
  readonly completed: number;
  /** Failed attempts. */
  readonly failed: number;
  readonly dead: number;
  readonly throughputPerSecond: number;
  /** failed / (completed + failed) in the step; null when both are 0. */
  readonly retryRate: number | null;
  /** Enqueue→start (from when the job became due), from the histogram's bucket deltas in the step. */
  readonly waitSeconds: Percentiles | null;
  /** Enqueue→finish (completed or dead). */
  readonly e2eSeconds: Percentiles | null;
}

export interface QueueSeries {
  readonly queue: string;
  /** The queue's declared objectives (`slo`), for drawing them beside the series. */
  readonly slo: QueueConfig['slo'] | null;
  readonly windowSeconds: number;
  readonly stepSeconds: number;
  readonly from: Date;
  readonly to: Date;
  /** Oldest first, one per step. */
  readonly points: SeriesPoint[];
}

/** Why these window / step values are refused, or null. */
export function seriesOptionsProblem(windowSeconds: number, stepSeconds: number): string | null {
  const { minStepSeconds, maxWindowSeconds, maxPoints } = SERIES_LIMITS;
  if (!Number.isInteger(windowSeconds) || !Number.isInteger(stepSeconds)) return 'window and step are whole seconds';
  if (stepSeconds < minStepSeconds) return `step must be at least ${minStepSeconds} seconds`;
  if (windowSeconds < stepSeconds) return 'window must be at least one step';
  if (windowSeconds > maxWindowSeconds) return `window must be at most ${maxWindowSeconds} seconds (7 days)`;
  if (windowSeconds % stepSeconds !== 0) return 'window must be a whole multiple of step';
  if (windowSeconds / stepSeconds > maxPoints) return `window / step must be at most ${maxPoints} points`;
  return null;
}

/**
 * The series of a queue. A boundary before the queue was created, or before its first sample, reads as all
 * zeros, so the work of its first steps is not lost. InvalidArgumentError for refused options.
 */
export async function queueSeries(store: Store, record: QueueRecord, options: SeriesOptions = {}): Promise<QueueSeries> {
  const queue = record.name;
  const createdAt = record.createdAt.getTime();
  const windowSeconds = options.windowSeconds ?? SERIES_DEFAULTS.windowSeconds;
  const stepSeconds = options.stepSeconds ?? SERIES_DEFAULTS.stepSeconds;
  const problem = seriesOptionsProblem(windowSeconds, stepSeconds);
  if (problem) throw new InvalidArgumentError(problem);
  const stepMs = stepSeconds * 1000;
  const to = await store.clockNow();
  const from = to - windowSeconds * 1000;
  const instants = Array.from({ length: windowSeconds / stepSeconds + 1 }, (_, i) => from + i * stepMs);
  // A boundary takes the latest sample within one step or three sampling intervals, whichever is longer:
  // sampling jitter never leaves a 10 s step without its sample, and a stopped sampler shows as gaps.
  const lookbackMs = Math.max(stepMs, 3 * SAMPLE_INTERVAL_MS);
  const samples = await store.queueSampleListAt({ queue, at: instants, lookbackMs });
  const points: SeriesPoint[] = [];
  for (let i = 1; i < instants.length; i++) {
    // No sample within the lookback although the queue was created inside it: the queue has never been
    // sampled before this boundary (its first sample came late, e.g. on a loaded machine), so its totals there
    // are counted from zero and the work since creation lands in the step of the first sample. Further back,
    // a missing sample is a gap (a stopped sampler) and the step reads 0.
    const start = samples[i - 1] ?? (instants[i - 1]! - lookbackMs < createdAt ? zeroStats(queue) : null);
    points.push(point(new Date(instants[i]!), start, samples[i] ?? null, stepSeconds));
  }
  return { queue, slo: record.config.slo ?? null, windowSeconds, stepSeconds, from: new Date(from), to: new Date(to), points };
}

function point(at: Date, start: QueueStats | null, end: QueueSample | null, stepSeconds: number): SeriesPoint {
  const both = start !== null && end !== null;
  const d = (k: keyof QueueStats['totals']) => (both ? Math.max(0, end.totals[k] - start.totals[k]) : 0);
  const completed = d('completed');
  const failed = d('failed');
  const latency = (kind: 'wait' | 'e2e') => (both ? percentiles(histogramDelta(end.latency[kind], start.latency[kind])) : null);
  return {
    at,
    counts: end ? { ...end.counts } : null,
    oldestAgeSeconds: end ? end.oldestAgeSeconds : null,
    enqueued: d('enqueued'),
    completed,
    failed,
    dead: d('dead'),
    throughputPerSecond: round(completed / stepSeconds),
    retryRate: completed + failed > 0 ? round(failed / (completed + failed)) : null,
    waitSeconds: latency('wait'),
    e2eSeconds: latency('e2e'),
  };
}

function percentiles(h: LatencyHistogram): Percentiles | null {
  if (h.count === 0) return null;
  const q = (p: number) => round(histogramQuantile(h, p)!);
  return { p50: q(0.5), p95: q(0.95), p99: q(0.99) };
}

function zeroStats(queue: string): QueueStats {
  return {
    queue,
    counts: Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as StateCounts,
    oldestAgeSeconds: 0,
    totals: { enqueued: 0, completed: 0, failed: 0, dead: 0, cancelled: 0, replayed: 0 },
    latency: { wait: EMPTY_HISTOGRAM, e2e: EMPTY_HISTOGRAM },
  };
}

/** Microsecond precision: enough for the 1 ms buckets, no float noise in JSON. */
function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
