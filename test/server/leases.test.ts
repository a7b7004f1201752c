/**
 * The pull API over real HTTP, on every store: leasing (fields, limits, strict bodies, unknown and paused
 * queues), the long poll (woken at once by an enqueue, empty on timeout, a departed client leaves nothing
 * leased, shutdown ends it), and the fenced ack / nack / extend / progress / release: a stale token is 409
 * and an unknown job 404; nack follows the retry policy; an expired lease is reaped, re-leased to another
 * caller, and its old token refused.
 */
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/app.js';
import { forEachStore, onCleanup, waitUntil } from '../engine/harness.js';
import { call, expectProblem, startApi, type Api } from './api-harness.js';

async function withQueue(config: Record<string, unknown> = {}, name = 'work'): Promise<Api> {
  const api = await startApi();
  expect((await api.call('PUT', `/v1/queues/${name}`, { body: config })).status).toBe(201);
  return api;
}

async function enqueue(api: Api, payload: unknown, queue = 'work', extra: Record<string, unknown> = {}): Promise<string> {
  const r = await api.call('POST', `/v1/queues/${queue}/jobs`, { body: { payload, ...extra } });
  expect(r.status).toBe(202);
  return r.body.id as string;
}

const lease = (api: Api, body: Record<string, unknown>, queue = 'work') => api.call('POST', `/v1/queues/${queue}/leases`, { body });

