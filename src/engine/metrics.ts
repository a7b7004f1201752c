/**
 * The queue metrics, for the library (`spool.metrics()`, `spool.metricsRegistry()`) and the server's
 * `/metrics`: a typed snapshot of every queue's maintained stats (one stats read, never a job-table scan) and
 * the Prometheus families built from it with prom-client — job counts by state, oldest waiting age, monotonic
 * totals and the wait / enqueue→finish histograms, all labelled by queue name only. They come from the store,
 * so every process sharing it reports the same values (cluster-wide); per-process series (HTTP, admission,
 * process) are the server's (server/metrics.ts).
 *
 * prom-client has no histogram or counter whose value can be set from outside, so each family is a small
 * custom metric object (`get()` answers the values, as prom-client's own metrics do); a Registry formats them.
 * One scrape reads the store once: the families share the read while it is pending.
 */
import { Registry, type Metric } from 'prom-client';
import { LATENCY_BUCKETS_SECONDS, type LatencyHistogram } from '../core/latency.js';
import { JOB_STATES } from '../core/states.js';
import type { QueueStats } from '../storage/store.js';

export interface MetricsSnapshot {
  /** When the stats were read (this process's clock). */
  readonly at: Date;
  /** Every queue's maintained stats (or the queues asked for), by name. */
  readonly queues: readonly QueueStats[];
}

type MetricType = 'gauge' | 'counter' | 'histogram';

interface Sample {
  readonly value: number;
  readonly labels: Record<string, string | number>;
  readonly metricName?: string;
}

interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  samples(queues: readonly QueueStats[]): Sample[];
}

const total = (name: string, key: keyof QueueStats['totals'], help: string): Family => ({
  name,
  help,
  type: 'counter',
  samples: (queues) => queues.map((q) => ({ value: q.totals[key], labels: { queue: q.queue } })),
});

const histogram = (name: string, kind: 'wait' | 'e2e', help: string): Family => ({
  name,
  help,
  type: 'histogram',
  samples: (queues) => queues.flatMap((q) => histogramSamples(name, q.queue, q.latency[kind])),
});

/** The store-derived families, in exposition order. */
const FAMILIES: readonly Family[] = [
  {
    name: 'spool_queue_jobs',
    help: 'Jobs in the queue by state (maintained counters, cluster-wide).',
    type: 'gauge',
    samples: (queues) => queues.flatMap((q) => JOB_STATES.map((state) => ({ value: q.counts[state], labels: { queue: q.queue, state } }))),
  },
  {
    name: 'spool_queue_oldest_age_seconds',
    help: 'How long the oldest due queued job has waited since it became runnable (0 when none).',
    type: 'gauge',
    samples: (queues) => queues.map((q) => ({ value: q.oldestAgeSeconds, labels: { queue: q.queue } })),
  },
  total('spool_jobs_enqueued_total', 'enqueued', 'Jobs enqueued since the queue was created.'),
  total('spool_jobs_completed_total', 'completed', 'Jobs completed.'),
  total('spool_jobs_failed_total', 'failed', 'Failed attempts (handler errors, timeouts, expired leases), retried or not.'),
  {
    name: 'spool_jobs_retried_total',
    help: 'Failed attempts that were scheduled to run again (the rest of the failed attempts sent their job to the dead-letter queue).',
    type: 'counter',
    samples: (queues) => queues.map((q) => ({ value: retriedOf(q), labels: { queue: q.queue } })),
  },
  total('spool_jobs_dead_total', 'dead', 'Jobs moved to the dead-letter queue.'),
  total('spool_jobs_cancelled_total', 'cancelled', 'Waiting jobs cancelled.'),
  total('spool_jobs_replayed_total', 'replayed', 'Dead jobs replayed from the dead-letter queue.'),
  histogram('spool_job_wait_seconds', 'wait', 'Enqueue→start of first attempts, from when the job became due (its runAt).'),
  histogram('spool_job_e2e_seconds', 'e2e', 'Enqueue→finish of jobs that completed or went to the dead-letter queue.'),
];

/**
 * Failed attempts that went to `retrying`: derived exactly as failed − dead. Both drivers count a failed
 * attempt in one place (jobFailMany, in the transaction of the transition), and it sends the job either to
 * `retrying` or to `dead`, counting `total:dead` only then; no other path moves `total:failed` or
 * `total:dead` (cancel, replay, purge and retention leave the totals alone; a non-retryable failure or spent
 * attempts go to `dead`; the lease reaper fails through jobFailMany too). Both totals come from one stats
 * read, so the difference never runs backwards. If a path that fails an attempt without jobFailMany is ever
 * added, it must keep this identity or this needs a counter of its own.
 */
function retriedOf(q: QueueStats): number {
  return Math.max(0, q.totals.failed - q.totals.dead);
}

/** Names of the store-derived families (tests and docs). */
export const QUEUE_METRIC_NAMES: readonly string[] = FAMILIES.map((f) => f.name);

/** Prometheus buckets are cumulative: `le` counts everything at or below it; `+Inf` equals `_count`. */
function histogramSamples(name: string, queue: string, h: LatencyHistogram): Sample[] {
  const out: Sample[] = [];
  let cumulative = 0;
  h.buckets.forEach((n, i) => {
    cumulative += n;
    const le = i < LATENCY_BUCKETS_SECONDS.length ? LATENCY_BUCKETS_SECONDS[i]! : '+Inf';
    out.push({ metricName: `${name}_bucket`, value: cumulative, labels: { queue, le } });
  });
  out.push({ metricName: `${name}_sum`, value: h.sumSeconds, labels: { queue } });
  out.push({ metricName: `${name}_count`, value: h.count, labels: { queue } });
  return out;
}

/** A family as prom-client's Registry expects a metric: `get()` answers the current values. */
function asMetric(family: Family, read: () => Promise<MetricsSnapshot>): Metric {
  const head = { name: family.name, help: family.help, type: family.type, aggregator: 'sum' as const };
  const metric = { ...head, get: async () => ({ ...head, values: family.samples((await read()).queues) }) };
  return metric as unknown as Metric;
}

/**
 * A prom-client Registry holding the queue families; each collection (`registry.metrics()`) calls `read`
 * once, shared by every family while it is pending.
 */
export function queueMetricsRegistry(read: () => Promise<MetricsSnapshot>): Registry {
  let pending: Promise<MetricsSnapshot> | null = null;
  const shared = (): Promise<MetricsSnapshot> =>
    (pending ??= read().finally(() => {
      pending = null;
    }));
  const registry = new Registry();
  for (const family of FAMILIES) registry.registerMetric(asMetric(family, shared));
  return registry;
}
