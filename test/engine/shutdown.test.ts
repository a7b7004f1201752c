import { describe, expect, it } from 'vitest';
import { aborted, deferred, forEachStore, openSpool, sleep, waitAllTerminal, waitForState, waitUntil } from './harness.js';

forEachStore(() => {
  describe('Worker.stop({graceMs})', () => {
    it('stops claiming, lets in-flight work finish within grace, releases the rest at once without spending an attempt', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('drain', { concurrency: 3, maxAttempts: 5 });
      const started: string[] = [];
      const quickMayFinish = deferred();
      let slowAbortReason: unknown;
      const slowAborted = deferred();
      spool.handle('drain', async (payload, ctx) => {
        started.push(ctx.job.id);
        const kind = (payload as { kind: string }).kind;
        if (kind === 'quick') {
          await quickMayFinish.promise;
          return 'quick done';
        }
        // 'slow' only stops when told to.
        slowAbortReason = await aborted(ctx.signal);
        slowAborted.resolve();
        return 'late result after release (must be ignored)';
      });
      const worker = await spool.work({ queues: ['drain'], prefetch: 2 });

      const quick1 = await spool.enqueue('drain', { kind: 'quick' });
      const quick2 = await spool.enqueue('drain', { kind: 'quick' });
      const slow = await spool.enqueue('drain', { kind: 'slow' });
      await waitUntil(() => started.length === 3, 'three handlers running');
      // Three more: two go into the prefetch buffer (claimed, leased, not started), one stays queued.
      const extras = [];
      for (let i = 0; i < 3; i++) extras.push(await spool.enqueue('drain', { kind: 'extra' }));
      await waitUntil(async () => (await spool.stats('drain'))[0]!.counts.active === 5, 'two prefetched jobs');

      const stopping = worker.stop({ graceMs: 1500 });
      const stopStarted = Date.now();
      // Work enqueued while the worker drains is not claimed.
      const late = await spool.enqueue('drain', { kind: 'extra' });
      await sleep(100);
      quickMayFinish.resolve();
      await stopping;
      const stopMs = Date.now() - stopStarted;

      expect(started.sort()).toEqual([quick1.id, quick2.id, slow.id].sort());
      expect((slowAbortReason as { code?: unknown }).code).toBe('shutting_down');
      await slowAborted.promise;
      // The grace period ran out for the slow handler only: stop did not wait for it any longer.
      expect(stopMs).toBeGreaterThanOrEqual(1400);
      expect(stopMs).toBeLessThan(10_000);

      for (const q of [quick1, quick2]) {
        const job = await spool.getJob(q.id);
        expect(job.state).toBe('completed');
        expect(job.result).toBe('quick done');
      }
      const released = await spool.getJob(slow.id);
      expect(released.state).toBe('queued');
      expect(released.attempts).toBe(0);
      expect(released.result).toBeNull();
      expect(released.history.at(-1)).toMatchObject({ state: 'queued', attempt: 0, reason: 'release' });

      const extraJobs = await Promise.all([...extras, late].map((e) => spool.getJob(e.id)));
      expect(extraJobs.map((j) => [j.state, j.attempts])).toEqual(extraJobs.map(() => ['queued', 0]));
      // Exactly the two prefetched ones were claimed and released.
      expect(extraJobs.filter((j) => j.history.some((h) => h.reason === 'release'))).toHaveLength(2);
      const [stats] = await spool.stats('drain');
      expect(stats!.counts).toMatchObject({ active: 0, queued: 5, completed: 2 });

      // Nothing holds a lease: the next worker takes every released job straight away, as attempt 1.
      spool.handle('drain', async (_payload, ctx) => ctx.job.attempt);
      await spool.work({ queues: ['drain'] });
      const rest = await waitAllTerminal(spool, [slow.id, ...extras.map((e) => e.id), late.id], 10_000);
      expect(rest.map((j) => [j.state, j.result])).toEqual(rest.map(() => ['completed', 1]));
    });

    it('returns as soon as in-flight work is done when that is before the grace period ends', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('short');
      const finish = deferred();
      spool.handle('short', async () => {
        await finish.promise;
        return 'ok';
      });
      const worker = await spool.work({ queues: ['short'] });
      const { id } = await spool.enqueue('short', {});
      await waitForState(spool, id, 'active');
      const stopping = worker.stop({ graceMs: 30_000 });
      setTimeout(() => finish.resolve(), 200);
      const t0 = Date.now();
      await stopping;
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(worker.running).toBe(false);
      const job = await spool.getJob(id);
      expect(job.state).toBe('completed');
      expect(job.attempts).toBe(1);
    });
  });
});
