/** queueStatsGet: maintained counters that follow every transition and equal a brute-force count. */
import { describe, expect, it } from 'vitest';
import { EMPTY_HISTOGRAM } from '../../../src/core/latency.js';
import { JOB_STATES } from '../../../src/core/states.js';
import type { StateCounts, Store } from '../../../src/storage/store.js';
import {
  bruteCounts,
  claimOne,
  declareQueue,
  enqueue,
  expectAllOk,
  failParams,
  newClock,
  SECOND,
  statsOf,
} from '../../helpers/store-fixtures.js';
import { requires, type StoreFactory } from '../factory.js';

function counts(partial: Partial<StateCounts>): StateCounts {
  return { ...(Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as StateCounts), ...partial };
}

/** The counters equal `expected` and a count of the job list itself. */
async function expectCounts(store: Store, queue: string, expected: Partial<StateCounts>): Promise<void> {
  const stats = await statsOf(store, queue);
  expect(stats.counts).toEqual(counts(expected));
  expect(stats.counts).toEqual(await bruteCounts(store, queue));
}

export function statsSuite(factory: StoreFactory): void {
  const withClock = requires(factory, 'settableClock');

  describe(`queueStatsGet [${factory.name}]`, () => {
    it('starts at zero for a new queue and lists every queue by name without a filter', async () => {
      const store = await factory.open();
      await declareQueue(store, 'b');
      await declareQueue(store, 'a');
      const all = await store.queueStatsGet({});
      expect(all.map((s) => s.queue), 'with the internal queue the migrations create').toEqual(['a', 'b', 'spool.webhooks']);
      expect(all[0]).toEqual({
        queue: 'a',
        counts: counts({}),
        oldestAgeSeconds: 0,
        totals: { enqueued: 0, completed: 0, failed: 0, dead: 0, cancelled: 0, replayed: 0 },
        latency: { wait: EMPTY_HISTOGRAM, e2e: EMPTY_HISTOGRAM },
      });
      expect((await store.queueStatsGet({ queues: ['b'] })).map((s) => s.queue)).toEqual(['b']);
    });

    withClock('counts move with each transition and always equal a brute-force count', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      await declareQueue(store, 'other');
      await enqueue(store, 'other'); // another queue's jobs never show up in q's counts

      const a = await enqueue(store, 'q');
      const b = await enqueue(store, 'q');
      await enqueue(store, 'q', { delayMs: 10 * SECOND });
      await expectCounts(store, 'q', { queued: 2, scheduled: 1 });

      const ja = await claimOne(store, 'q');
      expect(ja.id).toBe(a);
      await expectCounts(store, 'q', { queued: 1, scheduled: 1, active: 1 });

      expectAllOk(await store.jobFailMany({ jobs: [failParams(ja, 'retrying', { delayMs: 5 * SECOND })] }));
      await expectCounts(store, 'q', { queued: 1, scheduled: 1, retrying: 1 });

      clock.advance(10 * SECOND);
      await store.jobPromoteDue({ limit: 10 });
      await expectCounts(store, 'q', { queued: 3 });

      const jb = await claimOne(store, 'q');
      expect(jb.id).toBe(b);
      expectAllOk(await store.jobReleaseMany({ jobs: [{ id: jb.id, leaseToken: jb.leaseToken }] }));
      await expectCounts(store, 'q', { queued: 3 });

      const j1 = await claimOne(store, 'q');
      const j2 = await claimOne(store, 'q');
      const j3 = await claimOne(store, 'q');
      await expectCounts(store, 'q', { active: 3 });
      expectAllOk(await store.jobCompleteMany({ jobs: [{ id: j1.id, leaseToken: j1.leaseToken, resultJson: null }] }));
      expectAllOk(await store.jobFailMany({ jobs: [failParams(j2, 'dead')] }));
      await expectCounts(store, 'q', { active: 1, completed: 1, dead: 1 });

      // Stale writes do not move counters.
      await store.jobCompleteMany({ jobs: [{ id: j2.id, leaseToken: j2.leaseToken, resultJson: null }] });
      await store.jobFailMany({ jobs: [failParams(j1, 'dead')] });
      await expectCounts(store, 'q', { active: 1, completed: 1, dead: 1 });

      expect((await store.jobReplayDead({ queue: 'q', ids: [j2.id] })).count).toBe(1);
      await expectCounts(store, 'q', { active: 1, completed: 1, queued: 1 });
      expectAllOk(await store.jobCancelMany({ ids: [j2.id] }));
      await expectCounts(store, 'q', { active: 1, completed: 1, cancelled: 1 });

      expectAllOk(await store.jobFailMany({ jobs: [failParams(j3, 'dead')] }));
      expect(await store.jobDeleteDead({ queue: 'q', id: j3.id })).toBe(true);
      await expectCounts(store, 'q', { completed: 1, cancelled: 1 });

      const stats = await statsOf(store, 'q');
      expect(stats.totals).toEqual({ enqueued: 3, completed: 1, failed: 3, dead: 2, cancelled: 1, replayed: 1 });
      await expectCounts(store, 'other', { queued: 1 });
    });

    it('counts match a brute-force count after concurrent batched writes', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      await Promise.all(Array.from({ length: 20 }, () => enqueue(store, 'q')));
      const claimed = await store.jobClaimMany({ queue: 'q', max: 12, leaseMs: 30_000, workerId: 'w' });
      await Promise.all([
        store.jobCompleteMany({ jobs: claimed.slice(0, 4).map((j) => ({ id: j.id, leaseToken: j.leaseToken, resultJson: null })) }),
        store.jobFailMany({ jobs: claimed.slice(4, 8).map((j) => failParams(j, 'dead')) }),
        store.jobFailMany({ jobs: claimed.slice(8, 10).map((j) => failParams(j, 'retrying', { delayMs: 60_000 })) }),
        store.jobInsertMany({ jobs: [] }),
      ]);
      await expectCounts(store, 'q', { queued: 8, active: 2, completed: 4, dead: 4, retrying: 2 });
    });

    withClock('oldestAgeSeconds is the wait of the oldest due queued job since it became runnable', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      await enqueue(store, 'q', { delayMs: 10 * SECOND });
      clock.advance(5 * SECOND);
      expect((await statsOf(store, 'q')).oldestAgeSeconds).toBe(0); // scheduled jobs are not waiting yet
      await enqueue(store, 'q');
      clock.advance(10 * SECOND);
      expect((await statsOf(store, 'q')).oldestAgeSeconds).toBe(10);
      await store.jobPromoteDue({ limit: 10 });
      expect((await statsOf(store, 'q')).oldestAgeSeconds).toBe(10);
      await claimOne(store, 'q');
      expect((await statsOf(store, 'q')).oldestAgeSeconds).toBe(5); // the promoted one became runnable at +10 s
      await claimOne(store, 'q');
      expect((await statsOf(store, 'q')).oldestAgeSeconds).toBe(0);
    });
  });
}
