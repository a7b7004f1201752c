/** Retention: jobDeleteExpired removes finished jobs past their queue's retention, never waiting ones. */
import { describe, expect } from 'vitest';
import type { Store } from '../../../src/storage/store.js';
import {
  claimOne,
  DAY,
  declareQueue,
  enqueue,
  expectAllOk,
  failParams,
  findJob,
  newClock,
  SECOND,
  statsOf,
} from '../../helpers/store-fixtures.js';
import { requires, type StoreFactory } from '../factory.js';

async function finishAs(store: Store, queue: string, how: 'completed' | 'dead' | 'retrying' | 'active'): Promise<string> {
  const id = await enqueue(store, queue);
  if (how === 'active') {
    await claimOne(store, queue, 365 * DAY);
    return id;
  }
  const job = await claimOne(store, queue);
  if (how === 'completed') expectAllOk(await store.jobCompleteMany({ jobs: [{ id, leaseToken: job.leaseToken, resultJson: null }] }));
  else expectAllOk(await store.jobFailMany({ jobs: [failParams(job, how, { delayMs: 365 * DAY })] }));
  return id;
}

export function retentionSuite(factory: StoreFactory): void {
  const withClock = requires(factory, 'settableClock');

  describe(`jobDeleteExpired [${factory.name}]`, () => {
    withClock('deletes completed and cancelled jobs after completedSeconds and dead ones after deadSeconds', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { retention: { completedSeconds: 60, deadSeconds: 120 } });
      const completed = await finishAs(store, 'q', 'completed');
      const cancelled = await enqueue(store, 'q');
      expectAllOk(await store.jobCancelMany({ ids: [cancelled] }));
      const dead = await finishAs(store, 'q', 'dead');
      await store.jobStepSet({ jobId: completed, name: 's', valueJson: '1' });

      clock.advance(60 * SECOND);
      expect(await store.jobDeleteExpired({ limit: 100 })).toBe(0);
      clock.advance(1);
      expect(await store.jobDeleteExpired({ limit: 100 })).toBe(2);
      expect(await findJob(store, completed)).toBeUndefined();
      expect(await findJob(store, cancelled)).toBeUndefined();
      expect(await findJob(store, dead)).toBeDefined();
      expect((await store.jobStepList({ jobId: completed })).size).toBe(0);

      clock.advance(60 * SECOND);
      expect(await store.jobDeleteExpired({ limit: 100 })).toBe(1);
      expect(await findJob(store, dead)).toBeUndefined();
      const stats = await statsOf(store, 'q');
      expect(stats.counts).toMatchObject({ completed: 0, cancelled: 0, dead: 0 });
      // Totals are monotonic: deleting finished jobs does not rewrite history.
      expect(stats.totals).toMatchObject({ enqueued: 3, completed: 1, cancelled: 1, dead: 1 });
    });

    withClock('never deletes waiting or running jobs, however old', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { retention: { completedSeconds: 1, deadSeconds: 1 } });
      const retrying = await finishAs(store, 'q', 'retrying');
      const active = await finishAs(store, 'q', 'active');
      const queued = await enqueue(store, 'q');
      const scheduled = await enqueue(store, 'q', { delayMs: 365 * DAY });
      clock.advance(100 * DAY);
      expect(await store.jobDeleteExpired({ limit: 100 })).toBe(0);
      expect((await store.jobGetMany({ ids: [queued, scheduled, retrying, active] })).map((j) => j.state)).toEqual([
        'queued',
        'scheduled',
        'retrying',
        'active',
      ]);
    });

    withClock("applies each queue's own retention (defaults: 7 days completed, 30 days dead)", async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'short', { retention: { completedSeconds: 60 } });
      await declareQueue(store, 'default');
      const short = await finishAs(store, 'short', 'completed');
      const long = await finishAs(store, 'default', 'completed');
      const longDead = await finishAs(store, 'default', 'dead');
      clock.advance(7 * DAY);
      expect(await store.jobDeleteExpired({ limit: 100 })).toBe(1);
      expect(await findJob(store, short)).toBeUndefined();
      expect(await findJob(store, long)).toBeDefined();
      clock.advance(1);
      expect(await store.jobDeleteExpired({ limit: 100 })).toBe(1);
      expect(await findJob(store, long)).toBeUndefined();
      clock.advance(23 * DAY);
      expect(await store.jobDeleteExpired({ limit: 100 })).toBe(1);
      expect(await findJob(store, longDead)).toBeUndefined();
    });

    withClock('deletes at most `limit` jobs per call', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { retention: { completedSeconds: 1 } });
      for (let i = 0; i < 5; i++) await finishAs(store, 'q', 'completed');
      clock.advance(2 * SECOND);
      expect(await store.jobDeleteExpired({ limit: 2 })).toBe(2);
      expect(await store.jobDeleteExpired({ limit: 2 })).toBe(2);
      expect(await store.jobDeleteExpired({ limit: 2 })).toBe(1);
      expect(await store.jobDeleteExpired({ limit: 2 })).toBe(0);
    });

    withClock('deleting an expired dead head under onDead block frees its ordering key', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { ordering: { onDead: 'block' }, retention: { deadSeconds: 10 } });
      const head = await enqueue(store, 'q', { orderingKey: 'k' });
      const next = await enqueue(store, 'q', { orderingKey: 'k' });
      const job = await claimOne(store, 'q');
      expect(job.id).toBe(head);
      expectAllOk(await store.jobFailMany({ jobs: [failParams(job, 'dead')] }));
      expect(await store.jobClaimMany({ queue: 'q', max: 10, leaseMs: 1000, workerId: 'w' })).toEqual([]);
      clock.advance(11 * SECOND);
      expect(await store.jobDeleteExpired({ limit: 100 })).toBe(1);
      expect((await claimOne(store, 'q')).id).toBe(next);
    });
  });
}
