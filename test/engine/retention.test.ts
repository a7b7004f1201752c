import { describe, expect } from 'vitest';
import { JobNotFoundError, ManualClock } from '../../src/index.js';
import { forEachStore, openSpool, requires, waitAllTerminal } from './harness.js';

const SECOND = 1000;
const DAY = 86_400 * SECOND;

forEachStore((store) => {
  describe('Retention (the cleaner)', () => {
    requires(store, 'settableClock')('deletes finished jobs after their retention window and keeps waiting ones', async () => {
      const clock = new ManualClock();
      const { spool } = await openSpool({ clock });
      const retention = { completedSeconds: 60, deadSeconds: 300 };
      await spool.declareQueue('ret', { retention, maxAttempts: 1 });
      await spool.declareQueue('idle', { retention });
      spool.handle('ret', async (payload) => {
        if ((payload as { fail?: boolean }).fail) throw new Error('boom');
        return 'ok';
      });
      const worker = await spool.work({ queues: ['ret'], maintenance: { cleanIntervalMs: 3_600_000 } });

      const completed = await Promise.all([1, 2, 3].map((n) => spool.enqueue('ret', { n }, { idempotencyKey: `done-${n}` })));
      const dead = await spool.enqueue('ret', { fail: true });
      const scheduled = await spool.enqueue('ret', { later: true }, { delaySeconds: 7 * 86_400 });
      const waiting = await spool.enqueue('idle', { waits: true });
      const cancelledReceipt = await spool.enqueue('idle', { cancel: true });
      await spool.cancel(cancelledReceipt.id);
      await waitAllTerminal(spool, [...completed.map((c) => c.id), dead.id]);
      const exists = async (id: string): Promise<boolean> =>
        spool.getJob(id).then(
          () => true,
          (error: unknown) => {
            if (error instanceof JobNotFoundError) return false;
            throw error;
          },
        );

      clock.advance(59 * SECOND);
      expect((await worker.maintainer!.runOnce()).cleaned).toBe(0);
      for (const c of completed) expect(await exists(c.id)).toBe(true);
      expect(await exists(cancelledReceipt.id)).toBe(true);

      clock.advance(2 * SECOND);
      expect((await worker.maintainer!.runOnce()).cleaned).toBe(4); // three completed, one cancelled
      for (const c of completed) expect(await exists(c.id)).toBe(false);
      expect(await exists(cancelledReceipt.id)).toBe(false);
      expect(await exists(dead.id)).toBe(true);
      expect(await exists(scheduled.id)).toBe(true);
      expect(await exists(waiting.id)).toBe(true);

      clock.advance(240 * SECOND); // 301 s after the job died
      expect((await worker.maintainer!.runOnce()).cleaned).toBe(1);
      expect(await exists(dead.id)).toBe(false);
      expect((await spool.dlq.list('ret')).jobs).toEqual([]);

      // Waiting jobs are never retention's business, however old.
      expect((await spool.getJob(scheduled.id)).state).toBe('scheduled');
      expect((await spool.getJob(waiting.id)).state).toBe('queued');
      const [ret] = await spool.stats('ret');
      const [idle] = await spool.stats('idle');
      expect(ret!.counts).toMatchObject({ completed: 0, dead: 0, scheduled: 1 });
      expect(ret!.totals).toMatchObject({ completed: 3, dead: 1 });
      expect(idle!.counts).toMatchObject({ queued: 1, cancelled: 0 });

      // Idempotency keys outlive their jobs (kept at least 24 h): the same request still gets the original id.
      const again = await spool.enqueue('ret', { n: 1 }, { idempotencyKey: 'done-1' });
      expect(again).toMatchObject({ id: completed[0]!.id, replayed: true });
      clock.advance(DAY);
      await worker.maintainer!.runOnce();
      const fresh = await spool.enqueue('ret', { n: 1 }, { idempotencyKey: 'done-1' });
      expect(fresh.replayed).toBe(false);
      expect(fresh.id).not.toBe(completed[0]!.id);
    });
  });
});
