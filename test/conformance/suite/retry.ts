/** Retries and the dead-letter path: fail to retrying with a delay, promotion, dead, expired leases. */
import { describe, expect, it } from 'vitest';
import {
  claimOne,
  declareQueue,
  enqueue,
  expectAllOk,
  failParams,
  getJob,
  newClock,
  SECOND,
  statsOf,
  T0,
  testError,
} from '../../helpers/store-fixtures.js';
import { requires, type StoreFactory } from '../factory.js';

export function retrySuite(factory: StoreFactory): void {
  const withClock = requires(factory, 'settableClock');

  describe(`retries and dead jobs [${factory.name}]`, () => {
    withClock('fail to retrying waits out the delay, then jobPromoteDue queues it for the next attempt', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { maxAttempts: 3 });
      const id = await enqueue(store, 'q');
      const first = await claimOne(store, 'q');
      clock.advance(2 * SECOND);
      expectAllOk(await store.jobFailMany({ jobs: [failParams(first, 'retrying', { delayMs: 5 * SECOND, message: 'boom 1' })] }));

      const retrying = await getJob(store, id);
      expect(retrying.state).toBe('retrying');
      expect(retrying.attempts).toBe(1);
      expect(retrying.runAt.getTime()).toBe(T0 + 7 * SECOND);
      expect(retrying.lastError).toEqual(testError('boom 1'));
      expect(await store.jobNextDueAt()).toBe(T0 + 7 * SECOND);
      expect(await store.jobClaimMany({ queue: 'q', max: 1, leaseMs: 1000, workerId: 'w' })).toEqual([]);

      clock.advance(5 * SECOND - 1);
      expect((await store.jobPromoteDue({ limit: 10 })).count).toBe(0);
      expect((await getJob(store, id)).state).toBe('retrying');
      clock.advance(1);
      expect(await store.jobPromoteDue({ limit: 10 })).toEqual({ count: 1, queues: ['q'] });
      expect((await getJob(store, id)).state).toBe('queued');

      const second = await claimOne(store, 'q');
      expect(second).toMatchObject({ id, attempt: 2 });
      expect(second.leaseToken).not.toBe(first.leaseToken);
      const stats = await statsOf(store, 'q');
      expect(stats.totals.failed).toBe(1);
      expect(stats.counts).toMatchObject({ active: 1, retrying: 0, queued: 0 });
    });

    it('fail to dead finishes the job with its last error', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const id = await enqueue(store, 'q');
      const job = await claimOne(store, 'q');
      expectAllOk(await store.jobFailMany({ jobs: [failParams(job, 'dead', { message: 'fatal' })] }));
      const dead = await getJob(store, id);
      expect(dead.state).toBe('dead');
      expect(dead.finishedAt).not.toBeNull();
      expect(dead.lastError).toEqual(testError('fatal'));
      expect(dead.history.at(-1)).toMatchObject({ state: 'dead', attempt: 1, error: testError('fatal'), reason: 'fail' });
      const stats = await statsOf(store, 'q');
      expect(stats.counts).toMatchObject({ dead: 1, active: 0 });
      expect(stats.totals).toMatchObject({ failed: 1, dead: 1 });
      expect(await store.jobClaimMany({ queue: 'q', max: 5, leaseMs: 1000, workerId: 'w' })).toEqual([]);
    });

    withClock('an expired lease is listed by jobExpiredLeaseList only once it has run out', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { maxAttempts: 4 });
      await enqueue(store, 'q', { type: 'report', correlationId: 'order-1', optionsJson: '{"timeoutSeconds":3}' });
      const job = await claimOne(store, 'q', 10 * SECOND);
      expect(await store.jobExpiredLeaseList({ limit: 10 })).toEqual([]);
      clock.advance(10 * SECOND);
      expect(await store.jobExpiredLeaseList({ limit: 10 })).toEqual([]);
      clock.advance(1);
      expect(await store.jobExpiredLeaseList({ limit: 10 })).toEqual([
        { id: job.id, queue: 'q', type: 'report', correlationId: 'order-1', leaseToken: job.leaseToken, attempt: 1, maxAttempts: 4, optionsJson: '{"timeoutSeconds":3}' },
      ]);
    });

    withClock('failing an expired lease counts the attempt: the next claim is attempt 2 (release would not)', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      const id = await enqueue(store, 'q');
      await claimOne(store, 'q', 10 * SECOND);
      clock.advance(11 * SECOND);
      const [expired] = await store.jobExpiredLeaseList({ limit: 10 });
      expectAllOk(
        await store.jobFailMany({ jobs: [failParams({ id, leaseToken: expired!.leaseToken }, 'retrying', { reason: 'lease-expired', message: 'lease lost' })] }),
      );
      const reaped = await getJob(store, id);
      expect(reaped).toMatchObject({ state: 'retrying', attempts: 1 });
      expect(reaped.history.at(-1)).toMatchObject({ state: 'retrying', attempt: 1, reason: 'lease-expired' });
      expect(await store.jobExpiredLeaseList({ limit: 10 })).toEqual([]);
      await store.jobPromoteDue({ limit: 10 });
      const again = await claimOne(store, 'q');
      expect(again.attempt).toBe(2);
      // Released (graceful shutdown), the attempt is given back.
      expectAllOk(await store.jobReleaseMany({ jobs: [{ id, leaseToken: again.leaseToken }] }));
      expect((await getJob(store, id)).attempts).toBe(1);
      expect((await claimOne(store, 'q')).attempt).toBe(2);
    });

    withClock('at maxAttempts the expired lease reports attempt = maxAttempts and failing it to dead ends in the DLQ', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { maxAttempts: 2 });
      const id = await enqueue(store, 'q');
      for (let attempt = 1; attempt <= 2; attempt++) {
        const job = await claimOne(store, 'q', 10 * SECOND);
        expect(job.attempt).toBe(attempt);
        clock.advance(11 * SECOND);
        const [expired] = await store.jobExpiredLeaseList({ limit: 10 });
        expect(expired).toMatchObject({ id, attempt, maxAttempts: 2 });
        const to = expired!.attempt >= expired!.maxAttempts ? 'dead' : 'retrying';
        expectAllOk(await store.jobFailMany({ jobs: [failParams({ id, leaseToken: expired!.leaseToken }, to, { reason: 'lease-expired' })] }));
        await store.jobPromoteDue({ limit: 10 });
      }
      const dead = await getJob(store, id);
      expect(dead).toMatchObject({ state: 'dead', attempts: 2 });
      expect(dead.history.map((h) => `${h.state}:${h.attempt}`)).toEqual(['queued:0', 'active:1', 'retrying:1', 'queued:1', 'active:2', 'dead:2']);
      expect(await store.jobExpiredLeaseList({ limit: 10 })).toEqual([]);
    });

    withClock('jobExpiredLeaseList honours its limit, oldest expiry first', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      await enqueue(store, 'q');
      await enqueue(store, 'q');
      const a = await claimOne(store, 'q', 5 * SECOND);
      const b = await claimOne(store, 'q', 2 * SECOND);
      clock.advance(6 * SECOND);
      expect((await store.jobExpiredLeaseList({ limit: 1 })).map((e) => e.id)).toEqual([b.id]);
      expect((await store.jobExpiredLeaseList({ limit: 10 })).map((e) => e.id)).toEqual([b.id, a.id]);
    });
  });
}
