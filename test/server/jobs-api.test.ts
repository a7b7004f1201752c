/**
 * The accept path and job status over real HTTP, on every store: enqueue (202 after commit, Location,
 * the receipt), idempotency (replay, reuse 422, required 400, a race of 20 requests on one key), dry runs
 * that write nothing, admission control, the batch endpoint (all or nothing), status with history,
 * `waitSeconds` and `Retry-After`, search with a cursor, and cancel.
 */
import { describe, expect, it } from 'vitest';
import { forEachStore, deferred, waitUntil } from '../engine/harness.js';
import { expectProblem, startApi, type Api } from './api-harness.js';

async function withQueue(config: Record<string, unknown> = {}, name = 'emails'): Promise<Api> {
  const api = await startApi();
  const r = await api.call('PUT', `/v1/queues/${name}`, { body: config });
  expect(r.status).toBe(201);
  return api;
}

const EMAIL_SCHEMA = { type: 'object', properties: { email: { type: 'string', format: 'email' } }, required: ['email'], additionalProperties: false };

forEachStore(() => {
  describe('POST /v1/queues/{queue}/jobs', () => {
    it('answers 202 with Location and the receipt once committed; the job is there with every documented field', async () => {
      const api = await withQueue();
      const r = await api.call('POST', '/v1/queues/emails/jobs', { body: { payload: { email: 'ada@example.com' }, priority: 'high', orderingKey: 'o-1' } });
      expect(r.status).toBe(202);
      expect(Object.keys(r.body).sort()).toEqual(['createdAt', 'id', 'queue', 'runAt', 'state', 'statusUrl']);
      expect(r.body).toMatchObject({ queue: 'emails', state: 'queued', statusUrl: `/v1/jobs/${r.body.id}` });
      expect(r.headers.get('location')).toBe(`/v1/jobs/${r.body.id}`);
      expect(r.headers.get('idempotent-replayed')).toBeNull();
      expect(new Date(r.body.createdAt).toISOString()).toBe(r.body.createdAt);

      const job = await api.call('GET', r.headers.get('location')!);
      expect(job.status).toBe(200);
      expect(job.body).toEqual({
        id: r.body.id,
        queue: 'emails',
        type: null,
        version: 1,
        state: 'queued',
        priority: 'high',
        orderingKey: 'o-1',
        groupKey: null,
        correlationId: null,
        attempts: 0,
        maxAttempts: 5,
        createdAt: r.body.createdAt,
        runAt: r.body.runAt,
        startedAt: null,
        finishedAt: null,
        progress: null,
        result: null,
        lastError: null,
        payload: { email: 'ada@example.com' },
        payloadRef: null,
        payloadBytes: null,
        history: [{ state: 'queued', at: expect.any(String), attempt: 0 }],
      });
      expect(job.headers.get('retry-after')).toBe('1'); // not terminal: a polling hint
      expect((await api.spool.getJob(r.body.id)).payload).toEqual({ email: 'ada@example.com' });
    });

    it('delays with delaySeconds (scheduled), refuses runAt with delaySeconds, and carries X-Correlation-Id unless the body has one', async () => {
      const api = await withQueue();
      const later = await api.call('POST', '/v1/queues/emails/jobs', { body: { payload: 1, delaySeconds: 3600 }, headers: { 'x-correlation-id': 'req-7' } });
      expect(later.status).toBe(202);
      expect(later.body.state).toBe('scheduled');
      const job = await api.call('GET', later.body.statusUrl);
      expect(job.body).toMatchObject({ state: 'scheduled', correlationId: 'req-7' });
      expect(Number(job.headers.get('retry-after'))).toBeGreaterThan(3000);

      const own = await api.call('POST', '/v1/queues/emails/jobs', { body: { payload: 2, correlationId: 'mine' }, headers: { 'x-correlation-id': 'req-8' } });
      expect((await api.spool.getJob(own.body.id)).correlationId).toBe('mine');

      const both = await api.call('POST', '/v1/queues/emails/jobs', { body: { payload: 3, delaySeconds: 1, runAt: new Date().toISOString() } });
      expectProblem(both, 400, 'invalid-request');
      expect(both.body.errors).toEqual([{ path: '/delaySeconds', message: expect.any(String) }]);
    });

    it('answers 404 for an undeclared queue and 400 for an invalid queue name', async () => {
      const api = await withQueue();
      expectProblem(await api.call('POST', '/v1/queues/nope/jobs', { body: { payload: 1 } }), 404, 'queue-not-found');
      expectProblem(await api.call('POST', '/v1/queues/-bad/jobs', { body: { payload: 1 } }), 400, 'invalid-request');
    });

    it("validates the payload against the queue's schema, and against contracts by job type and version: 422 with JSON Pointers", async () => {
      const api = await withQueue({ schema: EMAIL_SCHEMA });
      const bad = await api.call('POST', '/v1/queues/emails/jobs', { body: { payload: { email: 'not-an-email', extra: 1 } } });
      expectProblem(bad, 422, 'validation-failed');
      expect(bad.body.errors).toEqual(
        expect.arrayContaining([
          { path: '/payload/email', message: expect.stringContaining('format') },
          { path: '/payload/extra', message: expect.any(String) },
        ]),
      );
      expect((await api.call('POST', '/v1/queues/emails/jobs', { body: { payload: { email: 'a@example.com' } } })).status).toBe(202);

      const contracts = {
        contracts: {
          welcome: { '1': { type: 'object', required: ['name'] }, '2': { type: 'object', required: ['email'], properties: { email: { type: 'string' } } } },
        },
      };
      expect((await api.call('PUT', '/v1/queues/typed', { body: contracts })).status).toBe(201);
      const v2 = await api.call('POST', '/v1/queues/typed/jobs', { body: { type: 'welcome', payload: { email: 'x' } } });
      expect(v2.status).toBe(202);
      expect((await api.spool.getJob(v2.body.id)).version).toBe(2); // the newest declared version
      expect((await api.call('POST', '/v1/queues/typed/jobs', { body: { type: 'welcome', version: 1, payload: { name: 'Ada' } } })).status).toBe(202);
      const v1bad = await api.call('POST', '/v1/queues/typed/jobs', { body: { type: 'welcome', version: 1, payload: { email: 'x' } } });
      expectProblem(v1bad, 422, 'validation-failed');
      expect(v1bad.body.errors).toEqual([{ path: '/payload/name', message: expect.any(String) }]);
      expectProblem(await api.call('POST', '/v1/queues/typed/jobs', { body: { type: 'welcome', version: 3, payload: {} } }), 422);
      expectProblem(await api.call('POST', '/v1/queues/typed/jobs', { body: { type: 'other', payload: {} } }), 422);
      expectProblem(await api.call('POST', '/v1/queues/typed/jobs', { body: { payload: {} } }), 422);
    });

    it('Idempotency-Key: the same body replays the original 202; a different body is 422; a required key missing is 400', async () => {
      const api = await withQueue({ requireIdempotencyKey: true });
      const body = { payload: { n: 1 }, priority: 'low' };
      const first = await api.call('POST', '/v1/queues/emails/jobs', { body, headers: { 'idempotency-key': 'k-1' } });
      expect(first.status).toBe(202);
      // Key order in the body does not matter: the request is fingerprinted canonically.
      const again = await api.call('POST', '/v1/queues/emails/jobs', { raw: '{"priority":"low","payload":{"n":1}}', headers: { 'idempotency-key': '"k-1"' } });
      expect(again.status).toBe(202);
      expect(again.body).toEqual(first.body);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.headers.get('location')).toBe(first.headers.get('location'));

      const reused = await api.call('POST', '/v1/queues/emails/jobs', { body: { payload: { n: 2 } }, headers: { 'idempotency-key': 'k-1' } });
      expectProblem(reused, 422);
      expect(reused.body.type).toMatch(/idempotency-key-reused$/);

      expectProblem(await api.call('POST', '/v1/queues/emails/jobs', { body }), 400, 'idempotency-key-required');
      expectProblem(await api.call('POST', '/v1/queues/emails/jobs', { body, headers: { 'idempotency-key': 'x'.repeat(257) } }), 400);
      const page = await api.call('GET', '/v1/jobs?queue=emails');
      expect(page.body.jobs).toHaveLength(1);
    });

    it('20 concurrent requests with one key make one job: the others replay it or get 409 while it is in flight', async () => {
      const api = await withQueue();
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => api.call('POST', '/v1/queues/emails/jobs', { body: { payload: { order: 42 } }, headers: { 'idempotency-key': 'order-42' } })),
      );
      const statuses = answers.map((a) => a.status);
      expect(statuses.every((s) => s === 202 || s === 409)).toBe(true);
      const accepted = answers.filter((a) => a.status === 202);
      expect(new Set(accepted.map((a) => a.body.id)).size).toBe(1);
      expect(accepted.filter((a) => a.headers.get('idempotent-replayed') === null)).toHaveLength(1);
      for (const a of answers.filter((x) => x.status === 409)) expectProblem(a, 409, 'idempotency-key-in-flight');
      const page = await api.call('GET', '/v1/jobs?queue=emails');
      expect(page.body.jobs.map((j: { id: string }) => j.id)).toEqual([accepted[0]!.body.id]);
      // Afterwards the key replays.
      const later = await api.call('POST', '/v1/queues/emails/jobs', { body: { payload: { order: 42 } }, headers: { 'idempotency-key': 'order-42' } });
      expect(later.status).toBe(202);
      expect(later.body.id).toBe(accepted[0]!.body.id);
    });

    it('?dryRun=true validates everything and writes nothing; an invalid dry run gets the same 4xx as a real one', async () => {
      const api = await withQueue({ schema: EMAIL_SCHEMA });
      const dry = await api.call('POST', '/v1/queues/emails/jobs?dryRun=true', { body: { payload: { email: 'a@example.com' }, delaySeconds: 60 }, headers: { 'idempotency-key': 'dry-1' } });
      expect(dry.status).toBe(200);
      expect(dry.body).toEqual({ dryRun: true, valid: true, queue: 'emails', count: 1, state: 'scheduled', idempotencyKey: 'dry-1' });
      expectProblem(await api.call('POST', '/v1/queues/emails/jobs?dryRun=true', { body: { payload: { email: 'no' } } }), 422, 'validation-failed');
      expectProblem(await api.call('POST', '/v1/queues/ghost/jobs?dryRun=true', { body: { payload: {} } }), 404, 'queue-not-found');
      expectProblem(await api.call('POST', '/v1/queues/emails/jobs?dryRun=maybe', { body: { payload: {} } }), 400);
      const queue = await api.call('GET', '/v1/queues/emails');
      expect(queue.body.stats.totals.enqueued).toBe(0);
      expect((await api.call('GET', '/v1/jobs?queue=emails')).body.jobs).toEqual([]);
      // The key was not taken by the dry run: a real request with it and another body is accepted.
      expect((await api.call('POST', '/v1/queues/emails/jobs', { body: { payload: { email: 'b@example.com' } }, headers: { 'idempotency-key': 'dry-1' } })).status).toBe(202);
    });

    it('admission control: waiting work over admission.maxDepth answers 503 with Retry-After and writes nothing', async () => {
      const api = await withQueue({ admission: { maxDepth: 2 } });
      for (let i = 0; i < 2; i++) expect((await api.call('POST', '/v1/queues/emails/jobs', { body: { payload: i } })).status).toBe(202);
      const full = await api.call('POST', '/v1/queues/emails/jobs', { body: { payload: 3 } });
      expectProblem(full, 503, 'admission-rejected');
      expect(Number(full.headers.get('retry-after'))).toBeGreaterThan(0);
      expectProblem(await api.call('POST', '/v1/queues/emails/jobs?dryRun=true', { body: { payload: 3 } }), 503, 'admission-rejected');
      expectProblem(await api.call('POST', '/v1/queues/emails/jobs/batch', { body: { jobs: [{ payload: 3 }] } }), 503, 'admission-rejected');
      // Future scheduled jobs do not count as waiting; cancelling frees room.
      const jobs = (await api.call('GET', '/v1/jobs?queue=emails')).body.jobs as Array<{ id: string }>;
      expect(jobs).toHaveLength(2);
      expect((await api.call('POST', `/v1/jobs/${jobs[0]!.id}/cancel`)).status).toBe(200);
      await waitUntil(async () => (await api.call('POST', '/v1/queues/emails/jobs', { body: { payload: 4 } })).status === 202, 'room after a cancel');
    });

    it('admission control: the oldest waiting job older than admission.maxAgeSeconds answers 503', async () => {
      const api = await withQueue({ admission: { maxAgeSeconds: 0.2 } });
      expect((await api.call('POST', '/v1/queues/emails/jobs', { body: { payload: 1 } })).status).toBe(202);
      const refused = await waitUntil(async () => {
        const r = await api.call('POST', '/v1/queues/emails/jobs', { body: { payload: 2 } });
        return r.status === 503 ? r : undefined;
      }, 'the age limit to bite');
      expectProblem(refused, 503, 'admission-rejected');
      expect(refused.body.detail).toMatch(/maxAgeSeconds/);
    });
  });

  describe('POST /v1/queues/{queue}/jobs/batch', () => {
    it('accepts up to 1,000 jobs in request order, in one commit', async () => {
      const api = await withQueue({ schema: EMAIL_SCHEMA });
      const jobs = Array.from({ length: 1000 }, (_, i) => ({ payload: { email: `u${i}@example.com` } }));
      const r = await api.call('POST', '/v1/queues/emails/jobs/batch', { body: { jobs } });
      expect(r.status).toBe(202);
      expect(r.body.jobs).toHaveLength(1000);
      expect(r.body.jobs[0]).toEqual({ id: expect.any(String), queue: 'emails', state: 'queued', statusUrl: `/v1/jobs/${r.body.jobs[0].id}`, createdAt: expect.any(String), runAt: expect.any(String), replayed: false });
      expect((await api.spool.getJob(r.body.jobs[999].id)).payload).toEqual({ email: 'u999@example.com' });
      expect((await api.call('GET', '/v1/queues/emails')).body.stats.counts.queued).toBe(1000);
      expectProblem(await api.call('POST', '/v1/queues/emails/jobs/batch', { body: { jobs: [...jobs, jobs[0]] } }), 400);
      expectProblem(await api.call('POST', '/v1/queues/emails/jobs/batch', { body: { jobs: [] } }), 400);
    });

    it('is all or nothing: one invalid item is 422 with {index, path, message} and nothing is written', async () => {
      const api = await withQueue({ schema: EMAIL_SCHEMA });
      const r = await api.call('POST', '/v1/queues/emails/jobs/batch', {
        body: { jobs: [{ payload: { email: 'a@example.com' } }, { payload: { email: 'b@example.com' } }, { payload: { email: 'nope' } }] },
      });
      expectProblem(r, 422, 'validation-failed');
      expect(r.body.errors).toEqual([{ index: 2, path: '/jobs/2/payload/email', message: expect.any(String) }]);
      const structural = await api.call('POST', '/v1/queues/emails/jobs/batch', { body: { jobs: [{ payload: {} }, { payload: {}, priority: 'urgent' }] } });
      expectProblem(structural, 400, 'invalid-request');
      expect(structural.body.errors[0]).toMatchObject({ index: 1, path: '/jobs/1/priority' });
      expect((await api.call('GET', '/v1/queues/emails')).body.stats.totals.enqueued).toBe(0);
    });

    it('per-item idempotency keys: a repeated batch replays every item; a reused key with another body is 422 and writes nothing', async () => {
      const api = await withQueue();
      const body = { jobs: [{ payload: 1, idempotencyKey: 'a' }, { payload: 2, idempotencyKey: 'b' }] };
      const first = await api.call('POST', '/v1/queues/emails/jobs/batch', { body });
      expect(first.status).toBe(202);
      const again = await api.call('POST', '/v1/queues/emails/jobs/batch', { body });
      expect(again.status).toBe(202);
      expect(again.body.jobs.map((j: { id: string }) => j.id)).toEqual(first.body.jobs.map((j: { id: string }) => j.id));
      expect(again.body.jobs.every((j: { replayed: boolean }) => j.replayed)).toBe(true);
      expect(again.headers.get('idempotent-replayed')).toBe('true');

      const reused = await api.call('POST', '/v1/queues/emails/jobs/batch', { body: { jobs: [{ payload: 3, idempotencyKey: 'c' }, { payload: 99, idempotencyKey: 'b' }] } });
      expectProblem(reused, 422, 'idempotency-key-reused');
      expect(reused.body.errors).toEqual([{ index: 1, path: '/jobs/1/idempotencyKey', message: expect.any(String) }]);
      expect((await api.call('GET', '/v1/queues/emails')).body.stats.totals.enqueued).toBe(2); // item 0 ("c") rolled back

      expectProblem(await api.call('POST', '/v1/queues/emails/jobs/batch', { body: { jobs: [{ payload: 1, idempotencyKey: 'd' }, { payload: 2, idempotencyKey: 'd' }] } }), 400);
      expectProblem(await api.call('POST', '/v1/queues/emails/jobs/batch', { body, headers: { 'idempotency-key': 'k' } }), 400);
      const dry = await api.call('POST', '/v1/queues/emails/jobs/batch?dryRun=true', { body: { jobs: [{ payload: 1 }, { payload: 2 }] } });
      expect(dry.body).toMatchObject({ dryRun: true, valid: true, count: 2 });
      expect((await api.call('GET', '/v1/queues/emails')).body.stats.totals.enqueued).toBe(2);
    });
  });

  describe('GET /v1/jobs/{id}', () => {
    it('?waitSeconds holds the request until the job is terminal; the answer then has no Retry-After', async () => {
      const api = await withQueue();
      const release = deferred();
      api.spool.handle('emails', async () => {
        await release.promise;
        return { sent: true };
      });
      await api.spool.work({ queues: ['emails'] });
      const { body } = await api.call('POST', '/v1/queues/emails/jobs', { body: { payload: {} } });
      const waiting = api.call('GET', `/v1/jobs/${body.id}?waitSeconds=20`);
      await waitUntil(async () => (await api.spool.getJob(body.id)).state === 'active', 'the job to start');
      release.resolve();
      const done = await waiting;
      expect(done.status).toBe(200);
      expect(done.body).toMatchObject({ state: 'completed', result: { sent: true }, attempts: 1 });
      expect(done.body.startedAt).toEqual(expect.any(String));
      expect(done.body.history.map((h: { state: string }) => h.state)).toEqual(['queued', 'active', 'completed']);
      expect(done.headers.get('retry-after')).toBeNull();
    });

    it('a wait that times out answers the job as it is, with Retry-After; bad ids and waits are 4xx', async () => {
      const api = await withQueue();
      const { body } = await api.call('POST', '/v1/queues/emails/jobs', { body: { payload: {} } });
      const r = await api.call('GET', `/v1/jobs/${body.id}?waitSeconds=0.3`);
      expect(r.status).toBe(200);
      expect(r.body.state).toBe('queued');
      expect(r.headers.get('retry-after')).toBe('1');
      expectProblem(await api.call('GET', `/v1/jobs/${body.id}?waitSeconds=31`), 400, 'invalid-request');
      expectProblem(await api.call('GET', `/v1/jobs/${body.id}?waitSeconds=-1`), 400);
      expectProblem(await api.call('GET', `/v1/jobs/${body.id}?waitSeconds=soon`), 400);
      expectProblem(await api.call('GET', '/v1/jobs/01890000-0000-7000-8000-000000000000'), 404, 'job-not-found');
      expectProblem(await api.call('GET', '/v1/jobs/01890000-0000-7000-8000-000000000000?waitSeconds=1'), 404, 'job-not-found');
    });
  });

  describe('GET /v1/jobs', () => {
    it('searches newest first by queue, state, type and correlationId, page by page with a cursor', async () => {
      const api = await withQueue();
      expect((await api.call('PUT', '/v1/queues/other')).status).toBe(201);
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push((await api.call('POST', '/v1/queues/emails/jobs', { body: { payload: i, type: 'mail', correlationId: i % 2 ? 'odd' : 'even' } })).body.id);
      await api.call('POST', '/v1/queues/other/jobs', { body: { payload: 'x' } });
      const first = await api.call('GET', '/v1/jobs?queue=emails&limit=2');
      expect(first.body.jobs.map((j: { id: string }) => j.id)).toEqual([ids[4], ids[3]]);
      expect(first.body.nextCursor).toEqual(expect.any(String));
      const second = await api.call('GET', `/v1/jobs?queue=emails&limit=2&cursor=${encodeURIComponent(first.body.nextCursor)}`);
      expect(second.body.jobs.map((j: { id: string }) => j.id)).toEqual([ids[2], ids[1]]);
      expect((await api.call('GET', '/v1/jobs?correlationId=odd')).body.jobs).toHaveLength(2);
      expect((await api.call('GET', '/v1/jobs?type=mail&state=queued')).body.jobs).toHaveLength(5);
      expect((await api.call('GET', '/v1/jobs')).body.jobs).toHaveLength(6);
      expect((await api.call('GET', '/v1/jobs?state=dead')).body).toEqual({ jobs: [], nextCursor: null });
      expectProblem(await api.call('GET', '/v1/jobs?limit=0'), 400);
      expectProblem(await api.call('GET', '/v1/jobs?limit=501'), 400);
      expectProblem(await api.call('GET', '/v1/jobs?state=sleeping'), 400);
      expectProblem(await api.call('GET', '/v1/jobs?cursor=garbage'), 400);
      expectProblem(await api.call('GET', '/v1/jobs?colour=red'), 400);
      expectProblem(await api.call('GET', '/v1/jobs?queue=ghost'), 404, 'queue-not-found');
    });
  });

  describe('POST /v1/jobs/{id}/cancel', () => {
    it('cancels a waiting job (200); an active or finished one is 409; an unknown one 404', async () => {
      const api = await withQueue();
      const waiting = (await api.call('POST', '/v1/queues/emails/jobs', { body: { payload: 1, delaySeconds: 60 } })).body;
      const r = await api.call('POST', `/v1/jobs/${waiting.id}/cancel`);
      expect(r.status).toBe(200);
      expect(r.body).toMatchObject({ id: waiting.id, state: 'cancelled' });
      expect(r.body.finishedAt).toEqual(expect.any(String));
      expectProblem(await api.call('POST', `/v1/jobs/${waiting.id}/cancel`), 409, 'invalid-transition');

      const release = deferred();
      api.spool.handle('emails', () => release.promise);
      await api.spool.work({ queues: ['emails'] });
      const running = (await api.call('POST', '/v1/queues/emails/jobs', { body: { payload: 2 } })).body;
      await waitUntil(async () => (await api.spool.getJob(running.id)).state === 'active', 'the job to start');
      const refused = await api.call('POST', `/v1/jobs/${running.id}/cancel`);
      expectProblem(refused, 409, 'invalid-transition');
      expect(refused.body.detail).toMatch(/active/);
      release.resolve();
      expectProblem(await api.call('POST', '/v1/jobs/01890000-0000-7000-8000-000000000000/cancel'), 404, 'job-not-found');
    });
  });
});
