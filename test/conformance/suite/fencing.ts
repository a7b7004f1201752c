/**
 * Fenced writes: complete, fail, release, extend and progress are compare-and-set on (state = active, lease
 * token). A stale or wrong token changes nothing and is reported per item as ok:false.
 */
import { describe, expect, it } from 'vitest';
import type { ClaimedJob, Store } from '../../../src/storage/store.js';
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
  WRONG_TOKEN,
} from '../../helpers/store-fixtures.js';
import { requires, type StoreFactory } from '../factory.js';

type StaleWrite = { name: string; run: (store: Store, job: ClaimedJob, token: string) => Promise<boolean> };

/** Every fenced write, reduced to "did it report ok". */
const FENCED_WRITES: StaleWrite[] = [
  {
    name: 'jobCompleteMany',
    run: async (s, j, t) => (await s.jobCompleteMany({ jobs: [{ id: j.id, leaseToken: t, resultJson: '"late"' }] }))[0]!.ok,
  },
  { name: 'jobFailMany to retrying', run: async (s, j, t) => (await s.jobFailMany({ jobs: [failParams({ id: j.id, leaseToken: t }, 'retrying')] }))[0]!.ok },
  { name: 'jobFailMany to dead', run: async (s, j, t) => (await s.jobFailMany({ jobs: [failParams({ id: j.id, leaseToken: t }, 'dead')] }))[0]!.ok },
  { name: 'jobReleaseMany', run: async (s, j, t) => (await s.jobReleaseMany({ jobs: [{ id: j.id, leaseToken: t }] }))[0]!.ok },
  { name: 'jobExtendMany', run: async (s, j, t) => (await s.jobExtendMany({ jobs: [{ id: j.id, leaseToken: t, leaseMs: 600 * SECOND }] }))[0]!.ok },
  { name: 'jobProgressSet', run: async (s, j, t) => (await s.jobProgressSet({ id: j.id, leaseToken: t, progressJson: '{"pct":99}' })).ok },
];

