/** `/healthz` (process alive), `/readyz` (store reachable and migrated; 503 while down or shutting down), `/openapi.json`. */
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { ServerContext } from '../context.js';
import { jsonResponse, RETRY_AFTER_HEADER } from '../schemas/common.js';

const Status = Type.Object({ status: Type.String() });
const Ready = Type.Object({ status: Type.Literal('ready'), store: Type.String({ description: 'sqlite or postgres' }) });
const NotReady = Type.Object({ status: Type.String({ description: '`shutting down` or `unavailable`' }), detail: Type.Optional(Type.String()) });

export function healthRoutes(app: FastifyInstance, { spool, state }: ServerContext): void {
  app.get(
    '/healthz',
    { schema: { tags: ['operations'], operationId: 'healthz', summary: 'The process is alive (no store access)', response: { 200: jsonResponse('alive', Status) } } },
    async () => ({ status: 'ok' }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        tags: ['operations'],
        operationId: 'readyz',
        summary: 'The store is reachable and migrated, and the node is not shutting down',
        response: {
          200: jsonResponse('ready', Ready),
          503: jsonResponse('not ready: the store is down or the node is shutting down', NotReady, { 'retry-after': RETRY_AFTER_HEADER }),
        },
      },
    },
    async (_req, reply) => {
      if (state.shuttingDown) return reply.code(503).header('retry-after', '1').send({ status: 'shutting down' });
      try {
        await spool.store.ping();
        return { status: 'ready', store: spool.store.kind };
      } catch (error) {
        return reply.code(503).header('retry-after', '2').send({ status: 'unavailable', detail: (error as Error).message });
      }
    },
  );
  app.get(
    '/openapi.json',
    {
      schema: {
        tags: ['operations'],
        operationId: 'openapi',
        summary: 'This document (OpenAPI 3.1)',
        response: { 200: { description: 'the OpenAPI document', content: { 'application/json': { schema: { type: 'object' } } } } },
      },
    },
    async () => app.swagger(),
  );
}
