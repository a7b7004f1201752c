/**
 * Topics over real HTTP on both stores: PUT/GET/DELETE /v1/topics and POST /v1/topics/{topic}/events (atomic
 * fan-out, Idempotency-Key replay and reuse, dry run, admission, strict bodies, problem+json failures). Every
 * response is checked against its documented schema (validateResponses).
 */
import { describe, expect, it } from 'vitest';
import { forEachStore } from '../engine/harness.js';
import { expectProblem, startApi, type Api } from './api-harness.js';

async function withQueues(api: Api): Promise<void> {
  await api.spool.declareQueue('billing');
  await api.spool.declareQueue('emails', { schema: { type: 'object', required: ['email'], properties: { email: { type: 'string', format: 'email' } } } });
  await api.spool.declareQueue('audit');
}

async function jobCount(api: Api, queue: string): Promise<number> {
  return (await api.spool.listJobs({ queue, limit: 500 })).jobs.length;
}

forEachStore(() => {
  describe('HTTP topics', () => {
    it('PUT creates (201, Location) and replaces (200); GET lists and shows; DELETE answers 204, then 404', async () => {
      const api = await startApi({ adminToken: null });
      await withQueues(api);
      const created = await api.call('PUT', '/v1/topics/orders', { body: { queues: ['billing', 'emails'] } });
      expect(created.status).toBe(201);
      expect(created.headers.get('location')).toBe('/v1/topics/orders');
      expect(created.body).toMatchObject({ name: 'orders', queues: ['billing', 'emails'], createdAt: expect.any(String), updatedAt: expect.any(String) });
      const replaced = await api.call('PUT', '/v1/topics/orders', { body: { queues: ['audit'] } });
      expect(replaced.status).toBe(200);
      expect(replaced.body.queues).toEqual(['audit']);
      await api.call('PUT', '/v1/topics/accounts', { body: { queues: ['billing'] } });
      const list = await api.call('GET', '/v1/topics');
      expect(list.status).toBe(200);
      expect(list.body.topics.map((t: { name: string }) => t.name)).toEqual(['accounts', 'orders']);
      expect((await api.call('GET', '/v1/topics/orders')).body).toMatchObject({ name: 'orders', queues: ['audit'] });
      expect((await api.call('DELETE', '/v1/topics/orders')).status).toBe(204);
      expectProblem(await api.call('DELETE', '/v1/topics/orders'), 404, 'topic-not-found');
      expectProblem(await api.call('GET', '/v1/topics/orders'), 404, 'topic-not-found');
      const audit = await api.spool.store.auditList({ limit: 10 });
      expect(audit.entries.map((e) => `${e.action} ${e.target}`)).toEqual(['topic.delete orders', 'topic.put accounts', 'topic.put orders', 'topic.put orders']);
    });

    it('refuses bad topic bodies: unknown queue 422 with a pointer, unknown fields, wrong types, empty or repeated lists and bad names 400', async () => {
      const api = await startApi({ adminToken: null });
      await withQueues(api);
      const unknown = await api.call('PUT', '/v1/topics/orders', { body: { queues: ['billing', 'nope'] } });
      expectProblem(unknown, 422, 'validation-failed');
      expect(unknown.body.errors).toEqual([{ path: '/queues/1', message: 'queue "nope" is not declared' }]);
      const extra = await api.call('PUT', '/v1/topics/orders', { body: { queues: ['billing'], fanout: 'all' } });
      expectProblem(extra, 400, 'invalid-request');
      expect(extra.body.errors).toContainEqual(expect.objectContaining({ path: '/fanout' }));
      expectProblem(await api.call('PUT', '/v1/topics/orders', { body: { queues: 'billing' } }), 400, 'invalid-request');
      expectProblem(await api.call('PUT', '/v1/topics/orders', { body: { queues: [] } }), 400, 'invalid-request');
      expectProblem(await api.call('PUT', '/v1/topics/orders', { body: { queues: ['audit', 'audit'] } }), 400, 'invalid-request');
      expectProblem(await api.call('PUT', '/v1/topics/orders', { body: { queues: ['bad name'] } }), 400, 'invalid-request');
      expectProblem(await api.call('PUT', '/v1/topics/bad%20name', { body: { queues: ['audit'] } }), 400, 'invalid-request');
      expectProblem(await api.call('PUT', '/v1/topics/orders', { raw: 'queues=audit', contentType: 'text/plain' }), 415);
      expectProblem(await api.call('GET', '/v1/topics/orders'), 404, 'topic-not-found'); // nothing was written
    });

    it('an event makes one job per queue (202), all committed: each is a real job', async () => {
      const api = await startApi({ adminToken: null });
      await withQueues(api);
      await api.call('PUT', '/v1/topics/orders', { body: { queues: ['billing', 'emails', 'audit'] } });
      const r = await api.call('POST', '/v1/topics/orders/events', {
        body: { payload: { email: 'ada@example.com' }, type: 'order.created', priority: 'high' },
        headers: { 'x-correlation-id': 'corr-7' },
      });
      expect(r.status).toBe(202);
      expect(r.headers.get('idempotent-replayed')).toBeNull();
      expect(r.body.topic).toBe('orders');
      expect(r.body.jobs.map((j: { queue: string; state: string; replayed: boolean }) => [j.queue, j.state, j.replayed])).toEqual([
        ['billing', 'queued', false],
        ['emails', 'queued', false],
        ['audit', 'queued', false],
      ]);
      for (const job of r.body.jobs) {
        const got = await api.call('GET', job.statusUrl);
        expect(got.body).toMatchObject({ id: job.id, queue: job.queue, type: 'order.created', priority: 'high', correlationId: 'corr-7', payload: { email: 'ada@example.com' } });
      }
    });

    it('one queue\'s schema refusing the payload is 422 naming the queue, and no job is written anywhere', async () => {
      const api = await startApi({ adminToken: null });
      await withQueues(api);
      await api.call('PUT', '/v1/topics/orders', { body: { queues: ['billing', 'emails', 'audit'] } });
      const r = await api.call('POST', '/v1/topics/orders/events', { body: { payload: { email: 'nope' } } });
      expectProblem(r, 422, 'validation-failed');
      expect(r.body.errors).toEqual([{ path: '/payload/email', message: expect.stringMatching(/^queue "emails": /) }]);
      for (const q of ['billing', 'emails', 'audit']) expect(await jobCount(api, q)).toBe(0);
    });

    it('Idempotency-Key: the same event answers the original jobs (Idempotent-Replayed), another body is 422', async () => {
      const api = await startApi({ adminToken: null });
      await withQueues(api);
      await api.call('PUT', '/v1/topics/orders', { body: { queues: ['billing', 'audit'] } });
      const headers = { 'idempotency-key': 'evt-42' };
      const first = await api.call('POST', '/v1/topics/orders/events', { body: { payload: { n: 1 } }, headers });
      const again = await api.call('POST', '/v1/topics/orders/events', { body: { payload: { n: 1 } }, headers });
      expect(again.status).toBe(202);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.body.jobs.map((j: { id: string }) => j.id)).toEqual(first.body.jobs.map((j: { id: string }) => j.id));
      expect(again.body.jobs.every((j: { replayed: boolean }) => j.replayed)).toBe(true);
      expectProblem(await api.call('POST', '/v1/topics/orders/events', { body: { payload: { n: 2 } }, headers }), 422, 'idempotency-key-reused');
      expect(await jobCount(api, 'billing')).toBe(1);
      // Concurrent requests with one key make one set of jobs (the others replay it or are told it is in flight).
      const racers = await Promise.all(
        Array.from({ length: 10 }, () => api.call('POST', '/v1/topics/orders/events', { body: { payload: { n: 3 } }, headers: { 'idempotency-key': 'evt-race' } })),
      );
      for (const r of racers) expect([202, 409], r.text).toContain(r.status);
      expect(racers.filter((r) => r.status === 202).length).toBeGreaterThan(0);
      expect(await jobCount(api, 'billing')).toBe(2);
      expect(await jobCount(api, 'audit')).toBe(2);
      expectProblem(await api.call('POST', '/v1/topics/orders/events', { body: { payload: 1 }, headers: { 'idempotency-key': 'bad key' } }), 400, 'invalid-request');
    });

    it('dry run checks everything and writes nothing; unknown topic 404; strict event body 400; admission 503', async () => {
      const api = await startApi({ adminToken: null });
      await withQueues(api);
      await api.spool.declareQueue('tiny', { admission: { maxDepth: 1 } });
      await api.call('PUT', '/v1/topics/orders', { body: { queues: ['billing', 'emails'] } });
      const dry = await api.call('POST', '/v1/topics/orders/events?dryRun=true', { body: { payload: { email: 'a@example.com' } } });
      expect(dry.status).toBe(200);
      expect(dry.body).toEqual({ dryRun: true, valid: true, topic: 'orders', queues: ['billing', 'emails'], count: 2, idempotencyKey: null });
      expectProblem(await api.call('POST', '/v1/topics/orders/events?dryRun=true', { body: { payload: { email: 'x' } } }), 422, 'validation-failed');
      expect(await jobCount(api, 'billing')).toBe(0);

      expectProblem(await api.call('POST', '/v1/topics/ghost/events', { body: { payload: 1 } }), 404, 'topic-not-found');
      const extra = await api.call('POST', '/v1/topics/orders/events', { body: { payload: { email: 'a@example.com' }, queue: 'billing' } });
      expectProblem(extra, 400, 'invalid-request');
      expectProblem(await api.call('POST', '/v1/topics/orders/events', { body: { type: 'x' } }), 400, 'invalid-request'); // payload is required
      expectProblem(await api.call('POST', '/v1/topics/orders/events', { body: { payload: 1, priority: 'urgent' } }), 400, 'invalid-request');

      await api.call('PUT', '/v1/topics/small', { body: { queues: ['billing', 'tiny'] } });
      expect((await api.call('POST', '/v1/topics/small/events', { body: { payload: 1 } })).status).toBe(202);
      const full = await api.call('POST', '/v1/topics/small/events', { body: { payload: 2 } });
      expectProblem(full, 503, 'admission-rejected');
      expect(full.headers.get('retry-after')).not.toBeNull();
      expect(await jobCount(api, 'billing')).toBe(1);
    });
  });
});
