/**
 * Closing the HTTP server (buildApp's `close()`, what `spool serve` does on SIGTERM) with keep-alive clients
 * connected, as a browser on the dashboard is: a connection whose request was still being answered when the
 * close began must not keep the server open until its keep-alive timeout (Fastify's default is 72 s). It
 * did: Node's server.close() closes only the connections idle at that moment, so the dashboard suite's
 * clean-up hook (close the server while the page's last request was in flight) timed out after 60 s.
 */
import { Agent, request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/app.js';
import { forEachStore, onCleanup, openSpool } from '../engine/harness.js';

/** A request over `agent` (keep-alive) whose body is sent in two parts: `finish()` sends the rest. */
function slowPost(agent: Agent, port: number, path: string, body: string): { finish(): void; answer: Promise<{ status: number; connection: string | undefined }> } {
  let finish = (): void => undefined;
  const answer = new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.write(body.slice(0, 5));
    finish = () => req.end(body.slice(5));
  });
  return { finish: () => finish(), answer };
}

forEachStore(() => {
  describe('closing the HTTP server', () => {
    it('does not wait for the keep-alive timeout of a connection whose request was in flight when the close began', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('q');
      const app = buildApp(spool, { adminToken: null });
      let arrived = (): void => undefined;
      const requestArrived = new Promise<void>((r) => (arrived = r));
      app.addHook('onRequest', async () => arrived());
      await app.listen({ host: '127.0.0.1', port: 0 });
      const port = (app.server.address() as { port: number }).port;
      // The client keeps its socket open after each answer, like a browser.
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      let closed = false;
      onCleanup(async () => {
        agent.destroy(); // frees the server on the old code, so the clean-up itself never hangs
        if (!closed) await app.close();
      });

      // The request's head has arrived, its body has not: it is in flight when the close begins.
      const post = slowPost(agent, port, '/v1/queues/q/jobs', JSON.stringify({ payload: { n: 1 } }));
      await requestArrived;
      const closing = app.close().then(() => (closed = true));
      post.finish();
      const answer = await post.answer;
      expect(answer.status).toBeLessThan(600);
      expect(answer.connection).toBe('close');
      // The server is closed long before any keep-alive timeout, although the client never closed its socket.
      const outcome = await Promise.race([closing.then(() => 'closed'), new Promise((r) => setTimeout(() => r('still open after 20 s'), 20_000))]);
      expect(outcome).toBe('closed');
    });
  });
});
