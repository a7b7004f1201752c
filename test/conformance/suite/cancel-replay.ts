/** Operator writes: cancel, DLQ replay (by id, all, dry run), DLQ purge (jobDeleteDead). */
import { describe, expect, it } from 'vitest';
import { QueueNotFoundError } from '../../../src/core/errors.js';
import type { Store } from '../../../src/storage/store.js';
import {
  bruteCounts,
  claimOne,
  declareQueue,
  enqueue,
  expectAllOk,
  failParams,
  findJob,
  getJob,
  newClock,
  SECOND,
  statsOf,
  T0,
} from '../../helpers/store-fixtures.js';
import { requires, type StoreFactory } from '../factory.js';

/** Enqueue, claim and fail a job to dead after `attempts` attempts (retrying in between). */
async function deadJob(store: Store, queue: string, attempts = 1): Promise<string> {
  const id = await enqueue(store, queue);
  for (let i = 1; i <= attempts; i++) {
    const job = await claimOne(store, queue);
    expect(job.id).toBe(id);
    const to = i === attempts ? 'dead' : 'retrying';
    expectAllOk(await store.jobFailMany({ jobs: [failParams(job, to, { message: `attempt ${i}` })] }));
    await store.jobPromoteDue({ limit: 10 });
  }
  return id;
}

