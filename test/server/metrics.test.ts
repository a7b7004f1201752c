/**
 * GET /metrics and the library's metrics API, on every store, parsed with the strict exposition parser
 * (test/helpers/prometheus.ts): every series the contract names is there, the queue series move with real
 * work (enqueues, completions, failed attempts, a job into the DLQ, wait / enqueue→finish histograms counting
 * the right jobs), `spool_jobs_retried_total` moves with retries only (in-process failures, non-retryable
 * errors, a replayed job, expired remote leases) and never with a failure that sends its job to the DLQ, admission refusals are counted (503 depth, 429 key rate limit), the HTTP series carry route
 * templates only, and /metrics is authorised like GET /v1/queues.
 */
import { describe, expect, it } from 'vitest';
import { NonRetryableError } from '../../src/core/job.js';
import { JOB_STATES } from '../../src/core/states.js';
import { forEachStore, waitUntil } from '../engine/harness.js';
import { parsePrometheus, type Exposition } from '../helpers/prometheus.js';
import { startApi, type Api } from './api-harness.js';
import { ADMIN, call, createKey, startServer } from './auth-harness.js';

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

async function scrape(api: Pick<Api, 'call'>): Promise<Exposition> {
  const res = await api.call('GET', '/metrics');
  expect(res.status, res.text).toBe(200);
  expect(res.headers.get('content-type')).toBe(CONTENT_TYPE);
  return parsePrometheus(res.text);
}

/** Every queue series of the contract for `queue`, plus the per-process families. */
function expectContractSeries(m: Exposition, queue: string): void {
  for (const state of JOB_STATES) expect(m.value('spool_queue_jobs', { queue, state })).toBeGreaterThanOrEqual(0);
  for (const name of ['spool_queue_oldest_age_seconds', 'spool_jobs_enqueued_total', 'spool_jobs_completed_total', 'spool_jobs_failed_total', 'spool_jobs_dead_total']) {
    expect(m.value(name, { queue }), name).toBeGreaterThanOrEqual(0);
  }
  for (const h of ['spool_job_wait_seconds', 'spool_job_e2e_seconds']) {
    expect(m.families.get(h)?.type).toBe('histogram');
    const buckets = m.find(`${h}_bucket`, { queue });
    expect(buckets.map((b) => b.labels['le'])).toEqual([
      '0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '30', '60', '120', '300', '600', '1800', '3600', '+Inf',
    ]);
  }
  expect(m.families.get('spool_admission_rejected_total')?.type).toBe('counter');
  expect(m.families.get('spool_http_request_duration_seconds')?.type).toBe('histogram');
  expect(m.families.get('spool_process_cpu_seconds_total')?.type).toBe('counter');
  // prom-client's `…_total` gauges are served under names Prometheus allows for a gauge.
  for (const what of ['handles', 'requests', 'resources']) {
    expect(m.families.get(`spool_nodejs_active_${what}_all`)?.type, what).toBe('gauge');
    expect(m.families.has(`spool_nodejs_active_${what}_total`), what).toBe(false);
  }
  for (const f of m.families.values()) if (f.name.endsWith('_total')) expect(f.type, f.name).toBe('counter');
}

