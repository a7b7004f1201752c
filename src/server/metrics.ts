/**
 * The server's own metrics — per process, unlike the queue series (engine/metrics.ts), which come from the
 * store and are the same on every node:
 *  - `spool_http_request_duration_seconds{method,route,status}`: every answered request, `route` being the
 *    Fastify route template (`/v1/queues/:queue/jobs`), never the raw URL; requests that match no route share
 *    the one label `unmatched`, so hostile URLs cannot grow the series.
 *  - `spool_admission_rejected_total{queue,reason}`: enqueues the accept path refused — `max_depth` and
 *    `max_age` (503, the queue's `admission` limits) and `rate_limit` (429, the key's limit, counted for
 *    requests to a declared queue's publish routes). Dry runs are not counted.
 *  - Node.js process metrics (CPU, memory, event loop lag, GC, handles) with the `spool_` prefix, collected
 *    once per process (prom-client's default metrics), shared by every app in it. prom-client names three of
 *    its gauges `…_total` (active handles, requests, resources), which Prometheus reserves for counters
 *    (`promtool check metrics` warns, prometheus/client_js#283); they are served as `…_all` instead.
 * One ServerMetrics per app (`buildApp`), so two servers in one process (tests) keep their own counts.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export type AdmissionReason = 'max_depth' | 'max_age' | 'rate_limit';

/** The `route` label of requests that matched no route. */
export const UNMATCHED_ROUTE = 'unmatched';

/** Request durations: 0.5 ms to 60 s (long polls and event streams last up to 30 s and more). */
const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

let processRegistry: Registry | null = null;

/** prom-client's gauges named like counters, and the names they are served under. */
const RENAMED_GAUGES: ReadonlyArray<readonly [from: string, to: string]> = [
  ['spool_nodejs_active_handles_total', 'spool_nodejs_active_handles_all'],
  ['spool_nodejs_active_requests_total', 'spool_nodejs_active_requests_all'],
  ['spool_nodejs_active_resources_total', 'spool_nodejs_active_resources_all'],
];

/** Replace each gauge of RENAMED_GAUGES in `registry` by one of the new name that reads the same value. */
function renameCounterLikeGauges(registry: Registry): void {
  for (const [from, to] of RENAMED_GAUGES) {
    const original = registry.getSingleMetric(from) as Gauge | undefined;
    if (!original) continue; // not collected on this Node.js version (active resources need ≥ 17.3)
    registry.removeSingleMetric(from);
    new Gauge({
      name: to,
      help: `Number of active ${to.slice('spool_nodejs_active_'.length, -'_all'.length)} of every type (the sum of ${to.slice(0, -'_all'.length)}).`,
      registers: [registry],
      async collect() {
        const { values } = await original.get(); // runs prom-client's own collect
        this.set(values[0]?.value ?? 0);
      },
    });
  }
}

/**
 * The Node.js default metrics of this process (the registry is created on first use, once per process), as
 * exposition text. prom-client 15 writes a NaN value as `Nan` (the event-loop lag mean before any sample);
 * the format spells it `NaN`, so it is corrected here.
 */
export async function processMetricsText(): Promise<string> {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry, prefix: 'spool_' });
    renameCounterLikeGauges(processRegistry);
  }
  return (await processRegistry.metrics()).replace(/ Nan$/gm, ' NaN');
}

export class ServerMetrics {
  readonly #registry = new Registry();
  readonly #http = new Histogram({
    name: 'spool_http_request_duration_seconds',
    help: 'HTTP request durations of this process, by method, route template and status.',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: HTTP_BUCKETS,
    registers: [this.#registry],
  });
  readonly #rejected = new Counter({
    name: 'spool_admission_rejected_total',
    help: 'Enqueue requests this process refused: max_depth / max_age (503, queue admission limits), rate_limit (429, the key’s limit).',
    labelNames: ['queue', 'reason'] as const,
    registers: [this.#registry],
  });

  /** This app's series as exposition text. */
  text(): Promise<string> {
    return this.#registry.metrics();
  }

  request(method: string, route: string | undefined, status: number, seconds: number): void {
    this.#http.observe({ method, route: route ?? UNMATCHED_ROUTE, status: String(status) }, seconds);
  }

  admissionRejected(queue: string, reason: AdmissionReason): void {
    this.#rejected.inc({ queue, reason });
  }
}
