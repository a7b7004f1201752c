/**
 * GET /v1/queues/{queue}/stats over real HTTP on every store: the documented shape, values that match real
 * work (enqueues, completions, failed attempts, a job into the DLQ, wait and enqueue→finish percentiles),
 * samples taken by a running maintenance leader with a shortened interval on a ManualClock (each boundary's
 * sample is awaited, not slept for), defaults, bad parameters (400) and an unknown queue (404).
 */
import { describe, expect } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import type { Spool } from '../../src/spool.js';
import { forEachStore, requires, waitUntil } from '../engine/harness.js';
import { expectAllOk, failParams } from '../helpers/store-fixtures.js';
import { expectProblem, startApi } from './api-harness.js';

const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);
const S = 1000;

/** Wait until the running sampler has recorded the queue's current stats at the clock's current instant. */
async function sampledNow(spool: Spool, clock: ManualClock, queue: string): Promise<void> {
  await waitUntil(async () => {
    const [current] = await spool.stats(queue);
    const [sample] = await spool.store.queueSampleListAt({ queue, at: [clock.now()], lookbackMs: 1 });
    return sample?.at === clock.now() && JSON.stringify({ ...sample, at: undefined }) === JSON.stringify({ ...current, at: undefined });
  }, `a stats sample of ${queue} at ${new Date(clock.now()).toISOString()}`);
}

