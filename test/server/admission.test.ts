/**
 * Admission control over real HTTP on both stores: a refusal is true at the moment it is given. Once a job is
 * leased, acked or cancelled (on this node or another one over the same store), the very next request is
 * accepted — no waiting out a cache. `maxDepth: N` admits while fewer than N jobs wait; `maxAgeSeconds`
 * stops refusing as soon as the old job is no longer waiting. Enqueue, batch and topic events alike.
 */
import { describe, expect, it } from 'vitest';
import { forEachStore, sleep } from '../engine/harness.js';
import { expectProblem, startApi, type Api } from './api-harness.js';

async function lease(api: Api, queue = 'emails'): Promise<{ id: string; leaseToken: string }> {
  const r = await api.call('POST', `/v1/queues/${queue}/leases`, { body: { max: 1 } });
  expect(r.status).toBe(200);
  expect(r.body.jobs).toHaveLength(1);
  return r.body.jobs[0];
}

const post = (api: Api, payload: unknown) => api.call('POST', '/v1/queues/emails/jobs', { body: { payload } });

forEachStore(() => {
  describe('admission refusals are true when given', () => {
    it('maxDepth: a lease or an ack frees room for the very next request (single, batch, topic event)', async () => {
      const api = await startApi();
      expect((await api.call('PUT', '/v1/queues/emails', { body: { admission: { maxDepth: 2 } } })).status).toBe(201);
      expect((await api.call('PUT', '/v1/topics/mail', { body: { queues: ['emails'] } })).status).toBe(201);
      for (let i = 0; i < 2; i++) expect((await post(api, i)).status).toBe(202);
      for (let round = 0; round < 3; round++) {
        expectProblem(await post(api, 'over'), 503, 'admission-rejected'); // fills this node's cache with "full"
        const held = await lease(api);
        // One waiting, maxDepth 2: admitted at once.
        const admitted = round === 0 ? await post(api, round) : round === 1
          ? await api.call('POST', '/v1/queues/emails/jobs/batch', { body: { jobs: [{ payload: round }] } })
          : await api.call('POST', '/v1/topics/mail/events', { body: { payload: round } });
        expect(admitted.status).toBe(202);
        expect((await api.call('POST', `/v1/jobs/${held.id}/ack`, { body: { leaseToken: held.leaseToken } })).status).toBe(200);
      }
      // A cancel frees room too.
      expectProblem(await post(api, 'over'), 503, 'admission-rejected');
      const waiting = (await api.spool.listJobs({ queue: 'emails', state: 'queued' })).jobs;
      expect((await api.call('POST', `/v1/jobs/${waiting[0]!.id}/cancel`)).status).toBe(200);
      expect((await post(api, 'after-cancel')).status).toBe(202);
      expectProblem(await post(api, 'over'), 503, 'admission-rejected');
    });

    it('maxAgeSeconds: once the old job is leased and done, the next request is accepted', async () => {
      const api = await startApi();
      expect((await api.call('PUT', '/v1/queues/emails', { body: { admission: { maxAgeSeconds: 0.3 } } })).status).toBe(201);
      for (let round = 0; round < 3; round++) {
        expect((await post(api, round)).status).toBe(202);
        await sleep(400); // the job is now older than the limit
        expectProblem(await post(api, 'late'), 503, 'admission-rejected');
        const held = await lease(api);
        expect((await api.call('POST', `/v1/jobs/${held.id}/ack`, { body: { leaseToken: held.leaseToken } })).status).toBe(200);
        expect((await post(api, `next-${round}`)).status).toBe(202);
        const next = await lease(api); // leave the queue empty for the next round
        expect((await api.call('POST', `/v1/jobs/${next.id}/ack`, { body: { leaseToken: next.leaseToken } })).status).toBe(200);
      }
    });

    it('other node: a lease on node B frees room on node A at once', async () => {
      const a = await startApi();
      const b = await startApi({ url: a.url });
      expect((await a.call('PUT', '/v1/queues/emails', { body: { admission: { maxDepth: 1 } } })).status).toBe(201);
      expect((await post(a, 0)).status).toBe(202);
      for (let round = 0; round < 3; round++) {
        expectProblem(await post(a, 'over'), 503, 'admission-rejected');
        const held = await lease(b);
        expect((await post(a, round + 1)).status).toBe(202);
        expect((await b.call('POST', `/v1/jobs/${held.id}/ack`, { body: { leaseToken: held.leaseToken } })).status).toBe(200);
      }
    });
  });
});
