/**
 * Latency histograms (QueueStats.latency): the stores count `wait` when a job's first attempt is claimed
 * (from its runAt) and `e2e` when it completes or goes to the DLQ (from its enqueue), in the transition's own
 * transaction, as maintained counters — never for retries, cancellations or stale writes.
 */
import { describe, expect } from 'vitest';
import { LATENCY_BUCKET_COUNT, latencyBucket, type LatencyHistogram } from '../../../src/core/latency.js';
import { claim, claimOne, declareQueue, enqueue, expectAllOk, failParams, newClock, SECOND, statsOf } from '../../helpers/store-fixtures.js';
import { requires, type StoreFactory } from '../factory.js';

/** A histogram with these observations (seconds), built by hand from the bucket bounds. */
function histogramOf(...seconds: number[]): LatencyHistogram {
  const buckets = new Array<number>(LATENCY_BUCKET_COUNT).fill(0);
  for (const s of seconds) buckets[latencyBucket(s * 1000)]!++;
  return { buckets, count: seconds.length, sumSeconds: seconds.reduce((a, b) => a + b, 0) };
}

export function latencySuite(factory: StoreFactory): void {
  const withClock = requires(factory, 'settableClock');

  describe(`latency histograms [${factory.name}]`, () => {
    withClock('wait counts first attempts from runAt; e2e counts completions and dead jobs from enqueue', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      await declareQueue(store, 'other');
      const a = await enqueue(store, 'q');
      const c = await enqueue(store, 'q');
      await enqueue(store, 'q', { delayMs: 5 * SECOND }); // due at +5 s
      const cancelled = await enqueue(store, 'q');
      expectAllOk(await store.jobCancelMany({ ids: [cancelled] })); // never started, never finished: not observed
      await enqueue(store, 'other');

      clock.advance(2 * SECOND);
      const [ja, jc] = await claim(store, 'q', 2); // waited 2 s each
      expect([ja!.id, jc!.id]).toEqual([a, c]);
      expectAllOk(await store.jobFailMany({ jobs: [failParams(jc!, 'retrying')] }));
      clock.advance(1 * SECOND);
      expectAllOk(await store.jobCompleteMany({ jobs: [{ id: ja!.id, leaseToken: ja!.leaseToken, resultJson: null }] })); // e2e 3 s
      await store.jobPromoteDue({ limit: 10 });
      const jc2 = await claimOne(store, 'q'); // the second attempt: no wait observed
      expect(jc2.id).toBe(c);
      clock.advance(1 * SECOND);
      expectAllOk(await store.jobFailMany({ jobs: [failParams(jc2, 'dead')] })); // e2e 4 s
      // Stale writes observe nothing.
      await store.jobCompleteMany({ jobs: [{ id: ja!.id, leaseToken: ja!.leaseToken, resultJson: null }] });
      await store.jobFailMany({ jobs: [failParams(jc2, 'dead')] });

      clock.advance(3 * SECOND); // +7 s
      await store.jobPromoteDue({ limit: 10 });
      const jb = await claimOne(store, 'q'); // due at +5 s: waited 2 s (its delay is not waiting)
      expectAllOk(await store.jobCompleteMany({ jobs: [{ id: jb.id, leaseToken: jb.leaseToken, resultJson: null }] })); // e2e 7 s

      const { latency } = await statsOf(store, 'q');
      expect(latency.wait).toEqual(histogramOf(2, 2, 2));
      expect(latency.e2e).toEqual(histogramOf(3, 4, 7));
      const other = await statsOf(store, 'other');
      expect(other.latency.wait.count + other.latency.e2e.count).toBe(0);
    });

    withClock('a batch claimed and completed together is counted once per job, in the right buckets', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      for (let i = 0; i < 30; i++) await enqueue(store, 'q');
      clock.advance(1); // exactly 1 ms: the first bucket (le 0.001)
      // Leases outlast the clock moves below (an expired lease would be taken over by the next claim).
      const first = await claim(store, 'q', 10, 2 * 3_600_000);
      clock.advance(3_600_000 - 1); // exactly 3600 s after enqueue: the last finite bucket (le 3600)
      const second = await claim(store, 'q', 10, 2 * 3_600_000);
      clock.advance(1); // 3600.001 s: +Inf
      const third = await claim(store, 'q', 10);
      const all = [...first, ...second, ...third];
      expectAllOk(await store.jobCompleteMany({ jobs: all.map((j) => ({ id: j.id, leaseToken: j.leaseToken, resultJson: null })) }));
      const { latency } = await statsOf(store, 'q');
      const wait = new Array<number>(LATENCY_BUCKET_COUNT).fill(0);
      wait[0] = 10;
      wait[LATENCY_BUCKET_COUNT - 2] = 10;
      wait[LATENCY_BUCKET_COUNT - 1] = 10;
      expect(latency.wait).toEqual({ buckets: wait, count: 30, sumSeconds: 10 * (0.001 + 3600 + 3600.001) });
      const e2e = new Array<number>(LATENCY_BUCKET_COUNT).fill(0);
      e2e[LATENCY_BUCKET_COUNT - 1] = 30;
      expect(latency.e2e).toEqual({ buckets: e2e, count: 30, sumSeconds: 30 * 3600.001 });
    });
  });
}
