/**
 * Smaller HTTP rules from issue 11, on every store: the `Idempotency-Key` header as an RFC 8941 sf-string item
 * (parameters ignored, malformed → 400; unquoted keys taken as they stand), admission refusals logged at
 * `info`, the library's per-job options (`leaseSeconds`, `timeoutSeconds`, `backoff`) over HTTP on single,
 * batch and topic enqueues, strict bodies on pause / resume / cancel, the effective
 * `webhook.secretRotationSeconds` in the queue view, and `lastError` kept after a later success.
 */
import type { FastifyBaseLogger } from 'fastify';
import { describe, expect, it } from 'vitest';
import { forEachStore } from '../engine/harness.js';
import { captureLog } from '../observability/log-capture.js';
import { expectProblem, startApi, type Api } from './api-harness.js';

const SECRET = `whsec_${Buffer.from('webhook-secret-0123456789abcdefgh').toString('base64')}`;

async function enqueue(api: Api, key: string, payload: unknown = { n: 1 }) {
  return api.call('POST', '/v1/queues/q/jobs', { body: { payload }, headers: { 'idempotency-key': key } });
}

forEachStore(() => {
  describe('Idempotency-Key (RFC 8941 sf-string item)', () => {
    it('a quoted key with parameters names the key inside the quotes; escapes are unescaped; replays match the same key', async () => {
      const api = await startApi();
      await api.call('PUT', '/v1/queues/q');
      const first = await enqueue(api, '"order-1";v=1;note="x";flag');
      expect(first.status).toBe(202);
      for (const same of ['"order-1"', '"order-1"; v=2', 'order-1']) {
        const again = await enqueue(api, same);
        expect({ same, status: again.status, id: again.body.id, replayed: again.headers.get('idempotent-replayed') }).toEqual({ same, status: 202, id: first.body.id, replayed: 'true' });
      }
      const escaped = await enqueue(api, '"a\\"b\\\\c"');
      expect(escaped.status).toBe(202);
      const dry = await api.call('POST', '/v1/queues/q/jobs?dryRun=true', { body: { payload: 1 }, headers: { 'idempotency-key': '"a\\"b\\\\c";p=1' } });
      expect(dry.body.idempotencyKey).toBe('a"b\\c');
    });

    it('an unquoted key is taken as it stands (semicolons included)', async () => {
      const api = await startApi();
      await api.call('PUT', '/v1/queues/q');
      const first = await enqueue(api, 'plain;v=1');
      const again = await enqueue(api, 'plain;v=1');
      expect(again.body.id).toBe(first.body.id);
      expect((await enqueue(api, '"plain"')).headers.get('idempotent-replayed')).toBeNull();
    });

    it('a malformed sf-string is 400 with a detail naming the fault, on enqueue and on topic events; nothing is written', async () => {
      const api = await startApi();
      await api.call('PUT', '/v1/queues/q');
      await api.call('PUT', '/v1/topics/t', { body: { queues: ['q'] } });
      const cases: Array<[string, RegExp]> = [
        ['"unterminated', /unterminated/],
        ['"abc" junk', /unexpected text after/],
        ['"a\\x"', /bad escape/],
        ['"abc";V=1', /malformed parameter/],
        ['"abc";v=', /malformed parameter value/],
        ['""', /1–256/],
      ];
      for (const [key, detail] of cases) {
        const refused = await enqueue(api, key);
        expectProblem(refused, 400, 'invalid-request');
        expect({ key, detail: refused.body.detail }).toEqual({ key, detail: expect.stringMatching(detail) });
        expect(refused.body.errors).toEqual([expect.objectContaining({ path: '/Idempotency-Key', location: 'headers' })]);
        const event = await api.call('POST', '/v1/topics/t/events', { body: { payload: 1 }, headers: { 'idempotency-key': key } });
        expectProblem(event, 400, 'invalid-request');
      }
      expect((await api.call('GET', '/v1/queues/q')).body.stats.totals.enqueued).toBe(0);
    });
  });

  describe('HTTP details', () => {
    it('an admission refusal (503) is logged at info, not error', async () => {
      const cap = captureLog('debug');
      const api = await startApi({ logger: cap.log as unknown as FastifyBaseLogger });
      await api.call('PUT', '/v1/queues/q', { body: { admission: { maxDepth: 1 } } });
      expect((await api.call('POST', '/v1/queues/q/jobs', { body: { payload: 1 } })).status).toBe(202);
      const refused = await api.call('POST', '/v1/queues/q/jobs', { body: { payload: 2 } });
      expectProblem(refused, 503, 'admission-rejected');
      const line = cap.lines.find((l) => l['msg'] === 'request' && l['status'] === 503);
      expect(line?.['levelName']).toBe('info');
    });

    it('leaseSeconds, timeoutSeconds and backoff are per-job options over HTTP too (single, batch item, topic event)', async () => {
      const api = await startApi();
      await api.call('PUT', '/v1/queues/q', { body: { leaseSeconds: 30, timeoutSeconds: 900 } });
      await api.call('PUT', '/v1/topics/t', { body: { queues: ['q'] } });
      const options = { leaseSeconds: 7, timeoutSeconds: 11, backoff: { initialSeconds: 2 } };
      expect((await api.call('POST', '/v1/queues/q/jobs', { body: { payload: 'single', ...options } })).status).toBe(202);
      expect((await api.call('POST', '/v1/queues/q/jobs/batch', { body: { jobs: [{ payload: 'batch', ...options }] } })).status).toBe(202);
      expect((await api.call('POST', '/v1/topics/t/events', { body: { payload: 'event', ...options } })).status).toBe(202);
      const leased = await api.call('POST', '/v1/queues/q/leases', { body: { max: 10 } });
      expect(leased.body.jobs).toHaveLength(3);
      for (const job of leased.body.jobs) expect({ payload: job.payload, lease: job.leaseSeconds, timeout: job.timeoutSeconds }).toEqual({ payload: job.payload, lease: 7, timeout: 11 });
      expectProblem(await api.call('POST', '/v1/queues/q/jobs', { body: { payload: 1, leaseSeconds: 0.5 } }), 400, 'invalid-request');
    });

    it('pause, resume and cancel take no fields: an unknown one is 400; no body or {} is fine', async () => {
      const api = await startApi();
      await api.call('PUT', '/v1/queues/q');
      const id = (await api.call('POST', '/v1/queues/q/jobs', { body: { payload: 1 } })).body.id;
      for (const path of ['/v1/queues/q/pause', '/v1/queues/q/resume', `/v1/jobs/${id}/cancel`]) {
        const refused = await api.call('POST', path, { body: { bogus: 1 } });
        expectProblem(refused, 400, 'invalid-request');
        expect(refused.body.errors).toEqual([expect.objectContaining({ path: '/bogus', message: 'is not allowed' })]);
      }
      expect((await api.call('GET', '/v1/queues/q')).body.paused).toBe(false);
      expect((await api.call('POST', '/v1/queues/q/pause')).status).toBe(200);
      expect((await api.call('POST', '/v1/queues/q/resume', { body: {} })).status).toBe(200);
      expect((await api.call('POST', `/v1/jobs/${id}/cancel`, { body: {} })).body.state).toBe('cancelled');
      expectProblem(await api.call('POST', '/v1/queues/q/pause', { raw: 'x', contentType: 'text/plain' }), 415, 'unsupported-media-type');
    });

    it('the queue view shows the webhook secret rotation in effect (86400 unless declared)', async () => {
      const api = await startApi();
      const put = await api.call('PUT', '/v1/queues/q', { body: { webhook: { url: 'https://hooks.example.com/x', secret: SECRET } } });
      expect(put.body.webhook.secretRotationSeconds).toBe(86400);
      const declared = await api.call('PUT', '/v1/queues/q', { body: { webhook: { url: 'https://hooks.example.com/x', secret: SECRET, secretRotationSeconds: 60 } } });
      expect(declared.body.webhook.secretRotationSeconds).toBe(60);
    });

    it("a completed job keeps the most recent failed attempt's error as lastError; history lists each attempt", async () => {
      const api = await startApi();
      await api.call('PUT', '/v1/queues/q', { body: { backoff: { initialSeconds: 0.001, maxSeconds: 0.001 } } });
      api.spool.maintain({ schedulerMaxSleepMs: 50 }); // moves the retrying job back to queued
      const id = (await api.call('POST', '/v1/queues/q/jobs', { body: { payload: 1 } })).body.id;
      const first = (await api.call('POST', '/v1/queues/q/leases', { body: { max: 1 } })).body.jobs[0];
      await api.call('POST', `/v1/jobs/${id}/nack`, { body: { leaseToken: first.leaseToken, error: { message: 'boom' }, retryAfterSeconds: 0 } });
      const second = (await api.call('POST', '/v1/queues/q/leases', { body: { max: 1, waitSeconds: 10 } })).body.jobs[0];
      expect((await api.call('POST', `/v1/jobs/${id}/ack`, { body: { leaseToken: second.leaseToken, result: 'ok' } })).status).toBe(200);
      const job = (await api.call('GET', `/v1/jobs/${id}`)).body;
      expect(job).toMatchObject({ state: 'completed', attempts: 2, result: 'ok', lastError: { message: 'boom' } });
      expect(job.history.filter((h: { error?: unknown }) => h.error)).toEqual([expect.objectContaining({ state: 'retrying', attempt: 1, error: expect.objectContaining({ message: 'boom' }) })]);
    });
  });
});