forEachStore(() => {
  describe('POST /v1/queues/{queue}/leases', () => {
    it('leases up to max jobs with every documented field; ack completes one with its result', async () => {
      const api = await withQueue({ leaseSeconds: 45, timeoutSeconds: 120 });
      const ids = [await enqueue(api, { n: 1 }), await enqueue(api, { n: 2 }, 'work', { type: 'render', priority: 'high', orderingKey: 'k' }), await enqueue(api, { n: 3 })];

      const r = await lease(api, { max: 2 });
      expect(r.status).toBe(200);
      expect(r.body.jobs).toHaveLength(2);
      const [first, second] = r.body.jobs;
      expect(Object.keys(first).sort()).toEqual(
        ['attempt', 'correlationId', 'createdAt', 'groupKey', 'id', 'leaseExpiresAt', 'leaseSeconds', 'leaseToken', 'maxAttempts', 'orderingKey', 'payload', 'priority', 'queue', 'runAt', 'timeoutSeconds', 'traceparent', 'type', 'version'].sort(),
      );
      expect(first).toMatchObject({ id: ids[1], queue: 'work', type: 'render', version: 1, payload: { n: 2 }, attempt: 1, maxAttempts: 5, priority: 'high', orderingKey: 'k', leaseSeconds: 45, timeoutSeconds: 120, traceparent: null });
      expect(second).toMatchObject({ id: ids[0], type: null, payload: { n: 1 }, orderingKey: null, groupKey: null, correlationId: null });
      expect(new Date(first.leaseExpiresAt).getTime() - Date.now()).toBeGreaterThan(30_000);
      expect(first.leaseToken).toEqual(expect.any(String));

      const ack = await api.call('POST', `/v1/jobs/${first.id}/ack`, { body: { leaseToken: first.leaseToken, result: { pages: 3 } } });
      expect(ack.status).toBe(200);
      expect(ack.body).toEqual({ id: first.id, state: 'completed' });
      const job = await api.call('GET', `/v1/jobs/${first.id}`);
      expect(job.body).toMatchObject({ state: 'completed', result: { pages: 3 }, attempts: 1 });

      const rest = await lease(api, { max: 10, leaseSeconds: 5 });
      expect(rest.body.jobs.map((j: { id: string }) => j.id)).toEqual([ids[2]]);
      expect(rest.body.jobs[0].leaseSeconds).toBe(5);
      expect((await lease(api, { max: 10 })).body).toEqual({ jobs: [] });
    });

    it('refuses bad bodies (400), an unknown queue (404) and leases nothing from a paused queue', async () => {
      const api = await withQueue();
      for (const body of [{}, { max: 0 }, { max: 101 }, { max: '5' }, { max: 1.5 }, { max: 1, waitSeconds: 31 }, { max: 1, waitSeconds: -1 }, { max: 1, leaseSeconds: 0 }, { max: 1, extra: true }]) {
        expectProblem(await lease(api, body), 400, 'invalid-request');
      }
      expectProblem(await lease(api, { max: 1 }, 'nope'), 404, 'queue-not-found');
      expectProblem(await lease(api, { max: 1 }, '..%2Fetc'), 400);

      const id = await enqueue(api, { n: 1 });
      expect((await api.call('POST', '/v1/queues/work/pause')).status).toBe(200);
      expect((await lease(api, { max: 5, waitSeconds: 0.2 })).body).toEqual({ jobs: [] });
      expect((await api.call('POST', '/v1/queues/work/resume')).status).toBe(200);
      expect((await lease(api, { max: 5 })).body.jobs.map((j: { id: string }) => j.id)).toEqual([id]);
    });

    it('long poll: an enqueue wakes the waiting request at once; without one it answers empty after waitSeconds', async () => {
      const api = await withQueue();
      const started = Date.now();
      const polling = lease(api, { max: 5, waitSeconds: 20 });
      await waitUntil(() => api.spool.leases.waiting === 1, 'the long poll to wait');
      const id = await enqueue(api, { wake: true });
      const r = await polling;
      expect(r.status).toBe(200);
      expect(r.body.jobs.map((j: { id: string }) => j.id)).toEqual([id]);
      expect(Date.now() - started).toBeLessThan(15_000); // well before the long poll's timeout

      const empty = await lease(api, { max: 5, waitSeconds: 0.3 });
      expect(empty.body).toEqual({ jobs: [] });
      expect(api.spool.leases.waiting).toBe(0);
    });

    it('long polls share wake-ups: two waiters, two jobs enqueued one by one, each waiter gets one', async () => {
      const api = await withQueue();
      const a = lease(api, { max: 1, waitSeconds: 20 });
      const b = lease(api, { max: 1, waitSeconds: 20 });
      await waitUntil(() => api.spool.leases.waiting === 2, 'both long polls to wait');
      const first = await enqueue(api, { n: 1 });
      const second = await enqueue(api, { n: 2 });
      const got = [...(await a).body.jobs, ...(await b).body.jobs].map((j: { id: string }) => j.id).sort();
      expect(got).toEqual([first, second].sort());
    });

    it('a client that disconnects during a long poll leaves nothing leased', async () => {
      const api = await withQueue();
      const gone = new AbortController();
      const polling = fetch(`${api.base}/v1/queues/work/leases`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ max: 5, waitSeconds: 20 }),
        signal: gone.signal,
      }).catch((error: unknown) => error);
      await waitUntil(() => api.spool.leases.waiting === 1, 'the long poll to wait');
      gone.abort();
      expect(await polling).toBeInstanceOf(Error);
      await waitUntil(() => api.spool.leases.waiting === 0, 'the departed long poll to leave');

      const id = await enqueue(api, { n: 1 });
      // Give a wrongly still-waiting request every chance to take the job before looking.
      const other = await lease(api, { max: 5, waitSeconds: 0.5 });
      expect(other.body.jobs.map((j: { id: string }) => j.id)).toEqual([id]); // it was still there to lease
      const [stats] = await api.spool.stats('work');
      expect(stats!.counts.active).toBe(1);
    });

    it('shutdown answers waiting long polls at once with no jobs', async () => {
      const api = await withQueue();
      const started = Date.now();
      const polling = lease(api, { max: 5, waitSeconds: 25 });
      await waitUntil(() => api.spool.leases.waiting === 1, 'the long poll to wait');
      await api.app.close();
      const r = await polling;
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ jobs: [] });
      expect(Date.now() - started).toBeLessThan(20_000);

      // The facade outlives that app: another app on it keeps leasing.
      const other = buildApp(api.spool);
      await other.listen({ host: '127.0.0.1', port: 0 });
      onCleanup(() => other.close());
      const base = `http://127.0.0.1:${(other.server.address() as { port: number }).port}`;
      const id = await enqueue({ ...api, call: (m, p, o) => call(base, m, p, o) }, { n: 1 });
      const leased = await call(base, 'POST', '/v1/queues/work/leases', { body: { max: 1, waitSeconds: 5 } });
      expect(leased.body.jobs.map((j: { id: string }) => j.id)).toEqual([id]);
    });
  });

  describe('POST /v1/jobs/{id}/ack | nack | extend | progress | release', () => {
    it('fences every call by the lease token: a wrong token is 409 lease-lost, an unknown job 404, a bad body 400', async () => {
      const api = await withQueue();
      await enqueue(api, { n: 1 });
      const [job] = (await lease(api, { max: 1 })).body.jobs;
      const bodies: Record<string, Record<string, unknown>> = {
        ack: { result: 1 },
        nack: { error: { message: 'x' } },
        extend: { leaseSeconds: 30 },
        progress: { progress: 50 },
        release: {},
      };
      for (const [action, body] of Object.entries(bodies)) {
        expectProblem(await api.call('POST', `/v1/jobs/${job.id}/${action}`, { body: { ...body, leaseToken: 'not-the-token' } }), 409, 'lease-lost');
        expectProblem(await api.call('POST', `/v1/jobs/0190aaaa-0000-7000-8000-000000000000/${action}`, { body: { ...body, leaseToken: job.leaseToken } }), 404, 'job-not-found');
        expectProblem(await api.call('POST', `/v1/jobs/${job.id}/${action}`, { body: { ...body, leaseToken: job.leaseToken, unknown: 1 } }), 400, 'invalid-request');
        expectProblem(await api.call('POST', `/v1/jobs/${job.id}/${action}`, { body }), 400, 'invalid-request');
      }
      expectProblem(await api.call('POST', `/v1/jobs/${job.id}/extend`, { body: { leaseToken: job.leaseToken, leaseSeconds: '30' } }), 400);
      expectProblem(await api.call('POST', `/v1/jobs/${job.id}/nack`, { body: { leaseToken: job.leaseToken, error: { message: 'x', retryable: 'no' } } }), 400);
      const still = await api.call('GET', `/v1/jobs/${job.id}`);
      expect(still.body).toMatchObject({ state: 'active', progress: null });
    });

    it('extend moves the expiry (store clock); progress is recorded; both refuse the token once the job moved on', async () => {
      const api = await withQueue();
      await enqueue(api, { n: 1 });
      const [job] = (await lease(api, { max: 1, leaseSeconds: 10 })).body.jobs;
      const ext = await api.call('POST', `/v1/jobs/${job.id}/extend`, { body: { leaseToken: job.leaseToken, leaseSeconds: 600 } });
      expect(ext.status).toBe(200);
      expect(ext.body.id).toBe(job.id);
      expect(new Date(ext.body.leaseExpiresAt).getTime()).toBeGreaterThan(new Date(job.leaseExpiresAt).getTime() + 500_000);
      // Never earlier than it already is: a shorter leaseSeconds answers 200 and leaves the expiry as it was.
      const shorter = await api.call('POST', `/v1/jobs/${job.id}/extend`, { body: { leaseToken: job.leaseToken, leaseSeconds: 1.5 } });
      expect(shorter.status).toBe(200);
      expect(shorter.body.leaseExpiresAt).toBe(ext.body.leaseExpiresAt);

      const p = await api.call('POST', `/v1/jobs/${job.id}/progress`, { body: { leaseToken: job.leaseToken, progress: { done: 3, of: 4 } } });
      expect(p.status).toBe(200);
      expect(p.body).toEqual({ id: job.id, progress: { done: 3, of: 4 } });
      expect((await api.call('GET', `/v1/jobs/${job.id}`)).body.progress).toEqual({ done: 3, of: 4 });

      expect((await api.call('POST', `/v1/jobs/${job.id}/ack`, { body: { leaseToken: job.leaseToken } })).status).toBe(200);
      expectProblem(await api.call('POST', `/v1/jobs/${job.id}/extend`, { body: { leaseToken: job.leaseToken, leaseSeconds: 30 } }), 409, 'lease-lost');
      expectProblem(await api.call('POST', `/v1/jobs/${job.id}/progress`, { body: { leaseToken: job.leaseToken, progress: 1 } }), 409, 'lease-lost');
      expectProblem(await api.call('POST', `/v1/jobs/${job.id}/ack`, { body: { leaseToken: job.leaseToken } }), 409, 'lease-lost');
      expect((await api.call('GET', `/v1/jobs/${job.id}`)).body).toMatchObject({ state: 'completed', result: null });
    });

    it('nack follows the retry policy: retrying after the backoff, dead when not retryable or out of attempts', async () => {
      const api = await withQueue({ maxAttempts: 2, backoff: { initialSeconds: 600, maxSeconds: 600, multiplier: 1 } });
      const a = await enqueue(api, { n: 'a' });
      const b = await enqueue(api, { n: 'b' });
      const jobs = (await lease(api, { max: 2 })).body.jobs as Array<{ id: string; leaseToken: string }>;
      const ja = jobs.find((j) => j.id === a)!;
      const jb = jobs.find((j) => j.id === b)!;

      const before = Date.now();
      const retry = await api.call('POST', `/v1/jobs/${a}/nack`, { body: { leaseToken: ja.leaseToken, error: { message: 'smtp down', name: 'SmtpError', code: 'E421' } } });
      expect(retry.status).toBe(200);
      expect(retry.body).toMatchObject({ id: a, state: 'retrying' });
      const due = new Date(retry.body.runAt).getTime();
      expect(due).toBeGreaterThan(before); // full jitter below 600 s: later than now, not past the cap
      expect(due).toBeLessThanOrEqual(Date.now() + 600_000 + 1000);
      const ra = (await api.call('GET', `/v1/jobs/${a}`)).body;
      expect(ra).toMatchObject({ state: 'retrying', attempts: 1, lastError: { message: 'smtp down', name: 'SmtpError', code: 'E421' } });
      expect(ra.history.at(-1)).toMatchObject({ state: 'retrying', attempt: 1, error: { message: 'smtp down' } });

      const dead = await api.call('POST', `/v1/jobs/${b}/nack`, { body: { leaseToken: jb.leaseToken, error: { message: 'bad address', retryable: false } } });
      expect(dead.body).toEqual({ id: b, state: 'dead', runAt: null });
      expect((await api.call('GET', `/v1/jobs/${b}`)).body).toMatchObject({ state: 'dead', attempts: 1, lastError: { message: 'bad address', retryable: false } });
      expect((await api.call('GET', '/v1/queues/work/dead')).body.jobs.map((j: { id: string }) => j.id)).toEqual([b]);
      expectProblem(await api.call('POST', `/v1/jobs/${b}/nack`, { body: { leaseToken: jb.leaseToken, error: { message: 'again' } } }), 409, 'lease-lost');
    });

    it('retryAfterSeconds overrides the backoff; the last attempt goes to the DLQ whatever it says', async () => {
      const api = await withQueue({ maxAttempts: 2, backoff: { initialSeconds: 3600, maxSeconds: 3600, multiplier: 1 } });
      api.spool.maintain({ schedulerMaxSleepMs: 50 });
      const id = await enqueue(api, { n: 1 });
      const [first] = (await lease(api, { max: 1 })).body.jobs;
      const r = await api.call('POST', `/v1/jobs/${id}/nack`, { body: { leaseToken: first.leaseToken, error: { message: 'busy' }, retryAfterSeconds: 0 } });
      expect(r.body.state).toBe('retrying');
      const again = await lease(api, { max: 1, waitSeconds: 15 });
      expect(again.body.jobs).toHaveLength(1);
      expect(again.body.jobs[0]).toMatchObject({ id, attempt: 2 });
      const last = await api.call('POST', `/v1/jobs/${id}/nack`, { body: { leaseToken: again.body.jobs[0].leaseToken, error: { message: 'busy' }, retryAfterSeconds: 1 } });
      expect(last.body).toEqual({ id, state: 'dead', runAt: null });
    });

    it('release puts the job back at once without spending its attempt', async () => {
      const api = await withQueue();
      const id = await enqueue(api, { n: 1 });
      const [job] = (await lease(api, { max: 1 })).body.jobs;
      const r = await api.call('POST', `/v1/jobs/${id}/release`, { body: { leaseToken: job.leaseToken } });
      expect(r.body).toEqual({ id, state: 'queued' });
      expect((await api.call('GET', `/v1/jobs/${id}`)).body).toMatchObject({ state: 'queued', attempts: 0 });
      const [again] = (await lease(api, { max: 1 })).body.jobs;
      expect(again).toMatchObject({ id, attempt: 1 });
      expect(again.leaseToken).not.toBe(job.leaseToken);
      expectProblem(await api.call('POST', `/v1/jobs/${id}/ack`, { body: { leaseToken: job.leaseToken } }), 409, 'lease-lost');
    });

    it('an expired lease is reaped as a failed attempt and leased to another caller; the old token is 409', async () => {
      const api = await withQueue({ backoff: { initialSeconds: 0.01, maxSeconds: 0.02, multiplier: 1 } });
      api.spool.maintain({ reapIntervalMs: 100, schedulerMaxSleepMs: 50 });
      const id = await enqueue(api, { n: 1 });
      const [first] = (await lease(api, { max: 1, leaseSeconds: 1 })).body.jobs;
      expect(first).toMatchObject({ id, attempt: 1, leaseSeconds: 1 });

      const second = await lease(api, { max: 1, waitSeconds: 20 }); // another worker, waiting for it
      expect(second.body.jobs).toHaveLength(1);
      const [taken] = second.body.jobs;
      expect(taken).toMatchObject({ id, attempt: 2 });
      expect(taken.leaseToken).not.toBe(first.leaseToken);

      for (const [action, body] of [['ack', {}], ['nack', { error: { message: 'late' } }], ['extend', { leaseSeconds: 30 }], ['progress', { progress: 1 }]] as const) {
        expectProblem(await api.call('POST', `/v1/jobs/${id}/${action}`, { body: { ...body, leaseToken: first.leaseToken } }), 409, 'lease-lost');
      }
      expect((await api.call('POST', `/v1/jobs/${id}/ack`, { body: { leaseToken: taken.leaseToken, result: 'second' } })).status).toBe(200);
      const job = (await api.call('GET', `/v1/jobs/${id}`)).body;
      expect(job).toMatchObject({ state: 'completed', attempts: 2, result: 'second' });
      expect(job.history.map((h: { state: string; reason?: string }) => `${h.state}${h.reason ? `:${h.reason}` : ''}`)).toEqual([
        'queued',
        'active',
        'retrying:lease-expired',
        'queued:due',
        'active',
        'completed',
      ]);
    });
  });
});
