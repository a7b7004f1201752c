/** Job history: every transition recorded with its time, attempt, error and reason. */
import { describe, expect } from 'vitest';
import type { HistoryEntry } from '../../../src/core/job.js';
import { claimOne, declareQueue, enqueue, expectAllOk, failParams, getJob, newClock, SECOND, T0, testError } from '../../helpers/store-fixtures.js';
import { requires, type StoreFactory } from '../factory.js';

const at = (s: number): Date => new Date(T0 + s * SECOND);

export function historySuite(factory: StoreFactory): void {
  const withClock = requires(factory, 'settableClock');

  describe(`job history [${factory.name}]`, () => {
    withClock('records every transition of a job with time, attempt, error and reason', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { maxAttempts: 2 });
      const tick = () => clock.advance(SECOND);

      const id = await enqueue(store, 'q', { delayMs: SECOND }); // t0 scheduled
      tick();
      await store.jobPromoteDue({ limit: 10 }); // t1 queued (due)
      tick();
      const a1 = await claimOne(store, 'q'); // t2 active, attempt 1
      tick();
      expectAllOk(await store.jobFailMany({ jobs: [failParams(a1, 'retrying', { message: 'e1' })] })); // t3
      tick();
      await store.jobPromoteDue({ limit: 10 }); // t4 queued (due)
      tick();
      const a2 = await claimOne(store, 'q'); // t5 active, attempt 2
      tick();
      expectAllOk(await store.jobReleaseMany({ jobs: [{ id, leaseToken: a2.leaseToken }] })); // t6 queued, attempt given back
      tick();
      const a2b = await claimOne(store, 'q', 2 * SECOND); // t7 active, attempt 2 again
      clock.advance(3 * SECOND);
      const [expired] = await store.jobExpiredLeaseList({ limit: 10 });
      expectAllOk(
        await store.jobFailMany({ jobs: [failParams({ id, leaseToken: expired!.leaseToken }, 'dead', { message: 'e2', reason: 'lease-expired' })] }),
      ); // t10 dead
      expect(expired!.leaseToken).toBe(a2b.leaseToken);
      tick();
      await store.jobReplayDead({ queue: 'q', ids: [id] }); // t11 queued (replay), attempt 0
      tick();
      const a3 = await claimOne(store, 'q'); // t12 active, attempt 1
      tick();
      expectAllOk(await store.jobCompleteMany({ jobs: [{ id, leaseToken: a3.leaseToken, resultJson: '1' }] })); // t13

      const expected: HistoryEntry[] = [
        { state: 'scheduled', at: at(0), attempt: 0 },
        { state: 'queued', at: at(1), attempt: 0, reason: 'due' },
        { state: 'active', at: at(2), attempt: 1 },
        { state: 'retrying', at: at(3), attempt: 1, error: testError('e1'), reason: 'fail' },
        { state: 'queued', at: at(4), attempt: 1, reason: 'due' },
        { state: 'active', at: at(5), attempt: 2 },
        { state: 'queued', at: at(6), attempt: 1, reason: 'release' },
        { state: 'active', at: at(7), attempt: 2 },
        { state: 'dead', at: at(10), attempt: 2, error: testError('e2'), reason: 'lease-expired' },
        { state: 'queued', at: at(11), attempt: 0, reason: 'replay' },
        { state: 'active', at: at(12), attempt: 1 },
        { state: 'completed', at: at(13), attempt: 1 },
      ];
      const job = await getJob(store, id);
      expect(job.history).toEqual(expected);
      expect(job.state).toBe('completed');
      expect(job.finishedAt).toEqual(at(13));
    });

    withClock('records cancellation with its reason', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      const id = await enqueue(store, 'q');
      clock.advance(SECOND);
      expectAllOk(await store.jobCancelMany({ ids: [id] }));
      expect((await getJob(store, id)).history).toEqual([
        { state: 'queued', at: at(0), attempt: 0 },
        { state: 'cancelled', at: at(1), attempt: 0, reason: 'cancel' },
      ]);
    });

    withClock('a stale write adds no history entry', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      const id = await enqueue(store, 'q');
      const job = await claimOne(store, 'q');
      expectAllOk(await store.jobCompleteMany({ jobs: [{ id, leaseToken: job.leaseToken, resultJson: null }] }));
      await store.jobFailMany({ jobs: [failParams(job, 'dead')] });
      await store.jobReleaseMany({ jobs: [{ id, leaseToken: job.leaseToken }] });
      expect((await getJob(store, id)).history.map((h) => h.state)).toEqual(['queued', 'active', 'completed']);
    });
  });
}
