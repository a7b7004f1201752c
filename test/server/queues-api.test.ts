/**
 * Queues and the dead-letter queue over real HTTP, on every store: PUT (201 / 200, strict config), GET one
 * and all with live stats and rates, pause / resume; DLQ list with a cursor, replay (ids, all, dry run)
 * and purge.
 */
import { describe, expect, it } from 'vitest';
import { NonRetryableError } from '../../src/index.js';
import { forEachStore, waitUntil } from '../engine/harness.js';
import { expectProblem, startApi, type Api } from './api-harness.js';

forEachStore(() => {
  describe('PUT /v1/queues/{queue}', () => {
    it('creates (201 + Location) and updates (200) idempotently; GET answers every documented field', async () => {
      const api = await startApi();
      const created = await api.call('PUT', '/v1/queues/emails', { body: { maxAttempts: 3, admission: { maxDepth: 100 }, webhook: { url: 'https://hooks.example.com/x', secret: 'whsec_abc' } } });
      expect(created.status).toBe(201);
      expect(created.headers.get('location')).toBe('/v1/queues/emails');
      expect(created.body).toMatchObject({
        name: 'emails',
        paused: false,
        maxAttempts: 3,
        backoff: { initialSeconds: 1, maxSeconds: 3600, multiplier: 2 },
        leaseSeconds: 30,
        timeoutSeconds: 900,
        rateLimit: null,
        agingSeconds: 60,
        ordering: { onDead: 'continue' },
        retention: { completedSeconds: 7 * 86400, deadSeconds: 30 * 86400 },
        admission: { maxDepth: 100, maxAgeSeconds: null },
        requireIdempotencyKey: false,
        groups: null,
        target: null,
        webhook: { url: 'https://hooks.example.com/x', secret: '[redacted]', events: null },
        schema: null,
        contracts: null,
        config: { maxAttempts: 3, admission: { maxDepth: 100 }, webhook: { url: 'https://hooks.example.com/x', secret: '[redacted]' } },
        stats: {
          counts: { scheduled: 0, queued: 0, active: 0, retrying: 0, completed: 0, dead: 0, cancelled: 0 },
          waiting: 0,
          oldestAgeSeconds: 0,
          totals: { enqueued: 0, completed: 0, failed: 0, dead: 0, cancelled: 0, replayed: 0 },
          throughput: null,
          failureRate: null,
        },
      });
      expect(created.text).not.toContain('whsec_abc');
      const same = await api.call('PUT', '/v1/queues/emails', { body: { maxAttempts: 3, admission: { maxDepth: 100 }, webhook: { url: 'https://hooks.example.com/x', secret: 'whsec_abc' } } });
      expect(same.status).toBe(200);
      const updated = await api.call('PUT', '/v1/queues/emails', { body: { maxAttempts: 7 } });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({ maxAttempts: 7, admission: null, webhook: null });
      const empty = await api.call('PUT', '/v1/queues/defaults');
      expect(empty.status).toBe(201);
      expect(empty.body.maxAttempts).toBe(5);
    });

    it('refuses invalid names (400), unknown or mistyped settings (400) and a payload schema that is not JSON Schema (422)', async () => {
      const api = await startApi();
      for (const name of ['-x', 'a'.repeat(65), 'a%20b', '..%2F..%2Fetc', 'a%00b']) {
        expectProblem(await api.call('PUT', `/v1/queues/${name}`, { body: {} }), 400, 'invalid-request');
      }
      const unknown = await api.call('PUT', '/v1/queues/q', { body: { maxAttempts: 3, colour: 'red' } });
      expectProblem(unknown, 400, 'invalid-request');
      expect(unknown.body.errors).toEqual([{ path: '/colour', message: 'is not allowed' }]);
      const mistyped = await api.call('PUT', '/v1/queues/q', { body: { maxAttempts: '5' } });
      expect(mistyped.body.errors).toEqual([{ path: '/maxAttempts', message: expect.stringMatching(/integer/) }]);
      expectProblem(await api.call('PUT', '/v1/queues/q', { body: { maxAttempts: 0 } }), 400);
      expectProblem(await api.call('PUT', '/v1/queues/q', { body: { backoff: { multiplier: 1000 } } }), 400);
      expectProblem(await api.call('PUT', '/v1/queues/q', { body: { ordering: { onDead: 'explode' } } }), 400);
      expectProblem(await api.call('PUT', '/v1/queues/q', { body: [] }), 400);
      const schema = await api.call('PUT', '/v1/queues/q', { body: { schema: { type: 'not-a-type' } } });
      expectProblem(schema, 422, 'validation-failed');
      expect(schema.body.errors[0].path).toBe('/schema');
      const contract = await api.call('PUT', '/v1/queues/q', { body: { contracts: { welcome: { one: { type: 'object' } } } } });
      expectProblem(contract, 422);
      expect(contract.body.errors[0].path).toBe('/contracts/welcome/one');
      expectProblem(await api.call('GET', '/v1/queues/q'), 404, 'queue-not-found');
    });
  });

  describe('GET /v1/queues, pause and resume', () => {
    it('lists queues with live counts; rates appear once the node has two samples a second apart', async () => {
      const api = await startApi();
      await api.call('PUT', '/v1/queues/b');
      await api.call('PUT', '/v1/queues/a');
      for (let i = 0; i < 3; i++) await api.call('POST', '/v1/queues/a/jobs', { body: { payload: i } });
      const list = await api.call('GET', '/v1/queues');
      expect(list.status).toBe(200);
      expect(list.body.queues.map((q: { name: string }) => q.name).sort()).toEqual(['a', 'b', 'spool.webhooks']);
      const a = list.body.queues.find((q: { name: string }) => q.name === 'a');
      expect(a.stats).toMatchObject({ counts: { queued: 3 }, waiting: 3, totals: { enqueued: 3 } });
      const rated = await waitUntil(async () => {
        const q = await api.call('GET', '/v1/queues/a');
        return q.body.stats.throughput ? q.body : undefined;
      }, 'a second sample', { intervalMs: 300 });
      expect(rated.stats.throughput.windowSeconds).toBeGreaterThanOrEqual(1);
      expect(rated.stats.throughput.enqueuedPerSecond).toBeGreaterThanOrEqual(0);
      expect(rated.stats.failureRate).toBeNull(); // nothing finished in the window
    });

    it('pauses and resumes (200 with the queue); an unknown queue is 404', async () => {
      const api = await startApi();
      await api.call('PUT', '/v1/queues/q');
      const paused = await api.call('POST', '/v1/queues/q/pause');
      expect(paused.status).toBe(200);
      expect(paused.body.paused).toBe(true);
      expect((await api.call('POST', '/v1/queues/q/jobs', { body: { payload: 1 } })).status).toBe(202); // enqueue keeps working
      expect((await api.call('GET', '/v1/queues/q')).body.paused).toBe(true);
      const resumed = await api.call('POST', '/v1/queues/q/resume', { body: {} });
      expect(resumed.body.paused).toBe(false);
      expectProblem(await api.call('POST', '/v1/queues/ghost/pause'), 404, 'queue-not-found');
      expectProblem(await api.call('GET', '/v1/queues/ghost'), 404, 'queue-not-found');
    });
  });

  describe('dead-letter queue', () => {
    async function withDead(count: number): Promise<{ api: Api; ids: string[] }> {
      const api = await startApi();
      await api.call('PUT', '/v1/queues/q', { body: { maxAttempts: 1 } });
      await api.call('PUT', '/v1/queues/other');
      api.spool.handle('q', (payload) => {
        if ((payload as { fail?: boolean }).fail) throw new NonRetryableError('boom');
        return 'ok';
      });
      const worker = await api.spool.work({ queues: ['q'] });
      const ids: string[] = [];
      for (let i = 0; i < count; i++) ids.push((await api.call('POST', '/v1/queues/q/jobs', { body: { payload: { fail: true, i } } })).body.id);
      await waitUntil(async () => (await api.call('GET', '/v1/queues/q')).body.stats.counts.dead === count, `${count} dead jobs`);
      await worker.stop();
      return { api, ids };
    }

    it('lists dead jobs newest first with their errors, page by page', async () => {
      const { api, ids } = await withDead(3);
      const first = await api.call('GET', '/v1/queues/q/dead?limit=2');
      expect(first.status).toBe(200);
      expect(first.body.jobs.map((j: { id: string }) => j.id)).toEqual([ids[2], ids[1]]);
      expect(first.body.jobs[0]).toMatchObject({ state: 'dead', lastError: { message: 'boom' } });
      expect(first.body.jobs[0].history.at(-1)).toMatchObject({ state: 'dead', error: { message: 'boom' } });
      const rest = await api.call('GET', `/v1/queues/q/dead?limit=2&cursor=${encodeURIComponent(first.body.nextCursor)}`);
      expect(rest.body).toEqual({ jobs: [expect.objectContaining({ id: ids[0] })], nextCursor: null });
      expectProblem(await api.call('GET', '/v1/queues/ghost/dead'), 404, 'queue-not-found');
      expectProblem(await api.call('GET', '/v1/queues/q/dead?limit=x'), 400);
    });

    it('replays by ids or all (dry run counts and changes nothing); attempts reset; the replay is in the history', async () => {
      const { api, ids } = await withDead(3);
      expect((await api.call('POST', '/v1/queues/q/dead/replay', { body: { all: true, dryRun: true } })).body).toEqual({ replayed: 3, dryRun: true });
      expect((await api.call('GET', '/v1/queues/q')).body.stats.counts.dead).toBe(3);
      const one = await api.call('POST', '/v1/queues/q/dead/replay', { body: { ids: [ids[0]] } });
      expect(one.body).toEqual({ replayed: 1, dryRun: false });
      const job = (await api.call('GET', `/v1/jobs/${ids[0]}`)).body;
      expect(job).toMatchObject({ state: 'queued', attempts: 0 });
      expect(job.history.at(-1)).toMatchObject({ state: 'queued', reason: 'replay' });
      expect((await api.call('POST', '/v1/queues/q/dead/replay', { body: { all: true } })).body).toEqual({ replayed: 2, dryRun: false });
      expect((await api.call('GET', '/v1/queues/q')).body.stats.counts).toMatchObject({ dead: 0, queued: 3 });

      expectProblem(await api.call('POST', '/v1/queues/q/dead/replay', { body: {} }), 400);
      expectProblem(await api.call('POST', '/v1/queues/q/dead/replay', { body: { ids: [ids[0]], all: true } }), 400);
      expectProblem(await api.call('POST', '/v1/queues/q/dead/replay', { body: { all: false } }), 400);
      expectProblem(await api.call('POST', '/v1/queues/q/dead/replay'), 400);
      expectProblem(await api.call('POST', '/v1/queues/ghost/dead/replay', { body: { all: true } }), 404, 'queue-not-found');
    });

    it('purges one dead job (204), then 404; a job that is not dead is 409; one of another queue 404', async () => {
      const { api, ids } = await withDead(1);
      const r = await api.call('DELETE', `/v1/queues/q/dead/${ids[0]}`);
      expect(r.status).toBe(204);
      expect(r.text).toBe('');
      expectProblem(await api.call('DELETE', `/v1/queues/q/dead/${ids[0]}`), 404, 'job-not-found');
      const live = (await api.call('POST', '/v1/queues/q/jobs', { body: { payload: { fail: false } } })).body;
      expectProblem(await api.call('DELETE', `/v1/queues/q/dead/${live.id}`), 409, 'invalid-transition');
      expectProblem(await api.call('DELETE', `/v1/queues/other/dead/${live.id}`), 404, 'job-not-found');
      expectProblem(await api.call('DELETE', `/v1/queues/ghost/dead/${live.id}`), 404, 'queue-not-found');
    });
  });
});
