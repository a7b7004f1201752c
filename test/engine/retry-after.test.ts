/**
 * A handler chooses its retry's delay with RetryAfterError (or any thrown value with a numeric `retryAfterMs`):
 * the executor schedules the next attempt that far ahead instead of the queue's backoff, and the attempt still
 * counts against maxAttempts.
 */
import { describe, expect, it } from 'vitest';
import { RetryAfterError } from '../../src/index.js';
import { forEachStore, openSpool, waitForState, waitUntil } from './harness.js';

const HOUR_BACKOFF = { initialSeconds: 3600, maxSeconds: 3600, multiplier: 1 };

forEachStore(() => {
  describe('Executor › RetryAfterError', () => {
    it('the next attempt is due when the handler says, not after the queue backoff; the attempt budget still applies', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('later', { maxAttempts: 3, backoff: HOUR_BACKOFF });
      const attempts: number[] = [];
      spool.handle('later', (_payload, ctx) => {
        attempts.push(ctx.job.attempt);
        if (ctx.job.attempt === 1) throw new RetryAfterError('try again at once', 0);
        throw Object.assign(new Error('come back in two hours'), { retryAfterMs: 2 * 3600_000 });
      });
      await spool.work({ queues: ['later'], webhooks: false });
      const { id } = await spool.enqueue('later', {});
      // With the queue's backoff the second attempt would wait an hour.
      const job = await waitUntil(async () => {
        const j = await spool.getJob(id);
        return j.attempts === 2 && j.state === 'retrying' ? j : undefined;
      }, 'the second attempt to fail');
      expect(attempts).toEqual([1, 2]);
      const failures = job.history.filter((h) => h.state === 'retrying');
      expect(failures.map((h) => [h.attempt, h.error?.name, h.error?.message])).toEqual([
        [1, 'RetryAfterError', 'try again at once'],
        [2, 'Error', 'come back in two hours'],
      ]);
      const delayMs = job.runAt.getTime() - failures[1]!.at.getTime();
      expect(delayMs).toBe(2 * 3600_000);

      await spool.declareQueue('once', { maxAttempts: 1 });
      spool.handle('once', () => {
        throw new RetryAfterError('would like another go', 10);
      });
      await spool.work({ queues: ['once'], webhooks: false });
      const last = await spool.enqueue('once', {});
      const dead = await waitForState(spool, last.id, 'dead');
      expect(dead.attempts).toBe(1);
      expect(dead.lastError).toMatchObject({ name: 'RetryAfterError', message: 'would like another go' });
    });
  });
});
