/**
 * Claim-side lease takeover: a job whose lease expired is claimable again from its expiry by any claim on its
 * queue — no maintenance leader needed. The claim counts the lost attempt exactly as the lease reaper does
 * (history `retrying` with reason `lease-expired`, a failed-attempt total, the DLQ when attempts are spent)
 * and fences the old token. `jobLeaseNextExpiryMs` tells idle claimers when the next lease of a queue runs out.
 */
import { describe, expect } from 'vitest';
import type { Store } from '../../../src/storage/store.js';
import { claim, claimOne, declareQueue, enqueue, getJob, newClock, SECOND, statsOf, T0 } from '../../helpers/store-fixtures.js';
import { requires, type StoreFactory } from '../factory.js';

async function staleWritesAllRefused(store: Store, id: string, token: string): Promise<void> {
  expect((await store.jobCompleteMany({ jobs: [{ id, leaseToken: token, resultJson: '"late"' }] }))[0]!.ok).toBe(false);
  expect((await store.jobExtendMany({ jobs: [{ id, leaseToken: token, leaseMs: 60 * SECOND }] }))[0]!.ok).toBe(false);
  expect((await store.jobProgressSet({ id, leaseToken: token, progressJson: '1' })).ok).toBe(false);
}

export function leaseExpirySuite(factory: StoreFactory): void {
  const withClock = requires(factory, 'settableClock');

  describe(`lease takeover by claims [${factory.name}]`, () => {
    withClock('an expired lease is claimed again at once, counted as a failed attempt like the reaper does, and its old token is fenced', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      const id = await enqueue(store, 'q');
      const first = await claimOne(store, 'q', 10 * SECOND);
      clock.advance(5 * SECOND);
      expect(await claim(store, 'q')).toEqual([]); // still leased
      clock.advance(5 * SECOND + 1);
      const [second] = await claim(store, 'q', 1, 10 * SECOND);
      expect(second).toMatchObject({ id, attempt: 2 });
      expect(second!.leaseToken).not.toBe(first.leaseToken);
      expect(second!.leaseExpiresAt).toBe(T0 + 20 * SECOND + 1);

      const job = await getJob(store, id);
      expect(job).toMatchObject({ state: 'active', attempts: 2, lastError: { name: 'LeaseExpired' } });
      expect(job.history.map((h) => [h.state, h.attempt, h.reason ?? null])).toEqual([
        ['queued', 0, null],
        ['active', 1, null],
        ['retrying', 1, 'lease-expired'],
        ['queued', 1, 'due'],
        ['active', 2, null],
      ]);
      const stats = await statsOf(store, 'q');
      expect(stats.counts).toMatchObject({ queued: 0, active: 1, retrying: 0, dead: 0 });
      expect(stats.totals.failed).toBe(1);

      await staleWritesAllRefused(store, id, first.leaseToken);
      expect((await store.jobCompleteMany({ jobs: [{ id, leaseToken: second!.leaseToken, resultJson: '"ok"' }] }))[0]!.ok).toBe(true);
    });

    withClock('with attempts spent, the takeover sends the job to the DLQ and leases nothing', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      const id = await enqueue(store, 'q', { maxAttempts: 1 });
      const first = await claimOne(store, 'q', 10 * SECOND);
      clock.advance(11 * SECOND);
      expect(await claim(store, 'q')).toEqual([]);
      const job = await getJob(store, id);
      expect(job).toMatchObject({ state: 'dead', attempts: 1, lastError: { name: 'LeaseExpired' } });
      expect(job.history.at(-1)).toMatchObject({ state: 'dead', reason: 'lease-expired' });
      const stats = await statsOf(store, 'q');
      expect(stats.counts).toMatchObject({ active: 0, dead: 1 });
      expect(stats.totals).toMatchObject({ failed: 1, dead: 1 });
      await staleWritesAllRefused(store, id, first.leaseToken);
      expect(await store.jobExpiredLeaseList({ limit: 10 })).toEqual([]);
    });

    withClock('takes over only its own queue, ahead of the reaper, and a reaped job is not counted twice', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'a');
      await declareQueue(store, 'b');
      const a = await enqueue(store, 'a');
      const b = await enqueue(store, 'b');
      await claimOne(store, 'a', 10 * SECOND);
      await claimOne(store, 'b', 10 * SECOND);
      clock.advance(11 * SECOND);
      expect((await claim(store, 'a')).map((j) => j.id)).toEqual([a]);
      // Queue b was not claimed: its lease is the reaper's (still listed), untouched.
      expect((await store.jobExpiredLeaseList({ limit: 10 })).map((e) => e.id)).toEqual([b]);
      expect((await getJob(store, b)).attempts).toBe(1);
      expect((await statsOf(store, 'a')).totals.failed).toBe(1);
      expect((await statsOf(store, 'b')).totals.failed).toBe(0);
    });

    withClock('jobLeaseNextExpiryMs: how long until the earliest lease of the queue expires (0 when one already has), null when none', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      await declareQueue(store, 'other');
      expect(await store.jobLeaseNextExpiryMs({ queue: 'q' })).toBeNull();
      await enqueue(store, 'q');
      await enqueue(store, 'q');
      await enqueue(store, 'other');
      await claimOne(store, 'q', 20 * SECOND);
      clock.advance(2 * SECOND);
      await claimOne(store, 'q', 5 * SECOND);
      await claimOne(store, 'other', 1 * SECOND);
      expect(await store.jobLeaseNextExpiryMs({ queue: 'q' })).toBe(5 * SECOND);
      clock.advance(6 * SECOND);
      expect(await store.jobLeaseNextExpiryMs({ queue: 'q' })).toBe(0);
    });
  });
}
