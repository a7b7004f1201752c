/**
 * SpoolClient against a real server (buildApp on port 0) on every store: the producer calls (enqueue with
 * idempotency, dry run, batch, getJob, waitFor, listJobs, cancel), queue admin, the DLQ, the worker calls
 * (lease, ack, nack, extend, progress, release), and errors as typed classes carrying the problem+json with
 * the engine's codes; an unreachable server is a SpoolConnectionError.
 */
import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import {
  BadRequestError,
  ConflictError,
  LeaseLostError,
  NotFoundError,
  SpoolClient,
  SpoolConnectionError,
  SpoolHttpError,
  UnprocessableError,
  UnavailableError,
} from '../../src/client/index.js';
import { forEachStore, onCleanup } from '../engine/harness.js';
import { startApi } from '../server/api-harness.js';

async function client(): Promise<{ client: SpoolClient; api: Awaited<ReturnType<typeof startApi>> }> {
  const api = await startApi();
  return { client: new SpoolClient({ url: api.base }), api };
}

forEachStore(() => {
  describe('SpoolClient', () => {
    it('producer calls: enqueue (idempotent), dry run, batch, getJob, listJobs, cancel; waitFor sees a worker finish it', async () => {
      const { client: c, api } = await client();
      const q = await c.putQueue('emails', { maxAttempts: 3 });
      expect(q).toMatchObject({ name: 'emails', maxAttempts: 3, created: true, paused: false });
      expect((await c.putQueue('emails', { maxAttempts: 4 })).created).toBe(false);

      const first = await c.enqueue('emails', { to: 'ada' }, { idempotencyKey: 'k-1', priority: 'high', correlationId: 'c-1' });
      expect(first).toMatchObject({ queue: 'emails', state: 'queued', replayed: false, statusUrl: `/v1/jobs/${first.id}` });
      const again = await c.enqueue('emails', { to: 'ada' }, { idempotencyKey: 'k-1', priority: 'high', correlationId: 'c-1' });
      expect(again).toMatchObject({ id: first.id, replayed: true });
      const later = await c.enqueue('emails', { to: 'bob' }, { runAt: new Date(Date.now() + 3_600_000) });
      expect(later.state).toBe('scheduled');

      expect(await c.dryRun('emails', { to: 'eve' })).toMatchObject({ dryRun: true, valid: true, queue: 'emails', count: 1 });
      const batch = await c.enqueueBatch('emails', [{ payload: { to: 'x' } }, { payload: { to: 'y' }, idempotencyKey: 'b-2' }]);
      expect(batch.map((r) => r.state)).toEqual(['queued', 'queued']);

      const job = await c.getJob(first.id);
      expect(job).toMatchObject({ id: first.id, state: 'queued', priority: 'high', correlationId: 'c-1', payload: { to: 'ada' } });
      const page = await c.listJobs({ queue: 'emails', state: 'queued', limit: 2 });
      expect(page.jobs).toHaveLength(2);
      expect(page.nextCursor).toEqual(expect.any(String));
      const rest = await c.listJobs({ queue: 'emails', state: 'queued', cursor: page.nextCursor });
      expect([...page.jobs, ...rest.jobs]).toHaveLength(3);

      expect((await c.cancel(later.id)).state).toBe('cancelled');
      const cancelTwice = await c.cancel(later.id).catch((e: unknown) => e);
      expect(cancelTwice).toBeInstanceOf(ConflictError);
      expect(cancelTwice).toMatchObject({ status: 409, code: 'invalid_transition' });

      // waitFor: a worker (the test, through the client) completes the job while the client waits.
      const waiting = c.waitFor(first.id, { timeoutMs: 20_000 });
      const leased = await c.lease('emails', { max: 10 });
      for (const j of leased) await c.ack(j, { sent: (j.payload as { to: string }).to });
      const done = await waiting;
      expect(done).toMatchObject({ state: 'completed', result: { sent: 'ada' } });
      expect(api.spool.leases.waiting).toBe(0);
    });

    it('queue admin and the DLQ: get, list, pause/resume, dead list, replay (dry run), purge', async () => {
      const { client: c } = await client();
      await c.putQueue('reports', { maxAttempts: 1 });
      expect((await c.listQueues()).map((q) => q.name)).toEqual(['reports', 'spool.webhooks']);
      expect((await c.pause('reports')).paused).toBe(true);
      const ids = [(await c.enqueue('reports', { n: 1 })).id, (await c.enqueue('reports', { n: 2 })).id];
      expect(await c.lease('reports', { max: 5 })).toEqual([]);
      expect((await c.resume('reports')).paused).toBe(false);
      const jobs = await c.lease('reports', { max: 5 });
      expect(jobs.map((j) => j.id).sort()).toEqual([...ids].sort());
      for (const j of jobs) expect(await c.nack(j, new Error('boom'))).toEqual({ state: 'dead', runAt: null });

      const dead = await c.dlq.list('reports');
      expect(dead.jobs.map((j) => j.id).sort()).toEqual([...ids].sort());
      expect(dead.jobs[0]!.lastError).toMatchObject({ message: 'boom' });
      expect(await c.dlq.replay('reports', { all: true, dryRun: true })).toEqual({ replayed: 2, dryRun: true });
      expect(await c.dlq.replay('reports', { ids: [ids[0]!] })).toEqual({ replayed: 1, dryRun: false });
      expect((await c.getJob(ids[0]!)).state).toBe('queued');
      expect(await c.dlq.purge('reports', ids[1]!)).toBe(true);
      expect(await c.dlq.purge('reports', ids[1]!)).toBe(false);
      expect((await c.getQueue('reports')).stats.counts).toMatchObject({ queued: 1, dead: 0 });
    });

    it('worker calls: lease with long poll, extend, progress, release, ack; a stale token is a LeaseLostError', async () => {
      const { client: c, api } = await client();
      await c.putQueue('work', { backoff: { initialSeconds: 600, maxSeconds: 600, multiplier: 1 } });
      const polling = c.lease('work', { max: 2, waitSeconds: 20 });
      while (api.spool.leases.waiting === 0) await new Promise((r) => setTimeout(r, 10));
      const { id } = await c.enqueue('work', { n: 1 });
      const [job] = await polling;
      expect(job).toMatchObject({ id, attempt: 1, payload: { n: 1 } });

      const { leaseExpiresAt } = await c.extend(job!, 120);
      expect(Date.parse(leaseExpiresAt)).toBeGreaterThan(Date.now() + 100_000);
      await c.progress(job!, { step: 2 });
      expect((await c.getJob(id)).progress).toEqual({ step: 2 });
      await c.release(job!);
      const stale = await c.ack(job!).catch((e: unknown) => e);
      expect(stale).toBeInstanceOf(LeaseLostError);
      expect(stale).toMatchObject({ status: 409, code: 'lease_lost', type: 'urn:spool:problem:lease-lost' });

      const [again] = await c.lease('work', { max: 1 });
      const retry = await c.nack(again!, { message: 'later' }, { retryAfterSeconds: 300 });
      expect(retry.state).toBe('retrying');
      expect(Date.parse(retry.runAt!)).toBeGreaterThan(Date.now() + 200_000);
    });

    it('errors are typed classes with the problem+json and the engine codes', async () => {
      const { client: c } = await client();
      const missing = await c.enqueue('nope', {}).catch((e: unknown) => e);
      expect(missing).toBeInstanceOf(NotFoundError);
      expect(missing).toBeInstanceOf(SpoolHttpError);
      expect(missing).toMatchObject({ status: 404, code: 'queue_not_found', type: 'urn:spool:problem:queue-not-found', detail: expect.stringContaining('nope') });

      await c.putQueue('typed', { schema: { type: 'object', properties: { email: { type: 'string' } }, required: ['email'] } });
      const invalid = await c.enqueue('typed', { email: 42 }).catch((e: unknown) => e);
      expect(invalid).toBeInstanceOf(UnprocessableError);
      expect(invalid).toMatchObject({ status: 422, code: 'validation_failed', errors: [expect.objectContaining({ path: '/payload/email' })] });

      await c.enqueue('typed', { email: 'a' }, { idempotencyKey: 'same' });
      const reused = await c.enqueue('typed', { email: 'b' }, { idempotencyKey: 'same' }).catch((e: unknown) => e);
      expect(reused).toMatchObject({ status: 422, code: 'idempotency_key_reused' });

      const bad = await c.lease('typed', { max: 500 }).catch((e: unknown) => e);
      expect(bad).toBeInstanceOf(BadRequestError);
      expect(bad).toMatchObject({ status: 400, code: 'invalid_request' });
      const noJob = await c.getJob('0190aaaa-0000-7000-8000-000000000000').catch((e: unknown) => e);
      expect(noJob).toMatchObject({ status: 404, code: 'job_not_found' });
    });
  });
});

