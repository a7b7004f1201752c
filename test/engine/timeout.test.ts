import { describe, expect, it } from 'vitest';
import { aborted, FAST_BACKOFF, forEachStore, openSpool, waitAllTerminal } from './harness.js';

forEachStore(() => {
  describe('Worker › per-attempt timeout', () => {
    it('aborts ctx.signal with reason timeout and counts the attempt as failed', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('slow', { maxAttempts: 2, backoff: FAST_BACKOFF, timeoutSeconds: 0.3 });
      const reasons: Array<{ attempt: number; code: unknown; afterMs: number }> = [];
      spool.handle('slow', async (_payload, ctx) => {
        const started = Date.now();
        const reason = await aborted(ctx.signal);
        reasons.push({ attempt: ctx.job.attempt, code: (reason as { code?: unknown }).code, afterMs: Date.now() - started });
        return 'finished after the abort (must be ignored)';
      });
      await spool.work({ queues: ['slow'] });
      const { id } = await spool.enqueue('slow', {});
      const [job] = await waitAllTerminal(spool, [id]);

      expect(job!.state).toBe('dead');
      expect(job!.attempts).toBe(2);
      expect(job!.result).toBeNull();
      expect(reasons.map((r) => [r.attempt, r.code])).toEqual([
        [1, 'timeout'],
        [2, 'timeout'],
      ]);
      // The abort comes no earlier than the timeout.
      for (const r of reasons) expect(r.afterMs).toBeGreaterThanOrEqual(250);
      const failures = job!.history.filter((h) => h.error);
      expect(failures.map((h) => [h.state, h.attempt, h.reason, h.error?.name])).toEqual([
        ['retrying', 1, 'timeout', 'TimeoutError'],
        ['dead', 2, 'timeout', 'TimeoutError'],
      ]);
    });

    it('fails the attempt at its timeout even when the handler ignores the signal, and frees the slot', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('stubborn', { maxAttempts: 1, concurrency: 1 });
      let release!: () => void;
      const hang = new Promise<void>((r) => (release = r));
      spool.handle('stubborn', async (payload) => {
        if ((payload as { hang: boolean }).hang) await hang;
        return 'done';
      });
      await spool.work({ queues: ['stubborn'] });
      // A per-job timeout beats the queue's default.
      const stuck = await spool.enqueue('stubborn', { hang: true }, { timeoutSeconds: 0.3 });
      const next = await spool.enqueue('stubborn', { hang: false });
      const [a, b] = await waitAllTerminal(spool, [stuck.id, next.id], 10_000);
      release();
      expect(a!.state).toBe('dead');
      expect(a!.lastError?.name).toBe('TimeoutError');
      // With concurrency 1 the second job could only run because the timed-out attempt freed its slot.
      expect(b!.state).toBe('completed');
      expect(b!.result).toBe('done');
      // The late result of the timed-out attempt does not overwrite the dead state.
      await new Promise((r) => setTimeout(r, 100));
      const again = await spool.getJob(stuck.id);
      expect(again.state).toBe('dead');
      expect(again.result).toBeNull();
    });
  });
});
