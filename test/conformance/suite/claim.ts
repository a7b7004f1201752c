/** jobClaimMany: batch limits, priority order with aging, paused queues, lease tokens, scheduled jobs. */
import { describe, expect, it } from 'vitest';
import type { Priority } from '../../../src/core/priority.js';
import { claim, declareQueue, enqueue, getJob, insertOk, jobInput, LEASE_MS, newClock, SECOND, statsOf, T0 } from '../../helpers/store-fixtures.js';
import { requires, type StoreFactory } from '../factory.js';

const AGING_S = 60;

export function claimSuite(factory: StoreFactory): void {
  const withClock = requires(factory, 'settableClock');

  describe(`jobClaimMany [${factory.name}]`, () => {
    it('never returns more than max, and each job once', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const receipts = await insertOk(store, Array.from({ length: 5 }, () => jobInput('q')));
      const first = await claim(store, 'q', 3);
      expect(first).toHaveLength(3);
      const second = await claim(store, 'q', 10);
      expect(second).toHaveLength(2);
      expect(await claim(store, 'q', 10)).toEqual([]);
      expect(await claim(store, 'q', 0)).toEqual([]);
      const ids = [...first, ...second].map((j) => j.id);
      expect(new Set(ids).size).toBe(5);
      expect([...ids].sort()).toEqual(receipts.map((r) => r.id).sort());
      const stats = await statsOf(store, 'q');
      expect(stats.counts.active).toBe(5);
      expect(stats.counts.queued).toBe(0);
    });

    it('claims nothing from an empty or undeclared queue', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      expect(await claim(store, 'q', 5)).toEqual([]);
      expect(await claim(store, 'nope', 5)).toEqual([]);
    });

    it('claims in priority order critical > high > normal > low, FIFO within a tier', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const order: Priority[] = ['low', 'normal', 'high', 'critical', 'low', 'high'];
      const receipts = await insertOk(store, order.map((priority) => jobInput('q', { priority })));
      const byPriority = (p: Priority) => receipts.filter((_, i) => order[i] === p).map((r) => r.id);
      const expected = [...byPriority('critical'), ...byPriority('high'), ...byPriority('normal'), ...byPriority('low')];
      const batch = await claim(store, 'q', 10);
      expect(batch.map((j) => j.id)).toEqual(expected);
      expect(batch.map((j) => j.priority)).toEqual(['critical', 'high', 'high', 'normal', 'low', 'low']);
    });

    it('one-at-a-time claims follow the same priority order', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const order: Priority[] = ['normal', 'low', 'critical', 'high'];
      const receipts = await insertOk(store, order.map((priority) => jobInput('q', { priority })));
      const seen: string[] = [];
      for (let i = 0; i < 4; i++) seen.push((await claim(store, 'q', 1))[0]!.id);
      expect(seen).toEqual([receipts[2]!.id, receipts[3]!.id, receipts[0]!.id, receipts[1]!.id]);
    });

    withClock('aging: a low job that waited one agingSeconds period goes before a normal job that just arrived', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { agingSeconds: AGING_S });
      const low = await enqueue(store, 'q', { priority: 'low' });
      clock.advance(AGING_S * SECOND + 1);
      const normal = await enqueue(store, 'q', { priority: 'normal' });
      expect((await claim(store, 'q', 2)).map((j) => j.id)).toEqual([low, normal]);
    });

    withClock('aging: a low job that waited less than one period still goes after a normal job', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { agingSeconds: AGING_S });
      const low = await enqueue(store, 'q', { priority: 'low' });
      clock.advance(AGING_S * SECOND - SECOND);
      const normal = await enqueue(store, 'q', { priority: 'normal' });
      expect((await claim(store, 'q', 2)).map((j) => j.id)).toEqual([normal, low]);
    });

    withClock('aging: one tier per period — after one period a low job still yields to a fresh high job, after two it does not', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { agingSeconds: AGING_S });
      const low = await enqueue(store, 'q', { priority: 'low' });
      clock.advance(AGING_S * SECOND + SECOND); // low is now at normal
      const high1 = await enqueue(store, 'q', { priority: 'high' });
      // A lease longer than the wait below: an expired one would be taken over by the next claim.
      expect((await claim(store, 'q', 1, 10 * AGING_S * SECOND))[0]!.id).toBe(high1);
      clock.advance(AGING_S * SECOND); // low reached high before high2 arrived
      const high2 = await enqueue(store, 'q', { priority: 'high' });
      expect((await claim(store, 'q', 2)).map((j) => j.id)).toEqual([low, high2]);
    });

    withClock('aging never lifts a job above high: due critical work always goes first', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { agingSeconds: AGING_S });
      const low = await enqueue(store, 'q', { priority: 'low' });
      const high = await enqueue(store, 'q', { priority: 'high' });
      clock.advance(1000 * AGING_S * SECOND);
      const critical = await enqueue(store, 'q', { priority: 'critical' });
      // low has risen as far as high (no further); high was there first.
      expect((await claim(store, 'q', 3)).map((j) => j.id)).toEqual([critical, high, low]);
    });

    it('a paused queue claims nothing; resuming makes its jobs claimable again', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const id = await enqueue(store, 'q');
      expect((await store.queueSetPaused({ name: 'q', paused: true }))?.paused).toBe(true);
      expect(await claim(store, 'q', 5)).toEqual([]);
      expect((await getJob(store, id)).state).toBe('queued');
      // Enqueue keeps working while paused.
      await enqueue(store, 'q');
      expect((await store.queueSetPaused({ name: 'q', paused: false }))?.paused).toBe(false);
      expect(await claim(store, 'q', 5)).toHaveLength(2);
      expect(await store.queueSetPaused({ name: 'nope', paused: true })).toBeNull();
    });

    it('hands out a distinct lease token per claim, also when the same job is claimed again', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      await insertOk(store, Array.from({ length: 4 }, () => jobInput('q')));
      const batch = await claim(store, 'q', 4);
      const tokens = batch.map((j) => j.leaseToken);
      expect(tokens.every((t) => typeof t === 'string' && t.length >= 16)).toBe(true);
      expect(new Set(tokens).size).toBe(4);
      const first = batch[0]!;
      expect(await store.jobReleaseMany({ jobs: [{ id: first.id, leaseToken: first.leaseToken }] })).toEqual([{ ok: true }]);
      const [again] = await claim(store, 'q', 1);
      expect(again?.id).toBe(first.id);
      expect(tokens).not.toContain(again!.leaseToken);
    });

    withClock('a claim marks the job active with attempt, lease expiry, startedAt and a history entry', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { maxAttempts: 4 });
      const id = await enqueue(store, 'q', { payloadJson: '{"x":1}', type: 't' });
      clock.advance(5 * SECOND);
      const [job] = await claim(store, 'q', 1, 10 * SECOND);
      expect(job).toMatchObject({ id, queue: 'q', type: 't', payloadJson: '{"x":1}', attempt: 1, maxAttempts: 4 });
      expect(job!.leaseExpiresAt).toBe(T0 + 15 * SECOND);
      const stored = await getJob(store, id);
      expect(stored.state).toBe('active');
      expect(stored.attempts).toBe(1);
      expect(stored.startedAt?.getTime()).toBe(T0 + 5 * SECOND);
      expect(stored.history.at(-1)).toEqual({ state: 'active', at: new Date(T0 + 5 * SECOND), attempt: 1 });
    });

    withClock("a job's own leaseMs beats the claim's lease", async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      await enqueue(store, 'q', { leaseMs: 2 * SECOND });
      const [job] = await claim(store, 'q', 1, LEASE_MS);
      expect(job!.leaseExpiresAt).toBe(T0 + 2 * SECOND);
    });

    withClock('a scheduled job is not claimable, not even when due, until jobPromoteDue moves it to queued', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      const id = await enqueue(store, 'q', { delayMs: 10 * SECOND });
      expect(await claim(store, 'q', 5)).toEqual([]);
      expect(await store.jobPromoteDue({ limit: 10 })).toEqual({ count: 0, queues: [] });
      clock.advance(10 * SECOND);
      expect(await claim(store, 'q', 5)).toEqual([]);
      expect((await getJob(store, id)).state).toBe('scheduled');
      expect(await store.jobPromoteDue({ limit: 10 })).toEqual({ count: 1, queues: ['q'] });
      const promoted = await getJob(store, id);
      expect(promoted.state).toBe('queued');
      expect(promoted.history.map((h) => [h.state, h.at.getTime()])).toEqual([
        ['scheduled', T0],
        ['queued', T0 + 10 * SECOND],
      ]);
      expect(await store.jobNextDueAt()).toBeNull();
      expect((await claim(store, 'q', 5)).map((j) => j.id)).toEqual([id]);
    });

    withClock('jobPromoteDue honours its limit and promotes in runAt order', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      const late = await enqueue(store, 'q', { delayMs: 3 * SECOND });
      const early = await enqueue(store, 'q', { delayMs: 1 * SECOND });
      const notDue = await enqueue(store, 'q', { delayMs: 60 * SECOND });
      expect(await store.jobNextDueAt()).toBe(T0 + 1 * SECOND);
      clock.advance(5 * SECOND);
      expect((await store.jobPromoteDue({ limit: 1 })).count).toBe(1);
      expect((await getJob(store, early)).state).toBe('queued');
      expect((await getJob(store, late)).state).toBe('scheduled');
      expect((await store.jobPromoteDue({ limit: 10 })).count).toBe(1);
      expect((await getJob(store, late)).state).toBe('queued');
      expect((await getJob(store, notDue)).state).toBe('scheduled');
      expect(await store.jobNextDueAt()).toBe(T0 + 60 * SECOND);
    });
  });
}
