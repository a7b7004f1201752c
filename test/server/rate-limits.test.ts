/**
 * Rate limits end to end, on every store, counted from the store's own history (each job's `active` events):
 * push delivery by two dispatchers (two nodes on one store) and in-process workers on two nodes never start
 * more than rate × t + burst jobs in any t seconds, while they do keep starting; remote pull leases over HTTP
 * get at most what the bucket holds. No throughput assertions beyond that bound.
 */
import { describe, expect, it } from 'vitest';
import type { Spool } from '../../src/spool.js';
import { forEachStore, openSpool, sleep, waitUntil } from '../engine/harness.js';
import { startApi } from './api-harness.js';
import { allowPrivateTargets, startDispatcher, startTarget } from './push-target.js';

const RATE = 20;
const BURST = RATE; // one second of starts

/** Every start (an `active` history event) of the queue's jobs, in time order (ms). */
async function startsOf(spool: Spool, queue: string): Promise<number[]> {
  const starts: number[] = [];
  let cursor: string | null = null;
  do {
    const page = await spool.listJobs({ queue, limit: 200, cursor });
    for (const job of page.jobs) for (const h of job.history) if (h.state === 'active') starts.push(h.at.getTime());
    cursor = page.nextCursor;
  } while (cursor);
  return starts.sort((a, b) => a - b);
}

/** The largest excess of starts over rate × width + burst across every window of consecutive starts. */
function worstWindow(starts: readonly number[], rate: number, burst: number): { excess: number; count: number; widthMs: number } {
  let worst = { excess: -Infinity, count: 0, widthMs: 0 };
  for (let a = 0; a < starts.length; a++) {
    for (let b = a; b < starts.length; b++) {
      const widthMs = starts[b]! - starts[a]!;
      const excess = b - a + 1 - (rate * widthMs) / 1000 - burst;
      if (excess > worst.excess) worst = { excess, count: b - a + 1, widthMs };
    }
  }
  return worst;
}

async function runFor(ms: number, spool: Spool, queue: string, atLeast: number): Promise<number[]> {
  const t0 = Date.now();
  await waitUntil(async () => Date.now() - t0 >= ms && (await startsOf(spool, queue)).length >= atLeast, `${atLeast} starts`, { timeoutMs: 30_000, intervalMs: 100 });
  return startsOf(spool, queue);
}

forEachStore(() => {
  describe('rate limits across nodes', () => {
    it(`push delivery on two nodes at ${RATE}/s: no window holds more than rate × t + burst starts`, async () => {
      allowPrivateTargets('127.0.0.1');
      const a = await openSpool();
      const b = await openSpool({ url: a.url });
      const target = await startTarget((_r, res) => res.end());
      await a.spool.declareQueue('limited', { concurrency: 50, rateLimit: { perSecond: RATE }, target: { url: target.url } });
      await a.spool.enqueueMany(Array.from({ length: 200 }, (_, i) => ({ queue: 'limited', payload: i })));
      const d1 = await startDispatcher(a.spool);
      const d2 = await startDispatcher(b.spool);
      const starts = await runFor(2000, a.spool, 'limited', BURST + 10);
      await Promise.all([d1.stop({ graceMs: 5000 }), d2.stop({ graceMs: 5000 })]);
      const all = await startsOf(a.spool, 'limited');
      expect(all.length).toBeGreaterThanOrEqual(starts.length);
      expect(all.length).toBeLessThan(200);
      // One start of slack: on PostgreSQL a start is stamped with its transaction's start, a moment before the
      // bucket lock it may have waited for.
      expect(worstWindow(all, RATE, BURST).excess).toBeLessThanOrEqual(1);
      expect(target.received.length).toBeGreaterThanOrEqual(BURST + 10);
    });

    it(`in-process workers on two nodes at ${RATE}/s: the same bound`, async () => {
      const a = await openSpool();
      const b = await openSpool({ url: a.url });
      await a.spool.declareQueue('limited', { concurrency: 50, rateLimit: { perSecond: RATE } });
      await a.spool.enqueueMany(Array.from({ length: 200 }, (_, i) => ({ queue: 'limited', payload: i })));
      const handlers = { limited: async () => undefined };
      const w1 = await a.spool.work({ queues: ['limited'], handlers, maintenance: false });
      const w2 = await b.spool.work({ queues: ['limited'], handlers, maintenance: false });
      await runFor(2000, a.spool, 'limited', BURST + 10);
      await Promise.all([w1.stop({ graceMs: 5000 }), w2.stop({ graceMs: 5000 })]);
      const all = await startsOf(a.spool, 'limited');
      expect(all.length).toBeLessThan(200);
      expect(worstWindow(all, RATE, BURST).excess).toBeLessThanOrEqual(1);
    });

    it('remote pull leases get at most the tokens in the bucket', async () => {
      const api = await startApi();
      await api.spool.declareQueue('pull', { rateLimit: { perSecond: 5 } });
      await api.spool.enqueueMany(Array.from({ length: 50 }, (_, i) => ({ queue: 'pull', payload: i })));
      const first = await api.call('POST', '/v1/queues/pull/leases', { body: { max: 100 } });
      expect(first.status).toBe(200);
      expect(first.body.jobs.length).toBeGreaterThanOrEqual(1);
      expect(first.body.jobs.length).toBeLessThanOrEqual(5);
      let leased = first.body.jobs.length as number;
      const t0 = Date.now();
      while (Date.now() - t0 < 1000) {
        leased += ((await api.call('POST', '/v1/queues/pull/leases', { body: { max: 100 } })).body.jobs as unknown[]).length;
        await sleep(50);
      }
      const starts = await startsOf(api.spool, 'pull');
      expect(starts).toHaveLength(leased);
      expect(worstWindow(starts, 5, 5).excess).toBeLessThanOrEqual(1);
      expect(leased).toBeLessThan(50);
    });
  });
});
