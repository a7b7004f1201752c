/**
 * Job event logs on every store, read from a real pino stream: every event names the job (jobId, queue,
 * attempt, correlationId, traceId when it has a traceparent) at its documented level — in-process workers
 * (started, completed, failed, timed out, dead, lease lost, released at shutdown), the lease reaper, remote
 * leases (leased, ack, nack, release, also for a lease taken through another facade) and admin actions
 * (cancel, replay, purge) — and a disabled level is never called for job events.
 */
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/index.js';
import { aborted, deferred, FAST_BACKOFF, forEachStore, openSpool, requires, waitForState, waitUntil } from '../engine/harness.js';
import { captureLog } from './log-capture.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;

forEachStore((store) => {
  describe('job event logs › in-process worker', () => {
    it('logs started and completed at debug with the job’s fields and trace id; the handler gets the traceparent', async () => {
      const cap = captureLog('debug');
      const { spool } = await openSpool({ logger: cap.log });
      await spool.declareQueue('mail');
      const seen = deferred<{ traceparent: string | null; traceId: string | null }>();
      spool.handle('mail', (_payload, ctx) => {
        seen.resolve({ traceparent: ctx.traceparent, traceId: ctx.traceId });
        return 'sent';
      });
      const { id } = await spool.enqueue('mail', { to: 'ada' }, { correlationId: 'order-7', traceparent: TRACEPARENT });
      await spool.work({ queues: ['mail'] });
      await waitForState(spool, id, 'completed');

      const fields = { jobId: id, queue: 'mail', attempt: 1, correlationId: 'order-7', traceId: TRACE_ID };
      expect(await cap.waitFor('job.started', id)).toMatchObject({ ...fields, levelName: 'debug', msg: 'job started' });
      expect(await cap.waitFor('job.completed', id)).toMatchObject({ ...fields, levelName: 'debug', msg: 'job completed' });
      expect(await seen.promise).toEqual({ traceparent: TRACEPARENT, traceId: TRACE_ID });
    });

    it('drops an invalid traceparent (option or meta) at enqueue: no traceId, ctx.traceparent null, correlationId null', async () => {
      const cap = captureLog('debug');
      const { spool } = await openSpool({ logger: cap.log });
      await spool.declareQueue('mail');
      const seen: Array<string | null> = [];
      spool.handle('mail', (_payload, ctx) => void seen.push(ctx.traceparent, ctx.traceId));
      const a = await spool.enqueue('mail', 1, { traceparent: 'not-a-traceparent' });
      const b = await spool.enqueue('mail', 2, { meta: { traceparent: `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, note: 'kept' } });
      await spool.work({ queues: ['mail'] });
      await waitForState(spool, a.id, 'completed');
      await waitForState(spool, b.id, 'completed');
      const started = [await cap.waitFor('job.started', a.id), await cap.waitFor('job.started', b.id)];
      for (const line of started) {
        expect(line).not.toHaveProperty('traceId');
        expect(line.correlationId).toBeNull();
      }
      expect(seen).toEqual([null, null, null, null]);
    });

    it('logs a failed attempt at warn (error, next state, retry delay) and the dead job at error', async () => {
      const cap = captureLog('debug');
      const { spool } = await openSpool({ logger: cap.log });
      await spool.declareQueue('flaky', { maxAttempts: 2, backoff: FAST_BACKOFF });
      spool.handle('flaky', () => {
        throw Object.assign(new Error('smtp down'), { code: 'ECONNREFUSED' });
      });
      const { id } = await spool.enqueue('flaky', {}, { correlationId: 'c-1', traceparent: TRACEPARENT });
      await spool.work({ queues: ['flaky'], maintenance: { schedulerMaxSleepMs: 20 } });
      await waitForState(spool, id, 'dead');

      const failed = await cap.waitFor('job.failed', id);
      expect(failed).toMatchObject({
        levelName: 'warn',
        jobId: id,
        queue: 'flaky',
        attempt: 1,
        correlationId: 'c-1',
        traceId: TRACE_ID,
        reason: 'error',
        to: 'retrying',
        error: { message: 'smtp down', name: 'Error', code: 'ECONNREFUSED' },
      });
      expect(failed.retryDelayMs).toBeGreaterThanOrEqual(0);
      expect(failed.error).not.toHaveProperty('stack');
      const dead = await cap.waitFor('job.dead', id);
      expect(dead).toMatchObject({ levelName: 'error', jobId: id, attempt: 2, correlationId: 'c-1', traceId: TRACE_ID, reason: 'error', to: 'dead', error: { message: 'smtp down' } });
      expect(dead).not.toHaveProperty('retryDelayMs');
      expect(cap.events('job.failed', id)).toHaveLength(1); // the dead attempt is one line, not two
    });

    it('logs a timed-out attempt at warn and, once attempts are spent, job.dead with reason timeout', async () => {
      const cap = captureLog('info');
      const { spool } = await openSpool({ logger: cap.log });
      await spool.declareQueue('slow', { maxAttempts: 2, backoff: FAST_BACKOFF });
      spool.handle('slow', async (_payload, ctx) => void (await aborted(ctx.signal)));
      const { id } = await spool.enqueue('slow', {}, { timeoutSeconds: 0.2, correlationId: 'slow-1' });
      await spool.work({ queues: ['slow'], maintenance: { schedulerMaxSleepMs: 20 } });
      await waitForState(spool, id, 'dead');
      expect(await cap.waitFor('job.timed_out', id)).toMatchObject({ levelName: 'warn', attempt: 1, correlationId: 'slow-1', reason: 'timeout', to: 'retrying' });
      expect(await cap.waitFor('job.dead', id)).toMatchObject({ levelName: 'error', attempt: 2, reason: 'timeout', error: { name: 'TimeoutError' } });
    });

    requires(store, 'settableClock')('the reaper logs the expired lease (warn); the worker that lost it logs job.lease_lost', async () => {
      const cap = captureLog('info');
      const clock = new ManualClock();
      const { spool } = await openSpool({ clock, logger: cap.log });
      await spool.declareQueue('stolen', { leaseSeconds: 2, maxAttempts: 3, backoff: { initialSeconds: 60, maxSeconds: 60 } });
      spool.handle('stolen', async (_payload, ctx) => void (await aborted(ctx.signal)));
      const worker = await spool.work({ queues: ['stolen'], maintenance: { reapIntervalMs: 3_600_000 } });
      const { id } = await spool.enqueue('stolen', {}, { correlationId: 'stolen-1', traceparent: TRACEPARENT });
      await waitForState(spool, id, 'active');
      clock.advance(10_000);
      expect((await worker.maintainer!.runOnce()).reaped).toBe(1);

      const fields = { jobId: id, queue: 'stolen', attempt: 1, correlationId: 'stolen-1', traceId: TRACE_ID };
      const expired = await cap.waitFor('job.lease_expired', id);
      expect(expired).toMatchObject({ ...fields, levelName: 'warn', reason: 'lease-expired', to: 'retrying', error: { name: 'LeaseExpired' } });
      expect(expired.retryDelayMs).toBe(0); // an expired lease is due again at once, whatever the backoff (docs/design.md)
      expect(await cap.waitFor('job.lease_lost', id)).toMatchObject({ ...fields, levelName: 'warn' });
    });

    it('logs each job released at shutdown at info', async () => {
      const cap = captureLog('info');
      const { spool } = await openSpool({ logger: cap.log });
      await spool.declareQueue('long');
      const started = deferred();
      spool.handle('long', async (_payload, ctx) => {
        started.resolve();
        await aborted(ctx.signal);
      });
      const worker = await spool.work({ queues: ['long'], prefetch: 0 });
      const { id } = await spool.enqueue('long', {}, { correlationId: 'long-1', traceparent: TRACEPARENT });
      await started.promise;
      await worker.stop({ graceMs: 0 });
      expect((await spool.getJob(id)).state).toBe('queued');
      expect(cap.events('job.released', id)).toEqual([
        expect.objectContaining({ levelName: 'info', queue: 'long', attempt: 1, correlationId: 'long-1', traceId: TRACE_ID }),
      ]);
    });

    it('at info, no job event is built or logged at debug: the debug method is never called for a job', async () => {
      const cap = captureLog('info');
      const debugCalls: unknown[] = [];
      const debug = cap.log.debug.bind(cap.log);
      cap.log.debug = ((...args: Parameters<typeof debug>) => {
        debugCalls.push(args[0]);
        return debug(...args);
      }) as typeof cap.log.debug;
      const { spool } = await openSpool({ logger: cap.log });
      await spool.declareQueue('quiet');
      spool.handle('quiet', () => 'ok');
      const jobs = await spool.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ queue: 'quiet', payload: i, traceparent: TRACEPARENT })));
      await spool.work({ queues: ['quiet'] });
      for (const j of jobs) await waitForState(spool, j.id, 'completed');
      expect(debugCalls.filter((o) => typeof o === 'object' && o !== null && 'jobId' in o)).toEqual([]);
      expect(cap.lines.filter((l) => String(l.event ?? '').startsWith('job.'))).toEqual([]);
    });
  });

  describe('job event logs › remote leases (server side)', () => {
    it('logs leased and acked at debug, a non-retryable nack as job.dead, a release at info', async () => {
      const cap = captureLog('debug');
      const { spool } = await openSpool({ logger: cap.log });
      await spool.declareQueue('pull', { maxAttempts: 5 });
      const a = await spool.enqueue('pull', 1, { correlationId: 'a', traceparent: TRACEPARENT });
      const b = await spool.enqueue('pull', 2, { correlationId: 'b' });
      const c = await spool.enqueue('pull', 3, { correlationId: 'c' });
      const leased = await spool.leases.lease('pull', { max: 3 });
      expect(leased.map((j) => j.traceparent)).toEqual([TRACEPARENT, null, null]);
      const token = (id: string): string => leased.find((j) => j.id === id)!.leaseToken;

      await spool.leases.ack(a.id, { leaseToken: token(a.id), result: 'ok' });
      await spool.leases.nack(b.id, { leaseToken: token(b.id), error: { message: 'bad input', retryable: false } });
      await spool.leases.release(c.id, { leaseToken: token(c.id) });

      expect(cap.events('job.leased', a.id)).toEqual([expect.objectContaining({ levelName: 'debug', queue: 'pull', attempt: 1, correlationId: 'a', traceId: TRACE_ID })]);
      expect(cap.events('job.completed', a.id)).toEqual([expect.objectContaining({ levelName: 'debug', attempt: 1, correlationId: 'a', traceId: TRACE_ID, remote: true })]);
      expect(cap.events('job.dead', b.id)).toEqual([
        expect.objectContaining({ levelName: 'error', attempt: 1, correlationId: 'b', reason: 'nack', to: 'dead', error: { message: 'bad input', retryable: false } }),
      ]);
      expect(cap.events('job.released', c.id)).toEqual([expect.objectContaining({ levelName: 'info', attempt: 1, correlationId: 'c', remote: true })]);
    });

    it('names the job of an ack for a lease taken through another facade (read back from the store)', async () => {
      const cap = captureLog('debug');
      const first = await openSpool();
      await first.spool.declareQueue('pull');
      const { id } = await first.spool.enqueue('pull', 1, { correlationId: 'elsewhere' });
      const [job] = await first.spool.leases.lease('pull', { max: 1 });
      const other = await openSpool({ url: first.url, logger: cap.log });
      await other.spool.leases.ack(id, { leaseToken: job!.leaseToken });
      expect(cap.events('job.completed', id)).toEqual([expect.objectContaining({ queue: 'pull', attempt: 1, correlationId: 'elsewhere', remote: true })]);
    });

    it('logs a retryable nack at warn with the retry delay', async () => {
      const cap = captureLog('info');
      const { spool } = await openSpool({ logger: cap.log });
      await spool.declareQueue('pull', { maxAttempts: 3 });
      const { id } = await spool.enqueue('pull', 1, { correlationId: 'r' });
      const [job] = await spool.leases.lease('pull', { max: 1 });
      await spool.leases.nack(id, { leaseToken: job!.leaseToken, error: { message: 'try later' }, retryAfterSeconds: 7 });
      expect(cap.events('job.failed', id)).toEqual([
        expect.objectContaining({ levelName: 'warn', attempt: 1, correlationId: 'r', reason: 'nack', to: 'retrying', retryDelayMs: 7000 }),
      ]);
      expect(cap.events('job.leased')).toEqual([]); // debug is off
    });
  });

  describe('job event logs › admin actions', () => {
    it('logs cancel, replay (by id and all) and purge at info with the job’s correlation id', async () => {
      const cap = captureLog('info');
      const { spool } = await openSpool({ logger: cap.log });
      await spool.declareQueue('ops', { maxAttempts: 1 });
      const later = await spool.enqueue('ops', 0, { delaySeconds: 3600, correlationId: 'later' });
      await spool.cancel(later.id);
      expect(cap.events('job.cancelled', later.id)).toEqual([expect.objectContaining({ levelName: 'info', queue: 'ops', attempt: 0, correlationId: 'later' })]);

      const ids: string[] = [];
      for (const n of [1, 2, 3]) ids.push((await spool.enqueue('ops', n, { correlationId: `dead-${n}` })).id);
      const leased = await spool.leases.lease('ops', { max: 3 });
      for (const j of leased) await spool.leases.nack(j.id, { leaseToken: j.leaseToken, error: { message: 'boom' } });
      await waitUntil(async () => (await spool.stats('ops'))[0]!.counts.dead === 3, 'three dead jobs');

      expect((await spool.dlq.replay('ops', { ids: [ids[0]!], dryRun: true })).count).toBe(1);
      expect(cap.events('job.replayed')).toEqual([]); // a dry run changes nothing and logs nothing
      await spool.dlq.replay('ops', { ids: [ids[0]!] });
      expect(cap.events('job.replayed')).toEqual([expect.objectContaining({ levelName: 'info', jobId: ids[0], queue: 'ops', attempt: 0, correlationId: 'dead-1' })]);
      expect(await spool.dlq.purge('ops', ids[1]!)).toBe(true);
      expect(cap.events('job.purged', ids[1])).toEqual([expect.objectContaining({ levelName: 'info', queue: 'ops' })]);
      await spool.dlq.replay('ops', { all: true });
      expect(cap.events('job.replayed', ids[2])).toEqual([expect.objectContaining({ correlationId: 'dead-3' })]);
    });
  });
});
