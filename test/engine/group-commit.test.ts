import { describe, expect, it } from 'vitest';
import { IdempotencyKeyReusedError, QueueNotFoundError, Type, ValidationError, type EnqueueResult } from '../../src/index.js';
import { forEachStore, openSpool } from './harness.js';

interface WriterStats {
  transactions: number;
  operations: number;
}

forEachStore(() => {
  describe('Spool.enqueue › group commit isolation', () => {
    it('fails only the bad callers of a concurrent burst, commits the rest, and shares transactions', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('orders');
      const typed = spool.defineJob({ type: 'typed', queue: 'orders', schema: Type.Object({ n: Type.Integer() }) });
      const originals = await Promise.all(Array.from({ length: 10 }, (_, i) => spool.enqueue('orders', { v: 1, i }, { idempotencyKey: `k-${i}` })));

      // Every store runs this case: a driver counts its commits in `writerStats` (SQLite does; PostgreSQL must too).
      const writer = (spool.store as unknown as { writerStats?: WriterStats }).writerStats;
      expect(writer, 'the SQLite store exposes writerStats').toBeDefined();
      const before = { ...writer! };

      type Expect = { kind: 'ok'; payload: unknown } | { kind: 'replay'; id: string } | { kind: 'error'; error: new (...a: never[]) => Error };
      const calls: Array<{ promise: Promise<EnqueueResult>; expect: Expect }> = [];
      for (let i = 0; i < 300; i++) {
        const slot = i % 10;
        switch (i % 6) {
          case 0: // a different body under an existing key
            calls.push({ promise: spool.enqueue('orders', { v: 2, i: slot }, { idempotencyKey: `k-${slot}` }), expect: { kind: 'error', error: IdempotencyKeyReusedError } });
            break;
          case 1: // the same body under an existing key: the original job, replayed
            calls.push({ promise: spool.enqueue('orders', { v: 1, i: slot }, { idempotencyKey: `k-${slot}` }), expect: { kind: 'replay', id: originals[slot]!.id } });
            break;
          case 2: // an undeclared queue
            calls.push({ promise: spool.enqueue('no-such-queue', { i }), expect: { kind: 'error', error: QueueNotFoundError } });
            break;
          case 3: // a payload the job type's schema refuses
            calls.push({ promise: typed.enqueue({ n: 'x' } as unknown as { n: number }), expect: { kind: 'error', error: ValidationError } });
            break;
          default: // good ones, half with fresh keys
            calls.push({
              promise: i % 2 === 0 ? spool.enqueue('orders', { good: i }, { idempotencyKey: `fresh-${i}` }) : typed.enqueue({ n: i }),
              expect: { kind: 'ok', payload: i % 2 === 0 ? { good: i } : { n: i } },
            });
        }
      }
      const settled = await Promise.allSettled(calls.map((c) => c.promise));
      const after = { ...writer! };

      let good = 0;
      for (let i = 0; i < calls.length; i++) {
        const { expect: want } = calls[i]!;
        const got = settled[i]!;
        if (want.kind === 'error') {
          expect(got.status, `call ${i}`).toBe('rejected');
          expect((got as PromiseRejectedResult).reason, `call ${i}`).toBeInstanceOf(want.error);
          continue;
        }
        expect(got.status, `call ${i}: ${String((got as PromiseRejectedResult).reason)}`).toBe('fulfilled');
        const result = (got as PromiseFulfilledResult<EnqueueResult>).value;
        if (want.kind === 'replay') {
          expect(result).toMatchObject({ id: want.id, replayed: true });
        } else {
          good++;
          expect(result.replayed).toBe(false);
          expect((await spool.getJob(result.id)).payload).toEqual(want.payload);
        }
      }
      expect(good).toBe(100);
      // Exactly the originals and the good ones exist: the failures wrote nothing.
      const [stats] = await spool.stats('orders');
      expect(stats!.counts.queued).toBe(10 + good);
      expect(stats!.totals.enqueued).toBe(10 + good);
      // One burst → a handful of shared commits, not one per caller.
      const transactions = after.transactions - before.transactions;
      expect(transactions).toBeGreaterThanOrEqual(1);
      expect(transactions).toBeLessThanOrEqual(3);
    });

    it('gives the first of two same-key callers in one burst the job and the second (different body) a typed error', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('orders');
      const [first, second, third] = await Promise.allSettled([
        spool.enqueue('orders', { amount: 10 }, { idempotencyKey: 'pay-1' }),
        spool.enqueue('orders', { amount: 99 }, { idempotencyKey: 'pay-1' }),
        spool.enqueue('orders', { amount: 10 }, { idempotencyKey: 'pay-1' }),
      ]);
      expect(first.status).toBe('fulfilled');
      const id = (first as PromiseFulfilledResult<EnqueueResult>).value.id;
      expect(second.status).toBe('rejected');
      expect((second as PromiseRejectedResult).reason).toBeInstanceOf(IdempotencyKeyReusedError);
      expect((second as PromiseRejectedResult).reason).toMatchObject({ code: 'idempotency_key_reused', jobId: id });
      expect(third).toMatchObject({ status: 'fulfilled', value: { id, replayed: true } });
      const [stats] = await spool.stats('orders');
      expect(stats!.counts.queued).toBe(1);
    });
  });
});
