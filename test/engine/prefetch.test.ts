import { describe, expect, it } from 'vitest';
import { forEachStore, openSpool, sleep, waitAllTerminal } from './harness.js';

forEachStore(() => {
  describe('Worker › automatic prefetch', () => {
    it('buffers one job per slot while handlers are quick: claims take more than the free slots', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('quick', { concurrency: 4 });
      spool.handle('quick', async () => 'ok');
      const jobs = await spool.enqueueMany(Array.from({ length: 400 }, (_, i) => ({ queue: 'quick', payload: { i } })));
      const worker = await spool.work({ queues: ['quick'] });
      const done = await waitAllTerminal(spool, jobs.map((j) => j.id));
      expect(done.every((j) => j.state === 'completed')).toBe(true);
      const { claims, claimed } = worker.stats;
      expect(claimed).toBe(400);
      // Without a buffer no claim can exceed the 4 free slots; with it, most claims take 8.
      expect(claimed / claims).toBeGreaterThan(4);
    });

    it('buffers nothing while handlers are slow: never more jobs leased than slots', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('slow', { concurrency: 2 });
      spool.handle('slow', async () => {
        await sleep(60);
        return 'ok';
      });
      const jobs = await spool.enqueueMany(Array.from({ length: 12 }, (_, i) => ({ queue: 'slow', payload: { i } })));
      await spool.work({ queues: ['slow'] });
      let maxActive = 0;
      let finished = 0;
      while (finished < jobs.length) {
        const [stats] = await spool.stats('slow');
        maxActive = Math.max(maxActive, stats!.counts.active);
        finished = stats!.counts.completed;
        await sleep(5);
      }
      expect(maxActive).toBeGreaterThan(0);
      expect(maxActive).toBeLessThanOrEqual(2);
    });

    it('prefetch: 0 turns the buffer off even for quick handlers', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('quick', { concurrency: 4 });
      spool.handle('quick', async () => 'ok');
      const jobs = await spool.enqueueMany(Array.from({ length: 200 }, (_, i) => ({ queue: 'quick', payload: { i } })));
      const worker = await spool.work({ queues: ['quick'], prefetch: 0 });
      await waitAllTerminal(spool, jobs.map((j) => j.id));
      expect(worker.stats.claimed).toBe(200);
      expect(worker.stats.claimed / worker.stats.claims).toBeLessThanOrEqual(4);
    });
  });
});
