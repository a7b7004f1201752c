/**
 * The HTTP API while its PostgreSQL store is down, on a private throwaway cluster (never the machine's shared
 * one): /readyz answers 503, an enqueue answers 503 store-unavailable with Retry-After — never a 202 — and
 * after the database is back, both recover by themselves and every 202 answered is in the store.
 */
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/app.js';
import { Spool } from '../../src/spool.js';
import { waitUntil } from '../engine/harness.js';
import { usePgCluster } from '../helpers/pg-cluster.js';
import { call } from './api-harness.js';

const cluster = usePgCluster();
const open: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close().catch(() => undefined);
});

describe('HTTP API over a PostgreSQL store that goes down', () => {
  it('answers /readyz 503 and enqueues 503 + Retry-After while down, never 202; recovers when the database is back', async () => {
    const spool = await Spool.open(`${cluster().url}?schema=spool_http_outage`);
    open.push(() => spool.close({ graceMs: 0 }));
    const app: FastifyInstance = buildApp(spool, { validateResponses: true });
    await app.listen({ host: '127.0.0.1', port: 0 });
    open.push(() => app.close());
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;

    expect((await call(base, 'PUT', '/v1/queues/q', { body: {} })).status).toBe(201);
    const accepted: string[] = [];
    const first = await call(base, 'POST', '/v1/queues/q/jobs', { body: { payload: 0 } });
    expect(first.status).toBe(202);
    accepted.push(first.body.id);

    await cluster().stop();
    const ready = await call(base, 'GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toEqual(expect.any(String));
    // The queue view may still be cached for a moment; every answer is a 503 problem, never a 202.
    for (let i = 1; i <= 5; i++) {
      const r = await call(base, 'POST', '/v1/queues/q/jobs', { body: { payload: i } });
      expect(r.status).toBe(503);
      expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(r.body.type).toBe('urn:spool:problem:store-unavailable');
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    }
    const status = await call(base, 'GET', `/v1/jobs/${first.body.id}`);
    expect(status.status).toBe(503);

    await cluster().start();
    await waitUntil(async () => (await call(base, 'GET', '/readyz')).status === 200, 'readyz to recover', { intervalMs: 200 });
    const after = await waitUntil(async () => {
      const r = await call(base, 'POST', '/v1/queues/q/jobs', { body: { payload: 'after' } });
      return r.status === 202 ? r : undefined;
    }, 'an enqueue to succeed again', { intervalMs: 200 });
    accepted.push(after.body.id);
    for (const id of accepted) expect((await spool.getJob(id)).state).toBe('queued');
    expect((await call(base, 'GET', '/v1/queues/q')).body.stats.totals.enqueued).toBe(2);
  });

  it('a database restart during a burst of POSTs: only 202s and 503s, and every 202 is in the store afterwards', async () => {
    const spool = await Spool.open(`${cluster().url}?schema=spool_http_burst`);
    open.push(() => spool.close({ graceMs: 0 }));
    const app: FastifyInstance = buildApp(spool);
    await app.listen({ host: '127.0.0.1', port: 0 });
    open.push(() => app.close());
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
    expect((await call(base, 'PUT', '/v1/queues/burst', { body: {} })).status).toBe(201);

    const accepted: string[] = [];
    const statuses = new Map<number, number>();
    let stop = false;
    let sent = 0;
    const senders = Array.from({ length: 16 }, async () => {
      while (!stop && sent < 20_000) {
        const r = await call(base, 'POST', '/v1/queues/burst/jobs', { body: { payload: { n: sent++ } } });
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status === 202) accepted.push(r.body.id as string);
        else await new Promise((resolve) => setTimeout(resolve, 20));
      }
    });
    await waitUntil(() => (accepted.length >= 200 ? true : undefined), '200 accepted before the restart', { intervalMs: 10 });
    await cluster().stop();
    await waitUntil(() => ((statuses.get(503) ?? 0) >= 20 ? true : undefined), 'refusals while the database is down', { intervalMs: 10 });
    const beforeStart = accepted.length;
    await cluster().start();
    await waitUntil(() => (accepted.length >= beforeStart + 200 ? true : undefined), '200 more accepted after the restart', { intervalMs: 50 });
    stop = true;
    await Promise.all(senders);

    expect([...statuses.keys()].sort()).toEqual([202, 503]);
    expect(new Set(accepted).size).toBe(accepted.length);
    const stored = await spool.store.jobGetMany({ ids: accepted });
    expect(stored.map((j) => j.id).sort()).toEqual([...accepted].sort());
    // A 503 whose COMMIT may have landed (connection lost during it) can leave a job nobody was told about.
    expect((await spool.stats('burst'))[0]!.totals.enqueued).toBeGreaterThanOrEqual(accepted.length);
  }, 90_000);
});
