/**
 * queueSampleInsertMany / queueSampleListAt / queueSampleDeleteExpired: the stats samples behind the time
 * series round-trip every field, are stamped with the store's clock, are found at or before an instant within
 * the lookback, and expire by age.
 */
import { describe, expect, it } from 'vitest';
import { LATENCY_BUCKET_COUNT } from '../../../src/core/latency.js';
import type { QueueStats } from '../../../src/storage/store.js';
import { claimOne, declareQueue, enqueue, expectAllOk, failParams, newClock, SECOND, statsOf, T0 } from '../../helpers/store-fixtures.js';
import { requires, type StoreFactory } from '../factory.js';

/** Stats with every field distinct, so a column mixed up in either direction shows. */
function distinctStats(queue: string): QueueStats {
  const buckets = (base: number) => Array.from({ length: LATENCY_BUCKET_COUNT }, (_, i) => base + i);
  return {
    queue,
    counts: { scheduled: 1, queued: 2, active: 3, retrying: 4, completed: 5, dead: 6, cancelled: 7 },
    oldestAgeSeconds: 8.5,
    totals: { enqueued: 9, completed: 10, failed: 11, dead: 12, cancelled: 13, replayed: 14 },
    latency: {
      wait: { buckets: buckets(100), count: buckets(100).reduce((a, b) => a + b, 0), sumSeconds: 15.25 },
      e2e: { buckets: buckets(200), count: buckets(200).reduce((a, b) => a + b, 0), sumSeconds: 16.5 },
    },
  };
}

export function samplesSuite(factory: StoreFactory): void {
  const withClock = requires(factory, 'settableClock');

  describe(`queue samples [${factory.name}]`, () => {
    withClock('a sample round-trips every field and is stamped with the store clock', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      expect(await store.queueSampleInsertMany({ samples: [distinctStats('q'), distinctStats('other')] })).toEqual({ at: T0 });
      const [found] = await store.queueSampleListAt({ queue: 'q', at: [T0], lookbackMs: 10 * SECOND });
      expect(found).toEqual({ ...distinctStats('q'), at: T0 });
    });

    withClock('the latest sample at or before each instant, within the lookback, in the order asked', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      const sample = async (enqueued: number) => {
        const s = distinctStats('q');
        await store.queueSampleInsertMany({ samples: [{ ...s, totals: { ...s.totals, enqueued } }] });
      };
      await sample(1); // T0
      clock.advance(10 * SECOND);
      await sample(2); // T0 + 10 s
      clock.advance(50 * SECOND);
      await sample(3); // T0 + 60 s
      const at = [T0 + 65 * SECOND, T0 - SECOND, T0, T0 + 9 * SECOND, T0 + 10 * SECOND, T0 + 45 * SECOND, T0 + 59 * SECOND];
      const found = await store.queueSampleListAt({ queue: 'q', at, lookbackMs: 30 * SECOND });
      expect(found.map((s) => s && [s.at - T0, s.totals.enqueued])).toEqual([
        [60 * SECOND, 3],
        null, // before any sample
        [0, 1],
        [0, 1],
        [10 * SECOND, 2],
        null, // the last sample (T0 + 10 s) is more than 30 s before T0 + 45 s
        null,
      ]);
      expect(await store.queueSampleListAt({ queue: 'other', at: [T0 + 60 * SECOND], lookbackMs: 60 * SECOND })).toEqual([null]);
      expect(await store.queueSampleListAt({ queue: 'q', at: [], lookbackMs: SECOND })).toEqual([]);
    });

    withClock('a second sample at the same instant replaces the first', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      await store.queueSampleInsertMany({ samples: [distinctStats('q')] });
      await enqueue(store, 'q');
      await store.queueSampleInsertMany({ samples: [await statsOf(store, 'q')] });
      const [found] = await store.queueSampleListAt({ queue: 'q', at: [T0], lookbackMs: SECOND });
      expect(found).toEqual({ ...(await statsOf(store, 'q')), at: T0 });
    });

    withClock('samples of real stats carry the counters and histograms of real work', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      await enqueue(store, 'q');
      await enqueue(store, 'q');
      clock.advance(2 * SECOND);
      const a = await claimOne(store, 'q');
      expectAllOk(await store.jobFailMany({ jobs: [failParams(a, 'dead')] }));
      const stats = await statsOf(store, 'q');
      await store.queueSampleInsertMany({ samples: [stats] });
      const [found] = await store.queueSampleListAt({ queue: 'q', at: [T0 + 2 * SECOND], lookbackMs: SECOND });
      expect(found).toEqual({ ...stats, at: T0 + 2 * SECOND });
      expect(found!.totals).toMatchObject({ enqueued: 2, failed: 1, dead: 1 });
    });

    withClock('samples older than the given age are deleted, at most `limit` per call', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      for (let i = 0; i < 5; i++) {
        await store.queueSampleInsertMany({ samples: [distinctStats('q'), distinctStats('r')] });
        clock.advance(10 * SECOND);
      }
      // Now T0 + 50 s; samples at T0 … T0 + 40 s. Older than 25 s: T0, +10, +20 (×2 queues) = 6.
      expect(await store.queueSampleDeleteExpired({ olderThanMs: 25 * SECOND, limit: 4 })).toBe(4);
      expect(await store.queueSampleDeleteExpired({ olderThanMs: 25 * SECOND, limit: 4 })).toBe(2);
      expect(await store.queueSampleDeleteExpired({ olderThanMs: 25 * SECOND, limit: 4 })).toBe(0);
      const left = await store.queueSampleListAt({ queue: 'q', at: [T0 + 20 * SECOND, T0 + 30 * SECOND], lookbackMs: 100 * SECOND });
      expect(left.map((s) => s && s.at - T0)).toEqual([null, 30 * SECOND]);
    });

    it('sampling with no queues is allowed', async () => {
      const store = await factory.open();
      expect((await store.queueSampleInsertMany({ samples: [] })).at).toEqual(expect.any(Number));
    });
  });
}
