import { describe, expect, it } from 'vitest';
import { InvalidTransitionError, JobNotFoundError, ManualClock } from '../../src/index.js';
import { forEachStore, openSpool, requires, sleep, waitAllTerminal, waitForState, waitUntil } from './harness.js';

forEachStore((store) => {
  describe('Spool.cancel and delayed jobs', () => {
    requires(store, 'settableClock')('cancels queued, scheduled and retrying jobs so they never run; refuses finished and unknown ones', async () => {
      const clock = new ManualClock();
      const { spool } = await openSpool({ clock });
      await spool.declareQueue('c', { maxAttempts: 3, backoff: { initialSeconds: 3600, maxSeconds: 3600, multiplier: 1 } });
      const ran: string[] = [];
      spool.handle('c', async (payload) => {
        const { name } = payload as { name: string };
        ran.push(name);
        if (name === 'flaky') throw new Error('first attempt fails, retry in an hour');
        return name;
      });
      const queued = await spool.enqueue('c', { name: 'queued' });
      const delayed = await spool.enqueue('c', { name: 'delayed' }, { delaySeconds: 30 });
      expect(delayed.state).toBe('scheduled');
      expect((await spool.cancel(queued.id)).state).toBe('cancelled');
      const cancelledDelayed = await spool.cancel(delayed.id);
      expect(cancelledDelayed.state).toBe('cancelled');
      expect(cancelledDelayed.history.at(-1)).toMatchObject({ state: 'cancelled', reason: 'cancel' });

      const worker = await spool.work({ queues: ['c'] });
      const flaky = await spool.enqueue('c', { name: 'flaky' });
      const ok = await spool.enqueue('c', { name: 'ok' });
      await waitForState(spool, flaky.id, 'retrying');
      expect((await spool.cancel(flaky.id)).state).toBe('cancelled');
      await waitForState(spool, ok.id, 'completed');

      clock.advance(2 * 3600_000);
      await worker.maintainer!.runOnce();
      const after = await spool.listJobs({ queue: 'c' });
      expect(Object.fromEntries(after.jobs.map((j) => [(j.payload as { name: string }).name, j.state]))).toEqual({
        queued: 'cancelled',
        delayed: 'cancelled',
        flaky: 'cancelled',
        ok: 'completed',
      });
      expect(ran.sort()).toEqual(['flaky', 'ok']);

      await expect(spool.cancel(ok.id)).rejects.toBeInstanceOf(InvalidTransitionError);
      await expect(spool.cancel(flaky.id)).rejects.toMatchObject({ code: 'invalid_transition', state: 'cancelled' });
      await expect(spool.cancel('01900000-0000-7000-8000-000000000000')).rejects.toBeInstanceOf(JobNotFoundError);
      const [stats] = await spool.stats('c');
      expect(stats!.counts).toMatchObject({ cancelled: 3, completed: 1, queued: 0, scheduled: 0, retrying: 0 });
    });

    it('lets the next job of an ordering key run when its head is cancelled', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('keyed');
      const ran: number[] = [];
      spool.handle('keyed', async (payload) => {
        ran.push((payload as { n: number }).n);
      });
      const head = await spool.enqueue('keyed', { n: 1 }, { orderingKey: 'k', delaySeconds: 3600 });
      const next = await spool.enqueue('keyed', { n: 2 }, { orderingKey: 'k' });
      await spool.work({ queues: ['keyed'] });
      // The delayed head holds the key.
      await waitUntil(async () => (await spool.getJob(next.id)).state === 'queued', 'next job queued');
      expect(ran).toEqual([]);
      await spool.cancel(head.id);
      await waitForState(spool, next.id, 'completed');
      expect(ran).toEqual([2]);
    });

    requires(store, 'settableClock')('does not start delayed jobs before their runAt, and starts them once due', async () => {
      const clock = new ManualClock();
      const { spool } = await openSpool({ clock });
      await spool.declareQueue('d');
      const started = new Map<string, number>();
      spool.handle('d', async (payload, ctx) => {
        started.set((payload as { name: string }).name, await spool.store.clockNow());
        return ctx.job.runAt.getTime();
      });
      const worker = await spool.work({ queues: ['d'], maintenance: { schedulerMaxSleepMs: 50 } });
      const t0 = clock.now();
      const inAMinute = await spool.enqueue('d', { name: 'in-a-minute' }, { delaySeconds: 60 });
      const inTwo = await spool.enqueue('d', { name: 'in-two' }, { runAt: new Date(t0 + 120_000) });
      const now = await spool.enqueue('d', { name: 'now' });
      expect(inAMinute).toMatchObject({ state: 'scheduled', runAt: new Date(t0 + 60_000) });
      await waitForState(spool, now.id, 'completed');

      await waitUntil(() => worker.maintainer!.isLeader, 'the worker to lead maintenance');
      clock.advance(59_000);
      // Let the worker's scheduler look a few times (it sleeps 50 ms at most); nothing is due yet.
      await sleep(250);
      expect((await worker.maintainer!.runOnce()).promoted).toBe(0);
      expect([...started.keys()]).toEqual(['now']);
      expect((await spool.getJob(inAMinute.id)).state).toBe('scheduled');

      clock.advance(1_000);
      // The worker's own scheduler promotes it (no runOnce here).
      const first = await waitForState(spool, inAMinute.id, 'completed');
      expect(started.get('in-a-minute')).toBeGreaterThanOrEqual(t0 + 60_000);
      expect(first.history.map((h) => [h.state, h.reason ?? null])).toEqual([
        ['scheduled', null],
        ['queued', 'due'],
        ['active', null],
        ['completed', null],
      ]);
      expect((await spool.getJob(inTwo.id)).state).toBe('scheduled');

      clock.advance(60_000);
      await waitAllTerminal(spool, [inTwo.id]);
      expect(started.get('in-two')).toBeGreaterThanOrEqual(t0 + 120_000);
    });
  });
});
