/**
 * Idempotency fingerprints over real HTTP on both stores: the fingerprint is the body (and the queue), never
 * transport metadata. A retry that carries a fresh `X-Correlation-Id` or `traceparent` (middleware stamping
 * one per try) replays the original answer for a single enqueue, a batch and a topic event; the job keeps the
 * first request's correlation id; a body that differs (also only in its own `correlationId`) is still 422.
 * And the 409 for a key in flight carries `Retry-After` (contract).
 */
import { describe, expect, it } from 'vitest';
import { SpoolError } from '../../src/core/errors.js';
import { toProblem } from '../../src/server/problem.js';
import { forEachStore } from '../engine/harness.js';
import { expectProblem, startApi } from './api-harness.js';

const TRACE_1 = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
const TRACE_2 = '00-1bf7651916cd43dd8448eb211c80319c-c7ad6b7169203331-01';

forEachStore(() => {
  describe('Idempotency-Key and transport metadata', () => {
    it('a single enqueue retried with another X-Correlation-Id and traceparent replays; the job keeps the first correlation id', async () => {
      const api = await startApi();
      await api.spool.declareQueue('emails');
      const body = { payload: { to: 'ada@example.com' } };
      const first = await api.call('POST', '/v1/queues/emails/jobs', { body, headers: { 'idempotency-key': 'k-1', 'x-correlation-id': 'req-1', traceparent: TRACE_1 } });
      expect(first.status).toBe(202);
      const retry = await api.call('POST', '/v1/queues/emails/jobs', { body, headers: { 'idempotency-key': 'k-1', 'x-correlation-id': 'req-2', traceparent: TRACE_2 } });
      expect(retry.status).toBe(202);
      expect(retry.body).toEqual(first.body);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(retry.headers.get('location')).toBe(first.headers.get('location'));
      const bare = await api.call('POST', '/v1/queues/emails/jobs', { body, headers: { 'idempotency-key': 'k-1' } });
      expect(bare.status).toBe(202);
      expect(bare.body.id).toBe(first.body.id);
      expect((await api.call('GET', `/v1/jobs/${first.body.id}`)).body.correlationId).toBe('req-1');
      expect((await api.spool.listJobs({ queue: 'emails' })).jobs).toHaveLength(1);

      // The body's own correlationId is part of the body: another one under the same key is a reuse.
      const own = { payload: 1, correlationId: 'mine-1' };
      expect((await api.call('POST', '/v1/queues/emails/jobs', { body: own, headers: { 'idempotency-key': 'k-2' } })).status).toBe(202);
      const other = await api.call('POST', '/v1/queues/emails/jobs', { body: { ...own, correlationId: 'mine-2' }, headers: { 'idempotency-key': 'k-2' } });
      expectProblem(other, 422, 'idempotency-key-reused');
    });

    it('a batch retried with another X-Correlation-Id replays every item', async () => {
      const api = await startApi();
      await api.spool.declareQueue('emails');
      const body = { jobs: [{ payload: 1, idempotencyKey: 'a' }, { payload: 2, idempotencyKey: 'b' }] };
      const first = await api.call('POST', '/v1/queues/emails/jobs/batch', { body, headers: { 'x-correlation-id': 'req-1' } });
      expect(first.status).toBe(202);
      const retry = await api.call('POST', '/v1/queues/emails/jobs/batch', { body, headers: { 'x-correlation-id': 'req-2', traceparent: TRACE_2 } });
      expect(retry.status).toBe(202);
      expect(retry.body.jobs.map((j: { id: string }) => j.id)).toEqual(first.body.jobs.map((j: { id: string }) => j.id));
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      for (const j of first.body.jobs as Array<{ id: string }>) expect((await api.spool.getJob(j.id)).correlationId).toBe('req-1');
    });

    it('a topic event retried with another X-Correlation-Id replays its jobs', async () => {
      const api = await startApi();
      await api.spool.declareQueue('billing');
      await api.spool.declareQueue('audit');
      expect((await api.call('PUT', '/v1/topics/orders', { body: { queues: ['billing', 'audit'] } })).status).toBe(201);
      const body = { payload: { order: 7 } };
      const first = await api.call('POST', '/v1/topics/orders/events', { body, headers: { 'idempotency-key': 'evt-1', 'x-correlation-id': 'req-1', traceparent: TRACE_1 } });
      expect(first.status).toBe(202);
      const retry = await api.call('POST', '/v1/topics/orders/events', { body, headers: { 'idempotency-key': 'evt-1', 'x-correlation-id': 'req-2' } });
      expect(retry.status).toBe(202);
      expect(retry.headers.get('idempotent-replayed')).toBe('true');
      expect(retry.body.jobs.map((j: { id: string }) => j.id)).toEqual(first.body.jobs.map((j: { id: string }) => j.id));
      for (const j of first.body.jobs as Array<{ id: string }>) expect((await api.spool.getJob(j.id)).correlationId).toBe('req-1');
    });

    it('the library keeps the same rule: an option-level correlationId is part of the request, the transport one is not', async () => {
      const api = await startApi();
      await api.spool.declareQueue('emails');
      const a = await api.spool.enqueue('emails', { n: 1 }, { idempotencyKey: 'lib-1', transportCorrelationId: 'req-1' });
      const b = await api.spool.enqueue('emails', { n: 1 }, { idempotencyKey: 'lib-1', transportCorrelationId: 'req-2' });
      expect(b.replayed).toBe(true);
      expect(b.id).toBe(a.id);
      expect((await api.spool.getJob(a.id)).correlationId).toBe('req-1');
      await expect(api.spool.enqueue('emails', { n: 1 }, { idempotencyKey: 'lib-1', correlationId: 'other' })).rejects.toMatchObject({ code: 'idempotency_key_reused' });
    });
  });
});

describe('409 idempotency-key-in-flight', () => {
  it('carries Retry-After', () => {
    const problem = toProblem(new SpoolError('idempotency_key_in_flight', 'in flight'));
    expect(problem.status).toBe(409);
    expect(problem.retryAfterSeconds).toBeGreaterThanOrEqual(1);
  });
});
