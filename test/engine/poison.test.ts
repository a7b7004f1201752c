import { describe, expect, it } from 'vitest';
import { NonRetryableError } from '../../src/index.js';
import { FAST_BACKOFF, forEachStore, openSpool, waitAllTerminal } from './harness.js';

forEachStore(() => {
  describe('Worker › failing jobs', () => {
    it('sends a poison job to the DLQ after maxAttempts while healthy jobs on the same queue all complete', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('mixed', { maxAttempts: 3, backoff: FAST_BACKOFF, concurrency: 8 });
      const runs = new Map<string, number>();
      spool.handle('mixed', async (payload, ctx) => {
        runs.set(ctx.job.id, (runs.get(ctx.job.id) ?? 0) + 1);
        if ((payload as { poison?: boolean }).poison) throw new Error(`poisoned on attempt ${ctx.job.attempt}`);
        await new Promise((r) => setTimeout(r, Math.random() * 5));
        return { ok: (payload as { n: number }).n };
      });
      const worker = await spool.work({ queues: ['mixed'] });

      const poison = await spool.enqueue('mixed', { poison: true });
      const healthy = await Promise.all(Array.from({ length: 50 }, (_, n) => spool.enqueue('mixed', { n })));

      const [dead] = await waitAllTerminal(spool, [poison.id]);
      const done = await waitAllTerminal(spool, healthy.map((h) => h.id));

      expect(dead!.state).toBe('dead');
      expect(dead!.attempts).toBe(3);
      expect(runs.get(poison.id)).toBe(3);
      expect(dead!.lastError?.message).toBe('poisoned on attempt 3');
      // Every attempt is in the history with its own error: retrying, retrying, dead.
      const failures = dead!.history.filter((h) => h.error);
      expect(failures.map((h) => [h.state, h.attempt, h.error?.message])).toEqual([
        ['retrying', 1, 'poisoned on attempt 1'],
        ['retrying', 2, 'poisoned on attempt 2'],
        ['dead', 3, 'poisoned on attempt 3'],
      ]);
      expect(dead!.history.filter((h) => h.state === 'active').map((h) => h.attempt)).toEqual([1, 2, 3]);

      expect(done.map((j) => j.state)).toEqual(healthy.map(() => 'completed'));
      expect(done.map((j) => j.attempts)).toEqual(healthy.map(() => 1));
      expect(done.map((j) => j.result)).toEqual(healthy.map((_, n) => ({ ok: n })));
      for (const h of healthy) expect(runs.get(h.id)).toBe(1);

      const dlq = await spool.dlq.list('mixed');
      expect(dlq.jobs.map((j) => j.id)).toEqual([poison.id]);
      const [stats] = await spool.stats('mixed');
      expect(stats!.counts).toMatchObject({ completed: 50, dead: 1, queued: 0, active: 0, retrying: 0 });
      expect(stats!.totals).toMatchObject({ completed: 50, dead: 1, failed: 3 });
      await worker.stop({ graceMs: 1000 });
    });

    it('replays a dead job from the DLQ with a fresh attempt budget once the cause is fixed', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('fixable', { maxAttempts: 2, backoff: FAST_BACKOFF });
      let fixed = false;
      spool.handle('fixable', async (_p, ctx) => {
        if (!fixed) throw new Error(`broken (attempt ${ctx.job.attempt})`);
        return `fixed on attempt ${ctx.job.attempt}`;
      });
      await spool.work({ queues: ['fixable'] });
      const a = await spool.enqueue('fixable', { n: 1 });
      const b = await spool.enqueue('fixable', { n: 2 });
      await waitAllTerminal(spool, [a.id, b.id]);
      expect((await spool.dlq.list('fixable')).jobs.map((j) => j.id).sort()).toEqual([a.id, b.id].sort());

      expect(await spool.dlq.replay('fixable', { all: true, dryRun: true })).toMatchObject({ count: 2 });
      expect((await spool.getJob(a.id)).state).toBe('dead');
      fixed = true;
      expect(await spool.dlq.replay('fixable', { ids: [a.id] })).toEqual({ count: 1, ids: [a.id] });
      const [replayed] = await waitAllTerminal(spool, [a.id]);
      expect(replayed!.state).toBe('completed');
      expect(replayed!.result).toBe('fixed on attempt 1');
      expect(replayed!.history.map((h) => [h.state, h.reason ?? null])).toContainEqual(['queued', 'replay']);
      expect((await spool.getJob(b.id)).state).toBe('dead');
      expect((await spool.dlq.replay('fixable', { all: true })).count).toBe(1);
      const [rest] = await waitAllTerminal(spool, [b.id]);
      expect(rest!.state).toBe('completed');
      expect((await spool.dlq.list('fixable')).jobs).toEqual([]);
      const [stats] = await spool.stats('fixable');
      expect(stats!.totals).toMatchObject({ replayed: 2, completed: 2, dead: 2 });
      expect(stats!.counts).toMatchObject({ dead: 0, completed: 2 });
    });

    it('starts a retry when its backoff is due, not at the scheduler’s next routine look', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('quick-retry', { maxAttempts: 4, backoff: FAST_BACKOFF });
      spool.handle('quick-retry', async (_p, ctx) => {
        if (ctx.job.attempt < 4) throw new Error(`attempt ${ctx.job.attempt} failed`);
        return 'ok';
      });
      await spool.work({ queues: ['quick-retry'], maintenance: { schedulerMaxSleepMs: 5000 } });
      const { id } = await spool.enqueue('quick-retry', {});
      const [job] = await waitAllTerminal(spool, [id], 15_000);
      expect(job!.state).toBe('completed');
      // Each backoff is at most 20 ms; the gap from `retrying` to the next `active` must follow it, not the
      // scheduler's idle sleep (5 s here). 750 ms leaves room for a slow machine.
      const h = job!.history;
      const gaps = h.flatMap((e, i) => (e.state === 'retrying' && h[i + 2]?.state === 'active' ? [h[i + 2]!.at.getTime() - e.at.getTime()] : []));
      expect(gaps).toHaveLength(3);
      for (const gap of gaps) expect(gap).toBeLessThan(750);
    });

    it('sends a job that throws NonRetryableError straight to dead after attempt 1', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('strict', { maxAttempts: 5, backoff: FAST_BACKOFF });
      let runs = 0;
      spool.handle('strict', async () => {
        runs++;
        throw new NonRetryableError('card declined');
      });
      const plainRetryableFalse = { retryable: false, message: 'plain object with retryable false' };
      spool.handle('strict-plain', async () => {
        throw plainRetryableFalse;
      });
      await spool.declareQueue('strict-plain', { maxAttempts: 5, backoff: FAST_BACKOFF });
      await spool.work({ queues: ['strict', 'strict-plain'] });

      const a = await spool.enqueue('strict', {});
      const b = await spool.enqueue('strict-plain', {});
      const [jobA, jobB] = await waitAllTerminal(spool, [a.id, b.id]);

      expect(jobA!.state).toBe('dead');
      expect(jobA!.attempts).toBe(1);
      expect(runs).toBe(1);
      expect(jobA!.lastError).toMatchObject({ message: 'card declined', name: 'NonRetryableError', retryable: false });
      expect(jobA!.history.map((h) => h.state)).toEqual(['queued', 'active', 'dead']);
      expect(jobB!.state).toBe('dead');
      expect(jobB!.attempts).toBe(1);
      expect(jobB!.lastError).toMatchObject({ message: 'plain object with retryable false', retryable: false });
      expect((await spool.dlq.list('strict')).jobs.map((j) => j.id)).toEqual([a.id]);
    });
  });
});
