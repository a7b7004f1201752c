/**
 * One rule for job results on every path (core/job-result.ts): at most 64 KiB of JSON. Over HTTP an ack with a
 * larger `result` is 413 `result-too-large` and changes nothing (the lease is kept, a smaller result acks); the
 * library's `spool.leases.ack` throws ResultTooLargeError; an in-process handler returning one fails its attempt,
 * not retryable, so the job is dead with that error. On every store.
 */
import { describe, expect, it } from 'vitest';
import { MAX_RESULT_BYTES, ResultTooLargeError } from '../../src/index.js';
import { forEachStore, waitForState } from '../engine/harness.js';
import { expectProblem, startApi } from './api-harness.js';

const over = 'x'.repeat(300 * 1024); // the 300 KiB result of the issue
const under = 'x'.repeat(MAX_RESULT_BYTES - 2); // exactly 64 KiB as JSON (with its quotes)

forEachStore(() => {
  describe('job results are at most 64 KiB of JSON', () => {
    it('HTTP ack: a larger result is 413 result-too-large, nothing changes, the lease stays; 64 KiB acks', async () => {
      const api = await startApi();
      await api.call('PUT', '/v1/queues/q');
      const id = (await api.call('POST', '/v1/queues/q/jobs', { body: { payload: 1 } })).body.id;
      const job = (await api.call('POST', '/v1/queues/q/leases', { body: { max: 1 } })).body.jobs[0];
      const refused = await api.call('POST', `/v1/jobs/${id}/ack`, { body: { leaseToken: job.leaseToken, result: over } });
      expectProblem(refused, 413, 'result-too-large');
      expect(refused.body.detail).toMatch(/at most 65536 bytes/);
      expect((await api.call('GET', `/v1/jobs/${id}`)).body.state).toBe('active');
      expect((await api.call('POST', `/v1/jobs/${id}/ack`, { body: { leaseToken: job.leaseToken, result: under } })).status).toBe(200);
      expect((await api.call('GET', `/v1/jobs/${id}`)).body).toMatchObject({ state: 'completed', result: under });
    });

    it('library: spool.leases.ack throws ResultTooLargeError; an in-process handler returning one is dead with result_too_large', async () => {
      const api = await startApi();
      const { spool } = api;
      await spool.declareQueue('remote', {});
      const { id } = await spool.enqueue('remote', 1);
      const [leased] = await spool.leases.lease('remote', { max: 1 });
      await expect(spool.leases.ack(id, { leaseToken: leased!.leaseToken, result: { big: over } })).rejects.toBeInstanceOf(ResultTooLargeError);
      expect((await spool.getJob(id)).state).toBe('active');

      await spool.declareQueue('local', { maxAttempts: 3 });
      spool.handle('local', () => ({ big: over }));
      await spool.work({ queues: ['local'], webhooks: false });
      const local = await spool.enqueue('local', 1);
      const dead = await waitForState(spool, local.id, 'dead');
      expect(dead.attempts).toBe(1);
      expect(dead.lastError).toMatchObject({ code: 'result_too_large' });
    });
  });
});
