import { describe, expect, it } from 'vitest';
import { deferred, FAST_BACKOFF, forEachStore, openSpool, waitAllTerminal, waitUntil } from './harness.js';

forEachStore(() => {
  describe('JobContext.step', () => {
    it('runs a step’s fn once across retries and hands the stored value to later attempts', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('charges', { maxAttempts: 3, backoff: FAST_BACKOFF });
      const effects = { a: 0, b: 0 };
      const seen: unknown[] = [];
      spool.handle('charges', async (_payload, ctx) => {
        const receipt = await ctx.step('a', async () => {
          effects.a++;
          return { charge: `ch_${effects.a}`, at: ctx.job.attempt };
        });
        seen.push(receipt);
        if (ctx.job.attempt === 1) throw new Error('crash after step a');
        const mail = await ctx.step('b', () => {
          effects.b++;
          return 'mail-sent';
        });
        return { receipt, mail };
      });
      await spool.work({ queues: ['charges'] });
      const { id } = await spool.enqueue('charges', {});
      const [job] = await waitAllTerminal(spool, [id]);

      expect(job!.state).toBe('completed');
      expect(job!.attempts).toBe(2);
      expect(effects).toEqual({ a: 1, b: 1 });
      // Attempt 2 got attempt 1's stored value, not a fresh one.
      expect(seen).toEqual([
        { charge: 'ch_1', at: 1 },
        { charge: 'ch_1', at: 1 },
      ]);
      expect(job!.result).toEqual({ receipt: { charge: 'ch_1', at: 1 }, mail: 'mail-sent' });
    });

    it('keeps steps per job: two jobs with the same step name each run it once', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('per-job', { maxAttempts: 2, backoff: FAST_BACKOFF });
      const ran: string[] = [];
      spool.handle('per-job', async (_p, ctx) => {
        const v = await ctx.step('send', () => {
          ran.push(ctx.job.id);
          return ctx.job.id;
        });
        if (ctx.job.attempt === 1) throw new Error('retry me');
        return v;
      });
      await spool.work({ queues: ['per-job'] });
      const a = await spool.enqueue('per-job', { n: 1 });
      const b = await spool.enqueue('per-job', { n: 2 });
      const jobs = await waitAllTerminal(spool, [a.id, b.id]);
      expect(jobs.map((j) => [j.state, j.result])).toEqual([
        ['completed', a.id],
        ['completed', b.id],
      ]);
      expect(ran.sort()).toEqual([a.id, b.id].sort());
    });

    it('does not memoise a step whose fn threw: the next attempt runs it again', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('flaky-step', { maxAttempts: 3, backoff: FAST_BACKOFF });
      let calls = 0;
      spool.handle('flaky-step', async (_p, ctx) =>
        ctx.step('call', () => {
          calls++;
          if (ctx.job.attempt === 1) throw new Error('remote call failed');
          return 'answer';
        }),
      );
      await spool.work({ queues: ['flaky-step'] });
      const { id } = await spool.enqueue('flaky-step', {});
      const [job] = await waitAllTerminal(spool, [id]);
      expect(job!.state).toBe('completed');
      expect(job!.result).toBe('answer');
      expect(calls).toBe(2);
    });
  });

  describe('JobContext.progress', () => {
    it('is visible through getJob while the job runs, and kept after it completes', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('reports');
      const stage2 = deferred();
      const finish = deferred();
      spool.handle('reports', async (_p, ctx) => {
        await ctx.progress({ done: 1, of: 3 });
        await stage2.promise;
        await ctx.progress({ done: 2, of: 3 });
        await finish.promise;
        return 'report.pdf';
      });
      await spool.work({ queues: ['reports'] });
      const { id } = await spool.enqueue('reports', {});
      const first = await waitUntil(async () => {
        const j = await spool.getJob(id);
        return j.progress !== null ? j : undefined;
      }, 'first progress');
      expect(first.state).toBe('active');
      expect(first.progress).toEqual({ done: 1, of: 3 });
      stage2.resolve();
      await waitUntil(async () => ((await spool.getJob(id)).progress as { done: number }).done === 2, 'second progress');
      finish.resolve();
      const [job] = await waitAllTerminal(spool, [id]);
      expect(job!.state).toBe('completed');
      expect(job!.progress).toEqual({ done: 2, of: 3 });
      expect(job!.result).toBe('report.pdf');
    });
  });
});
