/**
 * L0, the limit the HTTP accept path is measured against: a bare Fastify 5 route in a process of its own
 * (started by ./http-processes.ts like `spool serve`, and printing the same `listening on http://…` line) that
 * parses the same JSON body with Fastify's default parser and answers 202 with a receipt of the same shape and
 * a Location header — no validation, no store, no logging. Whatever H1 costs beyond this is Spool's.
 * Stops on SIGTERM.
 */
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';

async function main(): Promise<void> {
  const app = Fastify({ logger: false });
  app.post<{ Params: { queue: string }; Body: unknown }>('/v1/queues/:queue/jobs', async (request, reply) => {
    const id = randomUUID();
    reply.code(202).header('location', `/v1/jobs/${id}`);
    return { id, queue: request.params.queue, state: 'queued', statusUrl: `/v1/jobs/${id}`, createdAt: new Date().toISOString() };
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`bench L0 listening on http://127.0.0.1:${port}\n`);
  process.once('SIGTERM', () => {
    void app.close().then(() => process.exit(0));
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