describe('SpoolClient transport', () => {
  it('an unreachable server is a SpoolConnectionError; a 503 with Retry-After an UnavailableError; a non-JSON error page still a SpoolHttpError', async () => {
    const server = createServer((req, res) => {
      if (req.url?.startsWith('/v1/queues/down')) {
        res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '7' });
        res.end(JSON.stringify({ type: 'urn:spool:problem:store-unavailable', title: 'Store unavailable', status: 503, detail: 'database down' }));
      } else {
        res.writeHead(502, { 'content-type': 'text/html' });
        res.end('<html>bad gateway</html>');
      }
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    onCleanup(() => new Promise<void>((r) => server.close(() => r())));
    const port = (server.address() as { port: number }).port;
    const c = new SpoolClient({ url: `http://127.0.0.1:${port}/`, token: 'secret' });

    const down = await c.getQueue('down').catch((e: unknown) => e);
    expect(down).toBeInstanceOf(UnavailableError);
    expect(down).toMatchObject({ status: 503, code: 'store_unavailable', retryAfterSeconds: 7, detail: 'database down' });
    const proxy = await c.getQueue('other').catch((e: unknown) => e);
    expect(proxy).toBeInstanceOf(SpoolHttpError);
    expect(proxy).toMatchObject({ status: 502, code: 'http_502', detail: '<html>bad gateway</html>' });

    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const freePort = (closed.address() as { port: number }).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const refused = await new SpoolClient({ url: `http://127.0.0.1:${freePort}` }).getQueue('x').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SpoolConnectionError);
    expect(refused).toMatchObject({ code: 'connection_failed', message: expect.stringContaining('ECONNREFUSED') });
    expect(() => new SpoolClient({ url: 'not a url' })).toThrow(TypeError);
  });

  it('a request past its time limit is a SpoolConnectionError with code timeout; an aborted long poll rejects with the abort', async () => {
    const server = createServer(() => {
      /* never answers */
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    onCleanup(() => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    });
    const port = (server.address() as { port: number }).port;
    const c = new SpoolClient({ url: `http://127.0.0.1:${port}`, timeoutMs: 200 });
    const slow = await c.getQueue('x').catch((e: unknown) => e);
    expect(slow).toMatchObject({ code: 'timeout' });
    expect(slow).toBeInstanceOf(SpoolConnectionError);

    const gone = new AbortController();
    const polling = c.lease('x', { max: 1, waitSeconds: 20, signal: gone.signal }).catch((e: unknown) => e);
    gone.abort(new Error('stopping'));
    expect(await polling).toMatchObject({ message: 'stopping' });
  });
});