export function fencingSuite(factory: StoreFactory): void {
  const withClock = requires(factory, 'settableClock');

  describe(`fenced writes [${factory.name}]`, () => {
    for (const write of FENCED_WRITES) {
      it(`${write.name} with a wrong token reports ok:false and changes nothing`, async () => {
        const store = await factory.open();
        await declareQueue(store, 'q');
        await enqueue(store, 'q');
        const job = await claimOne(store, 'q');
        const before = await getJob(store, job.id);
        const statsBefore = await statsOf(store, 'q');
        expect(await write.run(store, job, WRONG_TOKEN)).toBe(false);
        expect(await getJob(store, job.id)).toEqual(before);
        expect(await statsOf(store, 'q')).toEqual(statsBefore);
        // The real token still works afterwards: the lease was not disturbed.
        expect(await write.run(store, job, job.leaseToken)).toBe(true);
      });

      it(`${write.name} with the token of an earlier, released lease changes nothing`, async () => {
        const store = await factory.open();
        await declareQueue(store, 'q');
        await enqueue(store, 'q');
        const stale = await claimOne(store, 'q');
        expectAllOk(await store.jobReleaseMany({ jobs: [{ id: stale.id, leaseToken: stale.leaseToken }] }));
        const current = await claimOne(store, 'q');
        expect(current.id).toBe(stale.id);
        const before = await getJob(store, current.id);
        expect(await write.run(store, current, stale.leaseToken)).toBe(false);
        expect(await getJob(store, current.id)).toEqual(before);
      });
    }

    it('reports the current state of the job with a stale completion, and null for an unknown job', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      await enqueue(store, 'q');
      const job = await claimOne(store, 'q');
      expect(await store.jobCompleteMany({ jobs: [{ id: job.id, leaseToken: WRONG_TOKEN, resultJson: null }] })).toEqual([
        { ok: false, state: 'active' },
      ]);
      expect(await store.jobFailMany({ jobs: [failParams({ id: 'no-such-job', leaseToken: WRONG_TOKEN }, 'retrying')] })).toEqual([
        { ok: false, state: null },
      ]);
    });

    it('completing twice: the second completion reports ok:false and keeps the first result', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      await enqueue(store, 'q');
      const job = await claimOne(store, 'q');
      expect(await store.jobCompleteMany({ jobs: [{ id: job.id, leaseToken: job.leaseToken, resultJson: '{"n":1}' }] })).toEqual([{ ok: true }]);
      expect(await store.jobCompleteMany({ jobs: [{ id: job.id, leaseToken: job.leaseToken, resultJson: '{"n":2}' }] })).toEqual([
        { ok: false, state: 'completed' },
      ]);
      const stored = await getJob(store, job.id);
      expect(stored.result).toEqual({ n: 1 });
      expect(stored.history.filter((h) => h.state === 'completed')).toHaveLength(1);
      const stats = await statsOf(store, 'q');
      expect(stats.counts.completed).toBe(1);
      expect(stats.totals.completed).toBe(1);
    });

    it('a job listed twice in one completion batch completes once; the duplicate is reported stale', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      await enqueue(store, 'q');
      const job = await claimOne(store, 'q');
      const item = { id: job.id, leaseToken: job.leaseToken, resultJson: null };
      expect(await store.jobCompleteMany({ jobs: [item, item] })).toEqual([{ ok: true }, { ok: false, state: 'completed' }]);
      expect((await statsOf(store, 'q')).counts.completed).toBe(1);
    });

    it('a mixed batch reports each item on its own', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      await enqueue(store, 'q');
      await enqueue(store, 'q');
      const a = await claimOne(store, 'q');
      const b = await claimOne(store, 'q');
      const results = await store.jobCompleteMany({
        jobs: [
          { id: a.id, leaseToken: WRONG_TOKEN, resultJson: null },
          { id: b.id, leaseToken: b.leaseToken, resultJson: null },
        ],
      });
      expect(results).toEqual([{ ok: false, state: 'active' }, { ok: true }]);
      expect((await getJob(store, a.id)).state).toBe('active');
      expect((await getJob(store, b.id)).state).toBe('completed');
    });

    withClock('fenced writes succeed with the right token: progress, extend, complete with result', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      await enqueue(store, 'q');
      const job = await claimOne(store, 'q');
      expect(await store.jobProgressSet({ id: job.id, leaseToken: job.leaseToken, progressJson: '{"pct":50}' })).toEqual({ ok: true });
      expect((await getJob(store, job.id)).progress).toEqual({ pct: 50 });
      const [extended] = await store.jobExtendMany({ jobs: [{ id: job.id, leaseToken: job.leaseToken, leaseMs: 120 * SECOND }] });
      expect(extended?.ok).toBe(true);
      expect(extended!.leaseExpiresAt).toBe(T0 + 120 * SECOND);
      expectAllOk(await store.jobCompleteMany({ jobs: [{ id: job.id, leaseToken: job.leaseToken, resultJson: '{"ok":true}' }] }));
      const done = await getJob(store, job.id);
      expect(done.state).toBe('completed');
      expect(done.result).toEqual({ ok: true });
      expect(done.finishedAt).not.toBeNull();
    });

    withClock('an extended lease is not reaped at the old expiry; an unextended one is', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      await enqueue(store, 'q');
      await enqueue(store, 'q');
      const kept = await claimOne(store, 'q', 10 * SECOND);
      const lost = await claimOne(store, 'q', 10 * SECOND);
      clock.advance(5 * SECOND);
      expectAllOk(await store.jobExtendMany({ jobs: [{ id: kept.id, leaseToken: kept.leaseToken, leaseMs: 10 * SECOND }] }));
      clock.advance(6 * SECOND);
      expect((await store.jobExpiredLeaseList({ limit: 10 })).map((e) => e.id)).toEqual([lost.id]);
    });

    withClock('extend never moves the expiry earlier: a shorter leaseMs answers ok and keeps the expiry', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      await enqueue(store, 'q');
      const job = await claimOne(store, 'q', 120 * SECOND);
      clock.advance(1 * SECOND);
      const [shorter] = await store.jobExtendMany({ jobs: [{ id: job.id, leaseToken: job.leaseToken, leaseMs: 1.5 * SECOND }] });
      expect(shorter).toEqual({ ok: true, leaseExpiresAt: T0 + 120 * SECOND });
      clock.advance(10 * SECOND);
      expect(await store.jobExpiredLeaseList({ limit: 10 })).toEqual([]);
      const [longer] = await store.jobExtendMany({ jobs: [{ id: job.id, leaseToken: job.leaseToken, leaseMs: 200 * SECOND }] });
      expect(longer).toEqual({ ok: true, leaseExpiresAt: T0 + 211 * SECOND });
    });

    withClock('a late ack after the lease expired and the job was reaped overwrites nothing', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      await enqueue(store, 'q');
      const first = await claimOne(store, 'q', 10 * SECOND);
      clock.advance(10 * SECOND + 1);
      const [expired] = await store.jobExpiredLeaseList({ limit: 10 });
      expect(expired).toMatchObject({ id: first.id, leaseToken: first.leaseToken, attempt: 1 });
      expectAllOk(
        await store.jobFailMany({ jobs: [failParams({ id: expired!.id, leaseToken: expired!.leaseToken }, 'retrying', { reason: 'lease-expired' })] }),
      );
      const reaped = await getJob(store, first.id);

      // The first worker wakes up and reports back with its old token: nothing changes.
      for (const write of FENCED_WRITES) expect(await write.run(store, first, first.leaseToken)).toBe(false);
      expect(await getJob(store, first.id)).toEqual(reaped);
      expect(reaped.state).toBe('retrying');

      // Second attempt under a new lease; the old token still cannot touch it.
      await store.jobPromoteDue({ limit: 10 });
      const second = await claimOne(store, 'q', 10 * SECOND);
      expect(second).toMatchObject({ id: first.id, attempt: 2 });
      expect(await store.jobCompleteMany({ jobs: [{ id: first.id, leaseToken: first.leaseToken, resultJson: '"old"' }] })).toEqual([
        { ok: false, state: 'active' },
      ]);
      expectAllOk(await store.jobCompleteMany({ jobs: [{ id: second.id, leaseToken: second.leaseToken, resultJson: '"new"' }] }));
      expect((await getJob(store, first.id)).result).toBe('new');
    });
  });
}
