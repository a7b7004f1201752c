/** jobInsertMany: single and batched inserts, per-item failures, atomic batches, delayed jobs. */
import { describe, expect, it } from 'vitest';
import { QueueNotFoundError } from '../../../src/core/errors.js';
import type { JobInsertResult } from '../../../src/storage/store.js';
import { declareQueue, getJob, insertOk, jobInput, listAll, newClock, SECOND, statsOf, T0 } from '../../helpers/store-fixtures.js';
import { requires, type StoreFactory } from '../factory.js';

function errorOf(result: JobInsertResult | undefined): { code: string; error: unknown } {
  if (!result || result.ok) throw new Error(`expected a failed item, got ${JSON.stringify(result)}`);
  return { code: result.error.code, error: result.error };
}

export function insertSuite(factory: StoreFactory): void {
  const withClock = requires(factory, 'settableClock');

  describe(`jobInsertMany [${factory.name}]`, () => {
    it('inserts one job as queued and reads it back with every field', async () => {
      const store = await factory.open();
      await declareQueue(store, 'emails', { maxAttempts: 7 });
      const input = jobInput('emails', {
        type: 'send',
        version: 3,
        payloadJson: '{"to":"ada@example.com","n":[1,2]}',
        priority: 'high',
        correlationId: 'corr-1',
        optionsJson: '{"timeoutSeconds":5}',
      });
      const [result] = await store.jobInsertMany({ jobs: [input] });
      expect(result).toMatchObject({ ok: true, replayed: false, receipt: { id: input.id, queue: 'emails', state: 'queued' } });
      const job = await getJob(store, input.id);
      expect(job).toMatchObject({
        id: input.id,
        queue: 'emails',
        type: 'send',
        version: 3,
        state: 'queued',
        priority: 'high',
        correlationId: 'corr-1',
        attempts: 0,
        maxAttempts: 7,
        payload: { to: 'ada@example.com', n: [1, 2] },
        startedAt: null,
        finishedAt: null,
        lastError: null,
      });
      expect(job.history.map((h) => h.state)).toEqual(['queued']);
      if (!result?.ok) throw new Error('unreachable');
      expect(job.createdAt.getTime()).toBe(result.receipt.createdAt.getTime());
      expect(job.runAt.getTime()).toBe(result.receipt.runAt.getTime());
    });

    it('resolves maxAttempts job > queue > default 5', async () => {
      const store = await factory.open();
      await declareQueue(store, 'configured', { maxAttempts: 3 });
      await declareQueue(store, 'plain');
      const [a, b, c] = await insertOk(store, [
        jobInput('configured'),
        jobInput('configured', { maxAttempts: 9 }),
        jobInput('plain'),
      ]);
      expect((await getJob(store, a!.id)).maxAttempts).toBe(3);
      expect((await getJob(store, b!.id)).maxAttempts).toBe(9);
      expect((await getJob(store, c!.id)).maxAttempts).toBe(5);
    });

    it('inserts a batch in one call with one result per item, in order', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const inputs = Array.from({ length: 25 }, (_, i) => jobInput('q', { payloadJson: JSON.stringify({ i }) }));
      const results = await store.jobInsertMany({ jobs: inputs });
      expect(results).toHaveLength(25);
      results.forEach((r, i) => expect(r).toMatchObject({ ok: true, receipt: { id: inputs[i]!.id } }));
      const jobs = await store.jobGetMany({ ids: inputs.map((j) => j.id) });
      expect(jobs.map((j) => (j.payload as { i: number }).i)).toEqual(inputs.map((_, i) => i));
      expect((await statsOf(store, 'q')).counts.queued).toBe(25);
    });

    it('fails an item for an undeclared queue with QueueNotFoundError and inserts the rest', async () => {
      const store = await factory.open();
      await declareQueue(store, 'known');
      const inputs = [jobInput('known'), jobInput('missing'), jobInput('known')];
      const results = await store.jobInsertMany({ jobs: inputs });
      expect(results[0]?.ok).toBe(true);
      expect(results[2]?.ok).toBe(true);
      const failed = errorOf(results[1]);
      expect(failed.code).toBe('queue_not_found');
      expect(failed.error).toBeInstanceOf(QueueNotFoundError);
      const stored = await store.jobGetMany({ ids: inputs.map((j) => j.id) });
      expect(stored.map((j) => j.id)).toEqual([inputs[0]!.id, inputs[2]!.id]);
      expect(await store.queueGet('missing')).toBeNull();
    });

    it('atomic: one failing item fails the whole batch and writes nothing', async () => {
      const store = await factory.open();
      await declareQueue(store, 'known');
      const inputs = [jobInput('known'), jobInput('known', { idempotency: { key: 'k', fingerprint: 'f' } }), jobInput('missing')];
      const results = await store.jobInsertMany({ jobs: inputs, atomic: true });
      expect(results).toHaveLength(3);
      expect(results.every((r) => !r.ok)).toBe(true);
      expect(errorOf(results[2]).code).toBe('queue_not_found');
      expect(await store.jobGetMany({ ids: inputs.map((j) => j.id) })).toEqual([]);
      const stats = await statsOf(store, 'known');
      expect(stats.counts.queued).toBe(0);
      expect(stats.totals.enqueued).toBe(0);
      // The rolled-back item's idempotency key was not kept: the key is still free.
      const again = jobInput('known', { idempotency: { key: 'k', fingerprint: 'other' } });
      expect((await store.jobInsertMany({ jobs: [again] }))[0]).toMatchObject({ ok: true, replayed: false });
    });

    it('atomic: a batch without failures commits every item', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const inputs = [jobInput('q'), jobInput('q')];
      const results = await store.jobInsertMany({ jobs: inputs, atomic: true });
      expect(results.map((r) => r.ok)).toEqual([true, true]);
      expect(await store.jobGetMany({ ids: inputs.map((j) => j.id) })).toHaveLength(2);
    });

    it('concurrent calls fail alone: a failing atomic call does not roll back its neighbours', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const good1 = jobInput('q');
      const bad = [jobInput('q'), jobInput('nope')];
      const good2 = jobInput('q');
      const [r1, r2, r3] = await Promise.all([
        store.jobInsertMany({ jobs: [good1] }),
        store.jobInsertMany({ jobs: bad, atomic: true }),
        store.jobInsertMany({ jobs: [good2] }),
      ]);
      expect(r1?.[0]?.ok).toBe(true);
      expect(r2?.map((r) => r.ok)).toEqual([false, false]);
      expect(r3?.[0]?.ok).toBe(true);
      const ids = (await store.jobGetMany({ ids: [good1.id, ...bad.map((j) => j.id), good2.id] })).map((j) => j.id);
      expect(ids).toEqual([good1.id, good2.id]);
      expect((await statsOf(store, 'q')).counts.queued).toBe(2);
    });

    withClock('a delayed job (delayMs) is scheduled at now + delay', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      const [receipt] = await insertOk(store, [jobInput('q', { delayMs: 90 * SECOND })]);
      expect(receipt).toMatchObject({ state: 'scheduled' });
      expect(receipt!.runAt.getTime()).toBe(T0 + 90 * SECOND);
      expect(receipt!.createdAt.getTime()).toBe(T0);
      const job = await getJob(store, receipt!.id);
      expect(job.state).toBe('scheduled');
      expect(job.runAt.getTime()).toBe(T0 + 90 * SECOND);
      expect(job.history).toEqual([{ state: 'scheduled', at: new Date(T0), attempt: 0 }]);
      expect(await store.jobNextDueAt()).toBe(T0 + 90 * SECOND);
      const stats = await statsOf(store, 'q');
      expect(stats.counts.scheduled).toBe(1);
      expect(stats.counts.queued).toBe(0);
    });

    withClock('runAt in the future is scheduled; runAt now or in the past is queued', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      const [future, now, past, zeroDelay] = await insertOk(store, [
        jobInput('q', { runAt: T0 + 1 }),
        jobInput('q', { runAt: T0 }),
        jobInput('q', { runAt: T0 - 10 * SECOND }),
        jobInput('q', { delayMs: 0 }),
      ]);
      expect([future, now, past, zeroDelay].map((r) => r!.state)).toEqual(['scheduled', 'queued', 'queued', 'queued']);
      expect(past!.runAt.getTime()).toBe(T0 - 10 * SECOND);
      const all = await listAll(store, { queue: 'q' });
      expect(all.filter((j) => j.state === 'scheduled').map((j) => j.id)).toEqual([future!.id]);
    });

    it('lists jobs newest first with a working cursor and filters', async () => {
      const store = await factory.open();
      await declareQueue(store, 'a');
      await declareQueue(store, 'b');
      const inA = await insertOk(store, Array.from({ length: 10 }, () => jobInput('a', { type: 't1' })));
      const inB = await insertOk(store, [jobInput('b', { correlationId: 'c-9' })]);
      const listedA = await listAll(store, { queue: 'a' });
      expect(listedA.map((j) => j.id)).toEqual(inA.map((r) => r.id).reverse());
      expect((await listAll(store, { correlationId: 'c-9' })).map((j) => j.id)).toEqual([inB[0]!.id]);
      expect(await listAll(store, { queue: 'b', type: 't1' })).toEqual([]);
      expect(await listAll(store, { state: 'queued' })).toHaveLength(11);
    });
  });
}
