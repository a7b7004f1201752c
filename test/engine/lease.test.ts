import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/index.js';
import { aborted, deferred, forEachStore, openSpool, requires, sleep, waitForState, waitUntil } from './harness.js';

forEachStore((store) => {
  describe('Worker › lease auto-extension', () => {
    for (const leaseSeconds of [1, 2]) {
      it(`keeps a ${leaseSeconds} s lease alive while the handler runs ${leaseSeconds * 2.5} s: one run, never reclaimed`, async () => {
        const { spool } = await openSpool();
        await spool.declareQueue('long', { leaseSeconds, maxAttempts: 5 });
        let runs = 0;
        let abortedWith: unknown;
        spool.handle('long', async (_payload, ctx) => {
          runs++;
          ctx.signal.addEventListener('abort', () => (abortedWith = ctx.signal.reason));
          await sleep(leaseSeconds * 2500);
          return { attempt: ctx.job.attempt };
        });
        // An eager lease reaper: it would fail the job within 100 ms of its lease running out.
        const worker = await spool.work({ queues: ['long'], maintenance: { reapIntervalMs: 100, leaderTtlMs: 1000 } });
        const { id } = await spool.enqueue('long', {});
        const job = await spool.waitFor(id, { timeoutMs: 20_000 });

        expect(job.state).toBe('completed');
        expect(job.attempts).toBe(1);
        expect(job.result).toEqual({ attempt: 1 });
        expect(runs).toBe(1);
        expect(abortedWith).toBeUndefined();
        expect(job.history.map((h) => h.state)).toEqual(['queued', 'active', 'completed']);
        expect(worker.maintainer?.stats.reaped).toBe(0);
      });
    }
  });

  describe('Worker › lease auto-extension, whatever the phase of the worker tick', () => {
    it('extends 1 s leases of jobs claimed at different moments of the tick: none is reaped', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('phases', { leaseSeconds: 1, maxAttempts: 5, concurrency: 16 });
      const runs = new Map<string, number>();
      spool.handle('phases', async (_payload, ctx) => {
        runs.set(ctx.job.id, (runs.get(ctx.job.id) ?? 0) + 1);
        await sleep(3000);
        return ctx.job.attempt;
      });
      const worker = await spool.work({ queues: ['phases'], maintenance: { reapIntervalMs: 50, leaderTtlMs: 1000 } });
      // Claims spread over a whole tick period (the tick runs every second at most).
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) {
        ids.push((await spool.enqueue('phases', { i })).id);
        await sleep(125);
      }
      const jobs = await Promise.all(ids.map((id) => spool.waitFor(id, { timeoutMs: 20_000 })));
      expect(jobs.map((j) => [j.state, j.attempts])).toEqual(ids.map(() => ['completed', 1]));
      expect([...runs.values()]).toEqual(ids.map(() => 1));
      expect(worker.maintainer?.stats.reaped).toBe(0);
    });
  });

  describe('Worker › prefetched jobs', () => {
    it('keeps the 1 s leases of prefetched jobs alive while they wait for a slot', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('buffered', { leaseSeconds: 1, maxAttempts: 5, concurrency: 1 });
      const order: number[] = [];
      spool.handle('buffered', async (payload, ctx) => {
        order.push((payload as { n: number }).n);
        if (ctx.job.attempt === 1 && (payload as { n: number }).n === 0) await sleep(3000);
        return ctx.job.attempt;
      });
      const worker = await spool.work({ queues: ['buffered'], prefetch: 3, maintenance: { reapIntervalMs: 50, leaderTtlMs: 1000 } });
      const ids: string[] = [];
      for (let n = 0; n < 4; n++) ids.push((await spool.enqueue('buffered', { n })).id);
      // Three jobs sit claimed in the buffer behind the slow first one.
      await waitUntil(async () => (await spool.stats('buffered'))[0]!.counts.active === 4, 'all four jobs claimed');
      const jobs = await Promise.all(ids.map((id) => spool.waitFor(id, { timeoutMs: 20_000 })));
      expect(jobs.map((j) => [j.state, j.attempts, j.result])).toEqual(ids.map(() => ['completed', 1, 1]));
      expect(order).toEqual([0, 1, 2, 3]);
      expect(worker.maintainer?.stats.reaped).toBe(0);
    });
  });

  describe('Worker › per-job lease and time limit shorter than the queue\'s', () => {
    it('extends a 1 s per-job lease (queue default 30 s) in time: none is reaped', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('per-job-lease', { maxAttempts: 5, concurrency: 16 });
      const runs = new Map<string, number>();
      spool.handle('per-job-lease', async (_payload, ctx) => {
        runs.set(ctx.job.id, (runs.get(ctx.job.id) ?? 0) + 1);
        await sleep(2500);
        return ctx.job.attempt;
      });
      const worker = await spool.work({ queues: ['per-job-lease'], maintenance: { reapIntervalMs: 50, leaderTtlMs: 1000 } });
      const ids: string[] = [];
      for (let i = 0; i < 8; i++) {
        ids.push((await spool.enqueue('per-job-lease', { i }, { leaseSeconds: 1 })).id);
        await sleep(125);
      }
      const jobs = await Promise.all(ids.map((id) => spool.waitFor(id, { timeoutMs: 20_000 })));
      expect(jobs.map((j) => [j.state, j.attempts])).toEqual(ids.map(() => ['completed', 1]));
      expect([...runs.values()]).toEqual(ids.map(() => 1));
      expect(worker.maintainer?.stats.reaped).toBe(0);
    });

    it('enforces a 0.2 s per-job timeout (queue default 900 s) before a 1.5 s handler would finish', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('per-job-timeout', { maxAttempts: 1 });
      let reason: unknown;
      spool.handle('per-job-timeout', async (_payload, ctx) => {
        await sleep(1500);
        reason = ctx.signal.reason;
        return 'finished';
      });
      await spool.work({ queues: ['per-job-timeout'] });
      const { id } = await spool.enqueue('per-job-timeout', {}, { timeoutSeconds: 0.2 });
      const job = await spool.waitFor(id, { timeoutMs: 20_000 });
      expect(job.state).toBe('dead');
      expect(job.history.at(-1)).toMatchObject({ state: 'dead', reason: 'timeout' });
      await waitUntil(() => reason !== undefined, 'the handler to return');
      expect((reason as { code?: unknown }).code).toBe('timeout');
    });
  });

  describe('lease reaper', () => {
    requires(store, 'settableClock')('counts an expired lease as a failed attempt due at once (no backoff), like a claim-side takeover', async () => {
      const clock = new ManualClock();
      const { spool } = await openSpool({ clock });
      await spool.declareQueue('reaped', { leaseSeconds: 5, maxAttempts: 2, backoff: { initialSeconds: 600, maxSeconds: 600 } });
      const { id } = await spool.enqueue('reaped', {});
      const [first] = await spool.store.jobClaimMany({ queue: 'reaped', max: 1, leaseMs: 5000, workerId: 'test' });
      clock.advance(6000);
      await spool.declareQueue('other');
      spool.handle('other', async () => null);
      const maintainer = (await spool.work({ queues: ['other'], maintenance: { reapIntervalMs: 3_600_000 } })).maintainer!;
      await maintainer.runOnce(); // (the maintainer may also have reaped it on starting)
      const job = await spool.getJob(id);
      // Due at once: the same maintenance pass already promoted it back to queued.
      expect(job.state).toBe('queued');
      expect(job.history.map((h) => [h.state, h.reason ?? null])).toEqual([['queued', null], ['active', null], ['retrying', 'lease-expired'], ['queued', 'due']]);
      expect(job.runAt.getTime()).toBe(clock.now());
      // The second loss spends the last attempt: dead, as a claim-side takeover would decide.
      const [second] = await spool.store.jobClaimMany({ queue: 'reaped', max: 1, leaseMs: 5000, workerId: 'test' });
      expect(second).toMatchObject({ id: first!.id, attempt: 2 });
      clock.advance(6000);
      await maintainer.runOnce();
      expect(await spool.getJob(id)).toMatchObject({ state: 'dead', lastError: { name: 'LeaseExpired' } });
    });
  });

  describe('Worker › lease lost', () => {
    requires(store, 'settableClock')('aborts the handler when its lease is reaped, and the next attempt’s result stands over the late one', async () => {
      const clock = new ManualClock();
      const { spool } = await openSpool({ clock });
      await spool.declareQueue('stolen', { leaseSeconds: 2, maxAttempts: 3, backoff: { initialSeconds: 1, maxSeconds: 1 } });
      const firstAborted = deferred<unknown>();
      const letFirstReturn = deferred();
      const secondStarted = deferred();
      spool.handle('stolen', async (_payload, ctx) => {
        if (ctx.job.attempt === 1) {
          firstAborted.resolve(await aborted(ctx.signal));
          await letFirstReturn.promise;
          return 'late result of attempt 1';
        }
        secondStarted.resolve();
        return 'result of attempt 2';
      });
      const worker = await spool.work({ queues: ['stolen'], maintenance: { reapIntervalMs: 3_600_000, schedulerMaxSleepMs: 50 } });
      const { id } = await spool.enqueue('stolen', {});
      await waitForState(spool, id, 'active');

      // Travel past the lease and reap it, as the leader of another process would (or this worker's next
      // claim takes it over first): the lost attempt is counted, and the retry is due at once.
      clock.advance(10_000);
      await worker.maintainer!.runOnce();
      await waitUntil(async () => (await spool.getJob(id)).history.some((h) => h.state === 'retrying' && h.attempt === 1 && h.reason === 'lease-expired'), 'the lost attempt in the history');

      // The worker's next lease extension is refused: the handler's signal aborts with lease_lost.
      const reason = await firstAborted.promise;
      expect((reason as { code?: unknown }).code).toBe('lease_lost');

      // The second attempt runs (no backoff after a lost lease) and completes.
      await secondStarted.promise;
      const done = await waitForState(spool, id, 'completed');
      expect(done.result).toBe('result of attempt 2');

      // Now the first attempt returns: its completion must not overwrite anything.
      letFirstReturn.resolve();
      await sleep(200);
      const final = await spool.getJob(id);
      expect(final.state).toBe('completed');
      expect(final.attempts).toBe(2);
      expect(final.result).toBe('result of attempt 2');
      expect(final.history.filter((h) => h.state === 'completed')).toHaveLength(1);
    });

    requires(store, 'settableClock')('fences a completion that arrives after the lease was reaped but before the worker noticed', async () => {
      const clock = new ManualClock();
      const { spool } = await openSpool({ clock });
      // A 30 s lease: the worker will not try to extend it (and so not notice the loss) for 15 s of real time.
      await spool.declareQueue('fenced', { leaseSeconds: 30, maxAttempts: 3, backoff: { initialSeconds: 60, maxSeconds: 60 } });
      const started = deferred();
      const finish = deferred();
      spool.handle('fenced', async (_payload, ctx) => {
        if (ctx.job.attempt > 1) return 'fresh';
        started.resolve();
        await finish.promise;
        return 'stale';
      });
      const worker = await spool.work({ queues: ['fenced'], maintenance: { reapIntervalMs: 3_600_000 } });
      const { id } = await spool.enqueue('fenced', {});
      await started.promise;
      clock.advance(31_000);
      await worker.maintainer!.runOnce(); // reaps it, unless this worker's own claim took it over first
      // A lost lease is retried at once (no backoff): attempt 2 runs and completes while attempt 1 still runs.
      const second = await waitForState(spool, id, 'completed');
      expect(second.result).toBe('fresh');

      finish.resolve();
      await waitUntil(() => worker.stats.stale === 1, 'the stale completion to be refused');
      const job = await spool.getJob(id);
      expect(job.state).toBe('completed');
      expect(job.result).toBe('fresh');
      expect(job.history.map((h) => h.state)).toEqual(['queued', 'active', 'retrying', 'queued', 'active', 'completed']);
      expect(job.history[2]).toMatchObject({ attempt: 1, reason: 'lease-expired' });
      expect(worker.stats.completed).toBe(1);
      const [stats] = await spool.stats('fenced');
      expect(stats!.counts).toMatchObject({ active: 0, retrying: 0, completed: 1 });
    });

    it('cannot cancel an active job (v1): the running attempt is untouched', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('busy');
      const started = deferred();
      const finish = deferred();
      let abortedWith: unknown;
      spool.handle('busy', async (_p, ctx) => {
        ctx.signal.addEventListener('abort', () => (abortedWith = ctx.signal.reason));
        started.resolve();
        await finish.promise;
        return 'ok';
      });
      await spool.work({ queues: ['busy'] });
      const { id } = await spool.enqueue('busy', {});
      await started.promise;
      await expect(spool.cancel(id)).rejects.toMatchObject({ code: 'invalid_transition', state: 'active' });
      finish.resolve();
      const job = await waitForState(spool, id, 'completed');
      expect(job.result).toBe('ok');
      expect(abortedWith).toBeUndefined();
    });
  });
});
