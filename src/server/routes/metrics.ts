/**
 * `GET /metrics`: Prometheus text format (0.0.4). The queue series come from one stats read of the store
 * (engine/metrics.ts: maintained counters, never a job-table scan, so a scrape costs the same with a million
 * jobs stored), followed by this process's HTTP, admission and Node.js series (server/metrics.ts).
 *
 * Authorised like `GET /v1/queues`: open when the server is; with SPOOL_ADMIN_TOKEN set it needs a token with
 * `read`, and a key sees only the queues its `read` grants cover (the per-process series carry no job data
 * and are shown to every reader). In the OpenAPI document as text/plain.
 */
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { queueMetricsRegistry } from '../../engine/metrics.js';
import type { ServerContext } from '../context.js';
import { processMetricsText } from '../metrics.js';
import { access } from '../route-config.js';

export function metricsRoutes(app: FastifyInstance, { spool, metrics }: ServerContext): void {
  const schema = {
    tags: ['operations'],
    operationId: 'metrics',
    summary: 'Prometheus metrics (text format 0.0.4)',
    response: { 200: { description: 'the metrics', content: { 'text/plain': { schema: { type: 'string' } } } } },
  };
  app.get('/metrics', { config: access.readQueues, schema }, async (req, reply) => {
    const snapshot = await spool.metrics();
    const visible = { ...snapshot, queues: snapshot.queues.filter((q) => req.auth.allows('read', q.queue)) };
    const parts = await Promise.all([queueMetricsRegistry(async () => visible).metrics(), metrics.text(), processMetricsText()]);
    return reply.type(Registry.PROMETHEUS_CONTENT_TYPE).send(parts.join('\n'));
  });
}
