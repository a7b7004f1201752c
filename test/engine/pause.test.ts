import { describe, expect, it } from 'vitest';
import { forEachStore, openSpool, sleep, waitAllTerminal, waitForState } from './harness.js';

forEachStore(() => {
  describe('Spool.pauseQueue / resumeQueue with a running worker', () => {
    it('stops claiming while paused (enqueue keeps working) and resumes on the resume wake-up', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('p');
      const ran: number[] = [];
      spool.handle('p', async (payload) => {
        ran.push((payload as { n: number }).n);
      });
      // No fallback poll within the test: only wake-ups (enqueue, resume) can make the worker claim.
      await spool.work({ queues: ['p'], pollIntervalMs: 60_000 });
      const first = await spool.enqueue('p', { n: 1 });
      await waitForState(spool, first.id, 'completed');

      expect((await spool.pauseQueue('p')).paused).toBe(true);
      const held = await Promise.all([2, 3, 4].map((n) => spool.enqueue('p', { n })));
      await sleep(300);
      expect(ran).toEqual([1]);
      for (const h of held) expect((await spool.getJob(h.id)).state).toBe('queued');

      expect((await spool.resumeQueue('p')).paused).toBe(false);
      const done = await waitAllTerminal(spool, held.map((h) => h.id), 5_000);
      expect(done.map((j) => j.state)).toEqual(['completed', 'completed', 'completed']);
      expect(ran.sort()).toEqual([1, 2, 3, 4]);
    });
  });
});
