/** Idempotency keys: replay of the same request, typed reuse errors, per-queue scope, expiry. */
import { describe, expect, it } from 'vitest';
import { IdempotencyKeyReusedError } from '../../../src/core/errors.js';
import type { JobInsertParams, JobInsertResult } from '../../../src/storage/store.js';
import { DAY, declareQueue, HOUR, jobInput, newClock, statsOf, T0 } from '../../helpers/store-fixtures.js';
import { requires, type StoreFactory } from '../factory.js';

function keyed(queue: string, key: string, fingerprint: string, overrides: Partial<JobInsertParams> = {}): JobInsertParams {
  return jobInput(queue, { idempotency: { key, fingerprint }, ...overrides });
}

function accepted(result: JobInsertResult | undefined): { replayed: boolean; id: string; createdAt: number; state: string } {
  if (!result?.ok) throw new Error(`expected an accepted insert, got ${JSON.stringify(result)}`);
  return { replayed: result.replayed, id: result.receipt.id, createdAt: result.receipt.createdAt.getTime(), state: result.receipt.state };
}

export function idempotencySuite(factory: StoreFactory): void {
  const withClock = requires(factory, 'settableClock');

  describe(`idempotency keys [${factory.name}]`, () => {
    it('the same key with the same fingerprint replays the original receipt and inserts nothing', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const first = accepted((await store.jobInsertMany({ jobs: [keyed('q', 'signup-42', 'fp-A')] }))[0]);
      expect(first.replayed).toBe(false);
      const second = keyed('q', 'signup-42', 'fp-A');
      const again = accepted((await store.jobInsertMany({ jobs: [second] }))[0]);
      expect(again).toEqual({ ...first, replayed: true });
      expect(await store.jobGetMany({ ids: [second.id] })).toEqual([]);
      const stats = await statsOf(store, 'q');
      expect(stats.counts.queued).toBe(1);
      expect(stats.totals.enqueued).toBe(1);
    });

    it('replays the original receipt even after the job moved on', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const first = accepted((await store.jobInsertMany({ jobs: [keyed('q', 'k', 'fp')] }))[0]);
      const [claimed] = await store.jobClaimMany({ queue: 'q', max: 1, leaseMs: 1000, workerId: 'w' });
      await store.jobCompleteMany({ jobs: [{ id: claimed!.id, leaseToken: claimed!.leaseToken, resultJson: null }] });
      const again = accepted((await store.jobInsertMany({ jobs: [keyed('q', 'k', 'fp')] }))[0]);
      expect(again).toEqual({ ...first, replayed: true });
    });

    it('the same key with another fingerprint is an IdempotencyKeyReusedError naming the original job', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const first = accepted((await store.jobInsertMany({ jobs: [keyed('q', 'k', 'fp-A')] }))[0]);
      const other = keyed('q', 'k', 'fp-B');
      const [result] = await store.jobInsertMany({ jobs: [other] });
      if (!result || result.ok) throw new Error('expected a reuse error');
      expect(result.error).toBeInstanceOf(IdempotencyKeyReusedError);
      expect(result.error.code).toBe('idempotency_key_reused');
      expect((result.error as IdempotencyKeyReusedError).jobId).toBe(first.id);
      expect(await store.jobGetMany({ ids: [other.id] })).toEqual([]);
    });

    it('a reused key fails only its own item in a batch, and the whole batch when atomic', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      accepted((await store.jobInsertMany({ jobs: [keyed('q', 'k', 'fp-A')] }))[0]);
      const batch = [jobInput('q'), keyed('q', 'k', 'fp-B'), jobInput('q')];
      const results = await store.jobInsertMany({ jobs: batch });
      expect(results.map((r) => r.ok)).toEqual([true, false, true]);
      const atomicBatch = [jobInput('q'), keyed('q', 'k', 'fp-B')];
      const atomic = await store.jobInsertMany({ jobs: atomicBatch, atomic: true });
      expect(atomic.map((r) => r.ok)).toEqual([false, false]);
      expect(await store.jobGetMany({ ids: atomicBatch.map((j) => j.id) })).toEqual([]);
      expect((await statsOf(store, 'q')).counts.queued).toBe(3);
    });

    it('keys are unique per queue: the same key on two queues makes two jobs', async () => {
      const store = await factory.open();
      await declareQueue(store, 'a');
      await declareQueue(store, 'b');
      const [ra, rb] = await store.jobInsertMany({ jobs: [keyed('a', 'k', 'fp-A'), keyed('b', 'k', 'fp-B')] });
      const a = accepted(ra);
      const b = accepted(rb);
      expect(a.replayed).toBe(false);
      expect(b.replayed).toBe(false);
      expect(a.id).not.toBe(b.id);
    });

    withClock('a key is kept for at least 24 h, then idempotencyDeleteExpired removes it and the key is free', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      // Short job retention: the key's lifetime is then the 24 h floor.
      await declareQueue(store, 'q', { retention: { completedSeconds: 60, deadSeconds: 60 } });
      const first = accepted((await store.jobInsertMany({ jobs: [keyed('q', 'k', 'fp-A')] }))[0]);
      expect(first.createdAt).toBe(T0);

      clock.set(T0 + 24 * HOUR - 1);
      expect(await store.idempotencyDeleteExpired({ limit: 100 })).toBe(0);
      expect(accepted((await store.jobInsertMany({ jobs: [keyed('q', 'k', 'fp-A')] }))[0])).toEqual({ ...first, replayed: true });
      const [reused] = await store.jobInsertMany({ jobs: [keyed('q', 'k', 'fp-B')] });
      expect(reused?.ok).toBe(false);

      clock.set(T0 + 24 * HOUR + 1);
      expect(await store.idempotencyDeleteExpired({ limit: 100 })).toBe(1);
      expect(await store.idempotencyDeleteExpired({ limit: 100 })).toBe(0);
      const fresh = accepted((await store.jobInsertMany({ jobs: [keyed('q', 'k', 'fp-B')] }))[0]);
      expect(fresh.replayed).toBe(false);
      expect(fresh.id).not.toBe(first.id);
    });

    withClock('an expired key no longer replays, even before idempotencyDeleteExpired ran', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { retention: { completedSeconds: 60, deadSeconds: 60 } });
      const first = accepted((await store.jobInsertMany({ jobs: [keyed('q', 'k', 'fp-A')] }))[0]);
      clock.set(T0 + 24 * HOUR);
      const fresh = accepted((await store.jobInsertMany({ jobs: [keyed('q', 'k', 'fp-B')] }))[0]);
      expect(fresh.replayed).toBe(false);
      expect(fresh.id).not.toBe(first.id);
      // The new record replaces the old one: the same request now replays the new job.
      expect(accepted((await store.jobInsertMany({ jobs: [keyed('q', 'k', 'fp-B')] }))[0])).toEqual({ ...fresh, replayed: true });
      expect(await store.idempotencyDeleteExpired({ limit: 100 })).toBe(0);
    });

    withClock('a key lives as long as the queue keeps its jobs when that is longer than 24 h', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { retention: { completedSeconds: 3 * 86400, deadSeconds: 2 * 86400 } });
      const first = accepted((await store.jobInsertMany({ jobs: [keyed('q', 'k', 'fp')] }))[0]);
      clock.set(T0 + 3 * DAY - 1);
      expect(await store.idempotencyDeleteExpired({ limit: 100 })).toBe(0);
      expect(accepted((await store.jobInsertMany({ jobs: [keyed('q', 'k', 'fp')] }))[0]).id).toBe(first.id);
      clock.set(T0 + 3 * DAY + 1);
      expect(await store.idempotencyDeleteExpired({ limit: 100 })).toBe(1);
    });

    withClock('idempotencyDeleteExpired honours its limit', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { retention: { completedSeconds: 1, deadSeconds: 1 } });
      await store.jobInsertMany({ jobs: [1, 2, 3].map((i) => keyed('q', `k${i}`, 'fp')) });
      clock.advance(25 * HOUR);
      expect(await store.idempotencyDeleteExpired({ limit: 2 })).toBe(2);
      expect(await store.idempotencyDeleteExpired({ limit: 2 })).toBe(1);
      expect(await store.idempotencyDeleteExpired({ limit: 2 })).toBe(0);
    });
  });
}
