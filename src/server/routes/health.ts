/** `/healthz` (process alive), `/readyz` (store reachable and migrated; 503 while down or shutting down), `/openapi.json`. */
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';

export function healthRoutes(app: FastifyInstance, { spool, state }: ServerContext): void {
  app.get('/healthz', { schema: { hide: true } }, async () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { hide: true } }, async (_req, reply) => {
    if (state.shuttingDown) return reply.code(503).header('retry-after', '1').send({ status: 'shutting down' });
    try {
      await spool.store.ping();
      return { status: 'ready', store: spool.store.kind };
    } catch (error) {
      return reply.code(503).header('retry-after', '2').send({ status: 'unavailable', detail: (error as Error).message });
    }
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
}
