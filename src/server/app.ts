/**
 * The HTTP server (Fastify). At this stage: `/healthz` (process alive) and `/readyz` (store reachable,
 * migrations applied). The v1 API arrives with the gateway; routes translate HTTP to engine calls only.
 */
import Fastify, { type FastifyInstance } from 'fastify';
import type { Spool } from '../spool.js';

export function buildApp(spool: Spool, opts: { state: { shuttingDown: boolean } }): FastifyInstance {
  const app = Fastify({
    logger: false,
    requestTimeout: 60_000,
    bodyLimit: Number(process.env['SPOOL_MAX_BODY_BYTES'] ?? 10 * 1024 * 1024),
  });
  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async (_req, reply) => {
    if (opts.state.shuttingDown) return reply.code(503).send({ status: 'shutting down' });
    try {
      await spool.store.ping();
      return { status: 'ready', store: spool.store.kind };
    } catch (error) {
      return reply.code(503).send({ status: 'unavailable', detail: (error as Error).message });
    }
  });
  return app;
}