export function cancelReplaySuite(factory: StoreFactory): void {
  const withClock = requires(factory, 'settableClock');

  describe(`jobCancelMany [${factory.name}]`, () => {
    it('cancels queued and scheduled jobs', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const queued = await enqueue(store, 'q');
      const scheduled = await enqueue(store, 'q', { delayMs: 3600 * SECOND });
      expect(await store.jobCancelMany({ ids: [queued, scheduled] })).toEqual([
        { id: queued, ok: true, state: 'cancelled' },
        { id: scheduled, ok: true, state: 'cancelled' },
      ]);
      for (const id of [queued, scheduled]) {
        const job = await getJob(store, id);
        expect(job.state).toBe('cancelled');
        expect(job.finishedAt).not.toBeNull();
        expect(job.history.at(-1)).toMatchObject({ state: 'cancelled', reason: 'cancel' });
      }
      expect(await store.jobClaimMany({ queue: 'q', max: 5, leaseMs: 1000, workerId: 'w' })).toEqual([]);
      expect(await store.jobNextDueAt()).toBeNull();
      const stats = await statsOf(store, 'q');
      expect(stats.counts).toMatchObject({ queued: 0, scheduled: 0, cancelled: 2 });
      expect(stats.totals.cancelled).toBe(2);
    });

    it('cancels a retrying job', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const id = await enqueue(store, 'q');
      const job = await claimOne(store, 'q');
      expectAllOk(await store.jobFailMany({ jobs: [failParams(job, 'retrying', { delayMs: 60 * SECOND })] }));
      expect(await store.jobCancelMany({ ids: [id] })).toEqual([{ id, ok: true, state: 'cancelled' }]);
      expect((await statsOf(store, 'q')).counts).toMatchObject({ retrying: 0, cancelled: 1 });
    });

    it('does not cancel active, completed, dead or cancelled jobs, and reports unknown ids with state null', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const active = await enqueue(store, 'q');
      await claimOne(store, 'q');
      const completed = await enqueue(store, 'q');
      const c = await claimOne(store, 'q');
      expectAllOk(await store.jobCompleteMany({ jobs: [{ id: c.id, leaseToken: c.leaseToken, resultJson: null }] }));
      const dead = await deadJob(store, 'q');
      const cancelled = await enqueue(store, 'q');
      expectAllOk(await store.jobCancelMany({ ids: [cancelled] }));
      const before = await store.jobGetMany({ ids: [active, completed, dead, cancelled] });
      const statsBefore = await statsOf(store, 'q');
      expect(await store.jobCancelMany({ ids: [active, completed, dead, cancelled, 'no-such-job'] })).toEqual([
        { id: active, ok: false, state: 'active' },
        { id: completed, ok: false, state: 'completed' },
        { id: dead, ok: false, state: 'dead' },
        { id: cancelled, ok: false, state: 'cancelled' },
        { id: 'no-such-job', ok: false, state: null },
      ]);
      expect(await store.jobGetMany({ ids: [active, completed, dead, cancelled] })).toEqual(before);
      expect(await statsOf(store, 'q')).toEqual(statsBefore);
    });
  });

  describe(`jobReplayDead and jobDeleteDead [${factory.name}]`, () => {
    withClock('replay puts a dead job back to queued with attempts 0, recorded in history', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { maxAttempts: 2 });
      const id = await deadJob(store, 'q', 2);
      expect((await getJob(store, id)).attempts).toBe(2);
      clock.advance(10 * SECOND);
      expect(await store.jobReplayDead({ queue: 'q', ids: [id] })).toEqual({ count: 1, ids: [id] });
      const replayed = await getJob(store, id);
      expect(replayed).toMatchObject({ state: 'queued', attempts: 0, finishedAt: null });
      expect(replayed.runAt.getTime()).toBe(T0 + 10 * SECOND);
      expect(replayed.history.at(-1)).toEqual({ state: 'queued', at: new Date(T0 + 10 * SECOND), attempt: 0, reason: 'replay' });
      // The earlier attempts stay in history; the last error is kept for inspection.
      expect(replayed.history.filter((h) => h.state === 'active')).toHaveLength(2);
      const stats = await statsOf(store, 'q');
      expect(stats.counts).toMatchObject({ dead: 0, queued: 1 });
      expect(stats.totals.replayed).toBe(1);
      const again = await claimOne(store, 'q');
      expect(again).toMatchObject({ id, attempt: 1 });
    });

    it('replay by id ignores jobs that are not dead or belong to another queue', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      await declareQueue(store, 'other');
      const dead = await deadJob(store, 'q');
      const deadElsewhere = await deadJob(store, 'other');
      const queued = await enqueue(store, 'q');
      expect(await store.jobReplayDead({ queue: 'q', ids: [queued, deadElsewhere, 'no-such-job', dead] })).toEqual({ count: 1, ids: [dead] });
      expect((await getJob(store, deadElsewhere)).state).toBe('dead');
      expect((await getJob(store, queued)).history).toHaveLength(1);
    });

    it('replay by id counts a job listed twice once, and the counters stay equal to a brute-force count', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const dead = await deadJob(store, 'q');
      expect(await store.jobReplayDead({ queue: 'q', ids: [dead, dead] })).toEqual({ count: 1, ids: [dead] });
      const job = await getJob(store, dead);
      expect(job.history.filter((h) => h.reason === 'replay')).toHaveLength(1);
      const stats = await statsOf(store, 'q');
      expect(stats.counts).toEqual(await bruteCounts(store, 'q'));
      expect(stats.counts).toMatchObject({ dead: 0, queued: 1 });
      expect(stats.totals.replayed).toBe(1);
    });

    it('cancel with a job listed twice cancels it once', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const id = await enqueue(store, 'q');
      expect(await store.jobCancelMany({ ids: [id, id] })).toEqual([
        { id, ok: true, state: 'cancelled' },
        { id, ok: false, state: 'cancelled' },
      ]);
      const stats = await statsOf(store, 'q');
      expect(stats.counts).toEqual(await bruteCounts(store, 'q'));
      expect(stats.totals.cancelled).toBe(1);
    });

    it('replay all moves every dead job of the queue, up to the limit', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      await declareQueue(store, 'other');
      const ids = [await deadJob(store, 'q'), await deadJob(store, 'q'), await deadJob(store, 'q')];
      const elsewhere = await deadJob(store, 'other');
      const first = await store.jobReplayDead({ queue: 'q', all: true, limit: 2 });
      expect(first.count).toBe(2);
      const second = await store.jobReplayDead({ queue: 'q', all: true, limit: 2 });
      expect(second.count).toBe(1);
      expect([...first.ids, ...second.ids].sort()).toEqual([...ids].sort());
      expect(await store.jobReplayDead({ queue: 'q', all: true })).toEqual({ count: 0, ids: [] });
      expect((await getJob(store, elsewhere)).state).toBe('dead');
    });

    it('dryRun reports what would move and writes nothing', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const a = await deadJob(store, 'q');
      const b = await deadJob(store, 'q');
      const before = await store.jobGetMany({ ids: [a, b] });
      const statsBefore = await statsOf(store, 'q');
      const dry = await store.jobReplayDead({ queue: 'q', all: true, dryRun: true });
      expect(dry.count).toBe(2);
      expect([...dry.ids].sort()).toEqual([a, b].sort());
      expect(await store.jobReplayDead({ queue: 'q', ids: [a], dryRun: true })).toEqual({ count: 1, ids: [a] });
      expect(await store.jobGetMany({ ids: [a, b] })).toEqual(before);
      expect(await statsOf(store, 'q')).toEqual(statsBefore);
    });

    it('replay on an undeclared queue is a QueueNotFoundError', async () => {
      const store = await factory.open();
      await expect(store.jobReplayDead({ queue: 'nope', all: true })).rejects.toBeInstanceOf(QueueNotFoundError);
    });

    it('jobDeleteDead purges a dead job of the queue, and nothing else', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      await declareQueue(store, 'other');
      const dead = await deadJob(store, 'q');
      const queued = await enqueue(store, 'q');
      await store.jobStepSet({ jobId: dead, name: 'send', valueJson: '"x"' });
      expect(await store.jobDeleteDead({ queue: 'other', id: dead })).toBe(false);
      expect(await store.jobDeleteDead({ queue: 'q', id: queued })).toBe(false);
      expect(await store.jobDeleteDead({ queue: 'q', id: 'no-such-job' })).toBe(false);
      expect((await statsOf(store, 'q')).counts.dead).toBe(1);
      expect(await store.jobDeleteDead({ queue: 'q', id: dead })).toBe(true);
      expect(await findJob(store, dead)).toBeUndefined();
      expect((await store.jobStepList({ jobId: dead })).size).toBe(0);
      expect(await store.jobDeleteDead({ queue: 'q', id: dead })).toBe(false);
      expect((await getJob(store, queued)).state).toBe('queued');
      expect((await statsOf(store, 'q')).counts).toMatchObject({ dead: 0, queued: 1 });
    });
  });
}