forEachStore(() => {
  describe('GET /metrics', () => {
    it('names every contract series and moves with real work: enqueues, completions, failed attempts, the DLQ, latency', async () => {
      const api = await startApi();
      const put = (name: string, body: unknown) => api.call('PUT', `/v1/queues/${name}`, { body });
      expect((await put('emails', { maxAttempts: 2, backoff: { initialSeconds: 0.01, maxSeconds: 0.01 }, admission: { maxDepth: 3 } })).status).toBe(201);
      expect((await put('other', {})).status).toBe(201);

      const before = await scrape(api);
      expectContractSeries(before, 'emails');
      expectContractSeries(before, 'other');
      expect(before.value('spool_jobs_enqueued_total', { queue: 'emails' })).toBe(0);
      expect(before.value('spool_job_wait_seconds_count', { queue: 'emails' })).toBe(0);

      // Three accepted (maxDepth 3), the fourth refused by admission (503), nothing written.
      for (const payload of [{ ok: 1 }, { ok: 2 }, { fail: true }]) {
        expect((await api.call('POST', '/v1/queues/emails/jobs', { body: { payload } })).status).toBe(202);
      }
      expect((await api.call('POST', '/v1/queues/emails/jobs', { body: { payload: { ok: 3 } } })).status).toBe(503);
      expect((await api.call('POST', '/v1/queues/emails/jobs?dryRun=true', { body: { payload: { ok: 4 } } })).status).toBe(503); // not counted
      const queued = await scrape(api);
      expect(queued.value('spool_queue_jobs', { queue: 'emails', state: 'queued' })).toBe(3);
      expect(queued.value('spool_queue_oldest_age_seconds', { queue: 'emails' })).toBeGreaterThanOrEqual(0);
      expect(queued.value('spool_admission_rejected_total', { queue: 'emails', reason: 'max_depth' })).toBe(1);

      // A worker: two complete, one fails twice and goes to the DLQ.
      api.spool.handle('emails', async (payload: unknown) => {
        if ((payload as { fail?: boolean }).fail) throw new Error('boom');
      });
      const worker = await api.spool.work({ queues: ['emails'] });
      await waitUntil(async () => {
        const [s] = await api.spool.stats('emails');
        return s!.counts.completed === 2 && s!.counts.dead === 1;
      }, 'two completed and one dead');
      await worker.stop();

      const m = await scrape(api);
      expectContractSeries(m, 'emails');
      const q = { queue: 'emails' };
      expect(m.value('spool_jobs_enqueued_total', q)).toBe(3);
      expect(m.value('spool_jobs_completed_total', q)).toBe(2);
      expect(m.value('spool_jobs_failed_total', q)).toBe(2); // failed attempts: both of the poison job's
      expect(m.value('spool_jobs_dead_total', q)).toBe(1);
      expect(m.value('spool_queue_jobs', { ...q, state: 'completed' })).toBe(2);
      expect(m.value('spool_queue_jobs', { ...q, state: 'dead' })).toBe(1);
      expect(m.value('spool_queue_jobs', { ...q, state: 'queued' })).toBe(0);
      expect(m.value('spool_queue_oldest_age_seconds', q)).toBe(0);
      expect(m.value('spool_job_wait_seconds_count', q)).toBe(3); // first attempts only
      expect(m.value('spool_job_e2e_seconds_count', q)).toBe(3); // two completed + one dead
      expect(m.value('spool_job_e2e_seconds_sum', q)).toBeGreaterThan(0);
      expect(m.value('spool_job_wait_seconds_bucket', { ...q, le: '+Inf' })).toBe(3);
      // The other queue did nothing.
      expect(m.value('spool_jobs_enqueued_total', { queue: 'other' })).toBe(0);
      expect(m.value('spool_job_e2e_seconds_count', { queue: 'other' })).toBe(0);

      // The library sees the same figures: a typed snapshot and the Prometheus text of its own registry.
      const snapshot = await api.spool.metrics();
      const emails = snapshot.queues.find((s) => s.queue === 'emails')!;
      expect(emails.totals).toMatchObject({ enqueued: 3, completed: 2, failed: 2, dead: 1 });
      expect(emails.latency.wait.count).toBe(3);
      expect(emails.latency.e2e.count).toBe(3);
      const lib = parsePrometheus(await api.spool.metricsText());
      for (const name of ['spool_jobs_enqueued_total', 'spool_jobs_failed_total', 'spool_job_e2e_seconds_count', 'spool_job_wait_seconds_sum']) {
        expect(lib.value(name, q), name).toBe(m.value(name, q));
      }
      expect(lib.families.has('spool_http_request_duration_seconds')).toBe(false); // per-process server series: not the library's
    });

    it('counts spool_jobs_retried_total for failed attempts scheduled to run again, not for failures that go to the DLQ', async () => {
      const api = await startApi();
      const fast = { backoff: { initialSeconds: 0.01, maxSeconds: 0.01 } };
      expect((await api.call('PUT', '/v1/queues/r', { body: { maxAttempts: 3, ...fast } })).status).toBe(201);
      expect((await api.call('PUT', '/v1/queues/once', { body: { maxAttempts: 1 } })).status).toBe(201);
      const retried = async (queue: string) => (await scrape(api)).value('spool_jobs_retried_total', { queue });
      expect((await scrape(api)).families.get('spool_jobs_retried_total')?.type).toBe('counter');
      expect(await retried('r')).toBe(0);

      // r: `flaky` fails once then completes (1 retry); `poison` fails three times (2 retries, then dead);
      // `fatal` throws NonRetryableError (dead at once, no retry). once: a first failure is its last (dead, no retry).
      const tries = new Map<string, number>();
      const handler = async (payload: unknown) => {
        const kind = (payload as { kind: string }).kind;
        const n = (tries.get(kind) ?? 0) + 1;
        tries.set(kind, n);
        if (kind === 'fatal') throw new NonRetryableError('bad input');
        if (kind === 'poison' || kind === 'once' || (kind === 'flaky' && n === 1)) throw new Error(`${kind} attempt ${n}`);
      };
      api.spool.handle('r', handler);
      api.spool.handle('once', handler);
      for (const kind of ['ok', 'flaky', 'poison', 'fatal']) await api.spool.enqueue('r', { kind });
      await api.spool.enqueue('once', { kind: 'once' });
      const worker = await api.spool.work({ queues: ['r', 'once'] });
      await waitUntil(async () => {
        const [[r], [once]] = await Promise.all([api.spool.stats('r'), api.spool.stats('once')]);
        return r!.counts.completed === 2 && r!.counts.dead === 2 && once!.counts.dead === 1;
      }, 'r: two completed, two dead; once: one dead');
      await worker.stop();

      const m = await scrape(api);
      expect(m.value('spool_jobs_failed_total', { queue: 'r' })).toBe(5); // flaky 1 + poison 3 + fatal 1
      expect(m.value('spool_jobs_dead_total', { queue: 'r' })).toBe(2);
      expect(m.value('spool_jobs_retried_total', { queue: 'r' })).toBe(3); // flaky 1 + poison 2
      expect(m.value('spool_jobs_failed_total', { queue: 'once' })).toBe(1);
      expect(m.value('spool_jobs_retried_total', { queue: 'once' })).toBe(0);

      // Replaying a dead job is not a retry; its next failure is (attempts start again), the one after it
      // too; a cancel of the job waiting to retry takes nothing back.
      const dead = (await api.spool.dlq.list('r')).jobs.find((j) => (j.payload as { kind: string }).kind === 'poison');
      await api.spool.dlq.replay('r', { ids: [dead!.id] });
      expect(await retried('r')).toBe(3);
      const slow = { backoff: { initialSeconds: 3600, maxSeconds: 3600 } };
      await api.spool.declareQueue('r', { maxAttempts: 3, ...slow });
      const again = await api.spool.work({ queues: ['r'] });
      await waitUntil(async () => (await api.spool.stats('r'))[0]!.counts.retrying === 1, 'the replayed job waiting to retry');
      await again.stop();
      expect(await retried('r')).toBe(4);
      await api.spool.cancel(dead!.id);
      expect(await retried('r')).toBe(4);
      expect((await api.spool.metrics()).queues.find((q) => q.queue === 'r')!.totals).toMatchObject({ failed: 6, dead: 2 });
    });

    it('counts a remote lease that expired as a retry when the job runs again, and not when it goes to the DLQ', async () => {
      const api = await startApi();
      expect((await api.call('PUT', '/v1/queues/again', { body: { maxAttempts: 2 } })).status).toBe(201);
      expect((await api.call('PUT', '/v1/queues/last', { body: { maxAttempts: 1 } })).status).toBe(201);
      for (const queue of ['again', 'last']) {
        expect((await api.call('POST', `/v1/queues/${queue}/jobs`, { body: { payload: { queue } } })).status).toBe(202);
        const leased = await api.call('POST', `/v1/queues/${queue}/leases`, { body: { max: 1, leaseSeconds: 1 } });
        expect(leased.body.jobs).toHaveLength(1); // never acked: the lease runs out
      }
      api.spool.maintain({ reapIntervalMs: 100 });
      await waitUntil(async () => {
        const [[again], [last]] = await Promise.all([api.spool.stats('again'), api.spool.stats('last')]);
        // An expired lease is due again at once (docs/design.md): `again` is back in queued, its attempt spent.
        return again!.totals.failed === 1 && again!.counts.queued + again!.counts.retrying === 1 && last!.counts.dead === 1;
      }, 'again: failed once and waiting; last: dead');
      const m = await scrape(api);
      expect(m.value('spool_jobs_failed_total', { queue: 'again' })).toBe(1);
      expect(m.value('spool_jobs_retried_total', { queue: 'again' })).toBe(1);
      expect(m.value('spool_jobs_failed_total', { queue: 'last' })).toBe(1);
      expect(m.value('spool_jobs_retried_total', { queue: 'last' })).toBe(0);
    });

    it('labels HTTP series with route templates, never raw URLs; unmatched requests share one label', async () => {
      const api = await startApi();
      await api.call('PUT', '/v1/queues/secret-tenant-queue', { body: {} });
      await api.call('POST', '/v1/queues/secret-tenant-queue/jobs', { body: { payload: { n: 1 } } });
      await api.call('GET', '/v1/queues/secret-tenant-queue');
      await api.call('GET', '/no/such/path/with-a-job-id-1234');
      await api.call('GET', '/v1/jobs/unknown-job-id');
      const m = await scrape(api);
      const http = m.find('spool_http_request_duration_seconds_count');
      const routes = new Set(http.map((s) => s.labels['route']));
      expect(routes).toContain('/v1/queues/:queue/jobs');
      expect(routes).toContain('/v1/queues/:queue');
      expect(routes).toContain('/v1/jobs/:id');
      expect(routes).toContain('unmatched');
      expect(m.value('spool_http_request_duration_seconds_count', { method: 'POST', route: '/v1/queues/:queue/jobs', status: '202' })).toBe(1);
      expect(m.value('spool_http_request_duration_seconds_count', { method: 'GET', route: 'unmatched', status: '404' })).toBe(1);
      expect(m.value('spool_http_request_duration_seconds_count', { method: 'GET', route: '/v1/jobs/:id', status: '404' })).toBe(1);
      for (const s of m.find('spool_http_request_duration_seconds_bucket')) {
        expect(Object.keys(s.labels).sort()).toEqual(['le', 'method', 'route', 'status']);
        expect(s.labels['route']).not.toMatch(/secret-tenant|with-a-job-id|unknown-job-id/);
      }
    });
  });

  describe('GET /metrics with auth', () => {
    it('needs a token with read; a key sees only the queues it may read; the key rate limit counts as rate_limit', async () => {
      const server = await startServer();
      const admin = { call: (method: string, path: string, o: { body?: unknown } = {}) => call(server.base, method, path, { token: ADMIN, ...o }) };
      await admin.call('PUT', '/v1/queues/q1', { body: {} });
      await admin.call('PUT', '/v1/queues/q2', { body: {} });

      expect((await call(server.base, 'GET', '/metrics')).status).toBe(401);
      expect((await call(server.base, 'GET', '/metrics', { token: 'wrong' })).status).toBe(401);
      const publisher = await createKey(server.base, ['publish:*'], { rateLimit: { perSecond: 0.5 } });
      expect((await call(server.base, 'GET', '/metrics', { token: publisher.secret })).status).toBe(403);

      const reader = await createKey(server.base, ['read:q1']);
      const res = await call(server.base, 'GET', '/metrics', { token: reader.secret });
      expect(res.status).toBe(200);
      const seen = parsePrometheus(res.text);
      expect(seen.value('spool_jobs_enqueued_total', { queue: 'q1' })).toBe(0);
      expect(seen.find('spool_jobs_enqueued_total', { queue: 'q2' })).toEqual([]);
      expect(res.text).not.toContain('queue="q2"');
      const all = parsePrometheus((await admin.call('GET', '/metrics')).text);
      expect(all.value('spool_jobs_enqueued_total', { queue: 'q2' })).toBe(0);

      // The publisher's limit: one token (0.5/s), so the second enqueue in a row is 429.
      expect((await call(server.base, 'POST', '/v1/queues/q1/jobs', { token: publisher.secret, body: { payload: 1 } })).status).toBe(202);
      expect((await call(server.base, 'POST', '/v1/queues/q1/jobs', { token: publisher.secret, body: { payload: 2 } })).status).toBe(429);
      const after = parsePrometheus((await admin.call('GET', '/metrics')).text);
      expect(after.value('spool_admission_rejected_total', { queue: 'q1', reason: 'rate_limit' })).toBe(1);
      expect(after.value('spool_jobs_enqueued_total', { queue: 'q1' })).toBe(1);
    });

    it('is open when the server is', async () => {
      const server = await startServer({ adminToken: null });
      expect((await call(server.base, 'GET', '/metrics')).status).toBe(200);
    });
  });
});