forEachStore((store) => {
  const withClock = requires(store, 'settableClock');

  describe('GET /v1/queues/{queue}/stats', () => {
    withClock('answers points whose values match the work done in each step', async () => {
      const clock = new ManualClock(T0);
      const api = await startApi({ clock });
      expect((await api.call('PUT', '/v1/queues/emails', { body: { maxAttempts: 3, slo: { p95CompletionSeconds: 30 } } })).status).toBe(201);
      api.spool.maintain({ sampleIntervalMs: 25 });
      await sampledNow(api.spool, clock, 'emails'); // T0: nothing yet

      // Step (T0, T0+10 s]: three enqueued at +1 s; at +2 s two start (waited 1 s), one completes, one fails.
      clock.set(T0 + 1 * S);
      for (let i = 0; i < 3; i++) expect((await api.call('POST', '/v1/queues/emails/jobs', { body: { payload: { i } } })).status).toBe(202);
      clock.set(T0 + 2 * S);
      const [a, b] = await api.spool.store.jobClaimMany({ queue: 'emails', max: 2, leaseMs: 60 * S, workerId: 'w' });
      expectAllOk(await api.spool.store.jobCompleteMany({ jobs: [{ id: a!.id, leaseToken: a!.leaseToken, resultJson: null }] }));
      expectAllOk(await api.spool.store.jobFailMany({ jobs: [failParams(b!, 'retrying', { delayMs: 3600 * S })] }));
      clock.set(T0 + 10 * S);
      await sampledNow(api.spool, clock, 'emails');

      // Step (T0+10 s, T0+20 s]: the third starts at +12 s (waited 11 s) and goes to the DLQ.
      clock.set(T0 + 12 * S);
      const [c] = await api.spool.store.jobClaimMany({ queue: 'emails', max: 1, leaseMs: 60 * S, workerId: 'w' });
      expectAllOk(await api.spool.store.jobFailMany({ jobs: [failParams(c!, 'dead')] }));
      clock.set(T0 + 20 * S);
      await sampledNow(api.spool, clock, 'emails');

      const res = await api.call('GET', '/v1/queues/emails/stats?window=30&step=10');
      expect(res.status).toBe(200);
      const body = res.body;
      expect(body).toEqual({
        queue: 'emails',
        window: 30,
        step: 10,
        from: new Date(T0 - 10 * S).toISOString(),
        to: new Date(T0 + 20 * S).toISOString(),
        slo: { p95CompletionSeconds: 30 },
        points: [expect.any(Object), expect.any(Object), expect.any(Object)],
      });
      const zero = { scheduled: 0, queued: 0, active: 0, retrying: 0, completed: 0, dead: 0, cancelled: 0 };
      expect(body.points[0]).toEqual({
        at: new Date(T0).toISOString(),
        counts: zero,
        oldestAgeSeconds: 0,
        enqueued: 0,
        completed: 0,
        failed: 0,
        dead: 0,
        throughputPerSecond: 0,
        retryRate: null,
        waitSeconds: null,
        e2eSeconds: null,
      });
      expect(body.points[1]).toEqual({
        at: new Date(T0 + 10 * S).toISOString(),
        counts: { ...zero, queued: 1, retrying: 1, completed: 1 },
        oldestAgeSeconds: 9,
        enqueued: 3,
        completed: 1,
        failed: 1,
        dead: 0,
        throughputPerSecond: 0.1,
        retryRate: 0.5,
        waitSeconds: { p50: expect.any(Number), p95: expect.any(Number), p99: expect.any(Number) },
        e2eSeconds: { p50: expect.any(Number), p95: expect.any(Number), p99: expect.any(Number) },
      });
      // Two waits of 1 s and one enqueue→finish of 1 s: every percentile inside the (0.5, 1] bucket.
      for (const v of [...Object.values(body.points[1].waitSeconds), ...Object.values(body.points[1].e2eSeconds)] as number[]) {
        expect(v).toBeGreaterThan(0.5);
        expect(v).toBeLessThanOrEqual(1);
      }
      expect(body.points[2]).toMatchObject({
        at: new Date(T0 + 20 * S).toISOString(),
        counts: { ...zero, retrying: 1, completed: 1, dead: 1 },
        oldestAgeSeconds: 0,
        enqueued: 0,
        completed: 0,
        failed: 1,
        dead: 1,
        throughputPerSecond: 0,
        retryRate: 1,
      });
      // One wait of 11 s and one enqueue→finish of 11 s: inside (10, 30].
      for (const v of [...Object.values(body.points[2].waitSeconds), ...Object.values(body.points[2].e2eSeconds)] as number[]) {
        expect(v).toBeGreaterThan(10);
        expect(v).toBeLessThanOrEqual(30);
      }

      // A window reaching back before any sample: points without samples are null gauges and zero counts.
      const longer = (await api.call('GET', '/v1/queues/emails/stats?window=120&step=10')).body;
      expect(longer.points).toHaveLength(12);
      expect(longer.points[0]).toMatchObject({ counts: null, oldestAgeSeconds: null, enqueued: 0, retryRate: null, waitSeconds: null });
      expect(longer.points.slice(-3)).toEqual(body.points);
    });

    withClock('counts the work before a new queue\'s first sample in the step of that sample (the sums telescope to the totals)', async () => {
      const clock = new ManualClock(T0);
      const api = await startApi({ clock });
      expect((await api.call('PUT', '/v1/queues/fresh', {})).status).toBe(201); // created at T0, not sampled yet
      clock.set(T0 + 1 * S);
      expect((await api.call('POST', '/v1/queues/fresh/jobs', { body: { payload: {} } })).status).toBe(202);
      const [job] = await api.spool.store.jobClaimMany({ queue: 'fresh', max: 1, leaseMs: 60 * S, workerId: 'w' });
      expectAllOk(await api.spool.store.jobCompleteMany({ jobs: [{ id: job!.id, leaseToken: job!.leaseToken, resultJson: null }] }));
      // The first sample comes late (a loaded machine): the boundary at T0+5 s has none before it.
      clock.set(T0 + 15 * S);
      api.spool.maintain({ sampleIntervalMs: 25 });
      await sampledNow(api.spool, clock, 'fresh');

      const res = await api.call('GET', '/v1/queues/fresh/stats?window=30&step=10');
      expect(res.status).toBe(200);
      const points = res.body.points as Array<{ at: string; enqueued: number; completed: number }>;
      expect(points.map((p) => p.at)).toEqual([T0 - 5 * S, T0 + 5 * S, T0 + 15 * S].map((t) => new Date(t).toISOString()));
      expect(points.map((p) => [p.enqueued, p.completed])).toEqual([[0, 0], [0, 0], [1, 1]]);
    });

    withClock('defaults to one hour in one-minute points; slo is null when the queue declares none', async () => {
      const clock = new ManualClock(T0);
      const api = await startApi({ clock });
      await api.call('PUT', '/v1/queues/q', { body: {} });
      const res = await api.call('GET', '/v1/queues/q/stats');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ queue: 'q', window: 3600, step: 60, slo: null, from: new Date(T0 - 3600 * S).toISOString(), to: new Date(T0).toISOString() });
      expect(res.body.points).toHaveLength(60);
      expect(res.body.points[59].at).toBe(new Date(T0).toISOString());
      expect(res.body.points[0].at).toBe(new Date(T0 - 59 * 60 * S).toISOString());
    });

    withClock('refuses bad window and step values (400) and unknown queues (404)', async () => {
      const api = await startApi({ clock: new ManualClock(T0) });
      await api.call('PUT', '/v1/queues/q', { body: {} });
      for (const query of [
        'window=5&step=5', // step below 10
        'step=9',
        'window=30&step=60', // window below one step
        'window=100&step=30', // not a multiple
        'window=604810&step=10', // over 7 days
        'window=20000&step=10', // 2,000 points
        'window=abc',
        'step=1.5',
        'window=-60',
        'colour=red',
      ]) {
        const res = await api.call('GET', `/v1/queues/q/stats?${query}`);
        expectProblem(res, 400);
      }
      expect((await api.call('GET', '/v1/queues/q/stats?window=604800&step=3600')).body.points).toHaveLength(168);
      expect((await api.call('GET', '/v1/queues/q/stats?window=10000&step=10')).body.points).toHaveLength(1000);
      expectProblem(await api.call('GET', '/v1/queues/nope/stats'), 404, 'queue-not-found');
    });
  });
});
