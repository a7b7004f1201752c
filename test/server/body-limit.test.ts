/**
 * The whole-body cap (SPOOL_MAX_BODY_BYTES, default 10 MiB) as ordinary clients meet it: Node's fetch sending an
 * 11 MiB body (with Content-Length, and chunked without one) must read the 413 problem every time — not an
 * EPIPE or a reset because the server closed while the client was still sending. A client that keeps sending
 * after the 413 is cut off once the bounded drain is spent, so a hostile one cannot hold the socket.
 * The server is the real `spool serve` process: the failure showed only with client and server in separate
 * processes (in one event loop the client's writes and the server's close never interleave the same way).
 */
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { cliTestScope, spoolLong } from '../cli/spawn.js';
import { forEachStore, onCleanup } from '../engine/harness.js';
import type { StoreUnderTest } from '../helpers/stores.js';
import { call, expectProblem, type Answer } from './api-harness.js';

const { procs } = cliTestScope();

/** `spool serve` on a fresh store of this block's kind; answers its base URL. */
async function serve(store: StoreUnderTest, maxBodyBytes: number): Promise<{ base: string; call: (m: string, p: string, o?: { body?: unknown }) => Promise<Answer> }> {
  const location = await store.newLocation();
  onCleanup(() => location.dispose());
  const server = spoolLong(['serve', '--port', '0', '--db', location.url], { env: { SPOOL_MAX_BODY_BYTES: String(maxBodyBytes) } });
  procs.push(server);
  const base = (await server.waitForLine(/listening on (http:\/\/127\.0\.0\.1:\d+)$/m))[1]!;
  return { base, call: (m, p, o) => call(base, m, p, o) };
}

const TRIES = 20;
const OVER = 11 * 1024 * 1024;

async function answerOf(res: Response): Promise<Answer> {
  const text = await res.text();
  return { status: res.status, headers: res.headers, text, body: /json/.test(res.headers.get('content-type') ?? '') ? JSON.parse(text) : undefined };
}

function chunkedBody(total: number): ReadableStream<Uint8Array> {
  const piece = new Uint8Array(256 * 1024).fill(0x20);
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent === 0) controller.enqueue(new TextEncoder().encode('{"payload":"'));
      if (sent >= total) {
        controller.enqueue(new TextEncoder().encode('"}'));
        controller.close();
        return;
      }
      controller.enqueue(piece);
      sent += piece.length;
    },
  });
}

forEachStore((store) => {
  describe('request body cap over Node fetch', () => {
    it(`an 11 MiB body with Content-Length reads the 413 problem on each of ${TRIES} tries`, async () => {
      const api = await serve(store, 10 * 1024 * 1024);
      await api.call('PUT', '/v1/queues/q', { body: {} });
      const body = JSON.stringify({ payload: 'x'.repeat(OVER) });
      for (let i = 0; i < TRIES; i++) {
        const res = await fetch(`${api.base}/v1/queues/q/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body, signal: AbortSignal.timeout(30_000) }).catch(
          (error: Error & { cause?: unknown }) => {
            throw new Error(`try ${i + 1}: fetch failed instead of reading the 413: ${String(error.cause ?? error)}`);
          },
        );
        const answer = await answerOf(res);
        expectProblem(answer, 413, 'payload-too-large');
      }
      expect((await api.call('GET', '/v1/queues/q')).body.stats.totals.enqueued).toBe(0);
    }, 180_000);

    it(`a chunked 11 MiB body without Content-Length reads the 413 problem on each of ${TRIES} tries`, async () => {
      const api = await serve(store, 10 * 1024 * 1024);
      await api.call('PUT', '/v1/queues/q', { body: {} });
      for (let i = 0; i < TRIES; i++) {
        const res = await fetch(`${api.base}/v1/queues/q/jobs`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: chunkedBody(OVER),
          duplex: 'half',
          signal: AbortSignal.timeout(30_000),
        } as RequestInit).catch((error: Error & { cause?: unknown }) => {
          throw new Error(`try ${i + 1}: fetch failed instead of reading the 413: ${String(error.cause ?? error)}`);
        });
        expectProblem(await answerOf(res), 413, 'payload-too-large');
      }
      expect((await api.call('GET', '/v1/queues/q')).body.stats.totals.enqueued).toBe(0);
    }, 180_000);

    it('a client that keeps sending after the 413 gets it, then is cut off once the drain limit is spent', async () => {
      const api = await serve(store, 64 * 1024);
      const port = Number(new URL(api.base).port);
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => undefined);
      let received = '';
      socket.on('data', (c) => (received += c.toString('latin1')));
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      socket.write('POST /v1/queues/q/jobs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000000000\r\n\r\n');
      // Keep sending (1 GiB at most) until the server closes: it must, well before that.
      const piece = Buffer.alloc(64 * 1024, 0x20);
      let sent = 0;
      let open = true;
      void closed.then(() => (open = false));
      while (open && sent < 1024 * 1024 * 1024) {
        if (!socket.write(piece)) await Promise.race([new Promise((r) => socket.once('drain', r)), closed]);
        sent += piece.length;
      }
      await closed;
      expect(open).toBe(false);
      expect(received).toMatch(/^HTTP\/1\.1 413 /);
      expect(received).toMatch(/connection: close/i);
      expect(sent).toBeLessThan(1024 * 1024 * 1024);
    }, 120_000);
  });
});
