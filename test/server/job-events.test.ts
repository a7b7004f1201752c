/**
 * `GET /v1/jobs/{id}/events` over real HTTP, read by a real HTTP client parsed the way EventSource parses, on
 * every store: queued → active → completed arrive in order as `event: state` with `id:` the history index and
 * the stream ends; `Last-Event-ID` resumes after that event; 204 once nothing is left; unknown job 404; a job
 * moved by another node is seen by a stream on this one; heartbeats; shutdown ends open streams with `retry:`.
 */
import { describe, expect, it } from 'vitest';
import { forEachStore, waitUntil } from '../engine/harness.js';
import { expectProblem, startApi, type Api } from './api-harness.js';
import { openSse, type SseEvent } from './sse-client.js';

async function withQueue(options: Parameters<typeof startApi>[0] = {}): Promise<Api> {
  const api = await startApi(options);
  const r = await api.call('PUT', '/v1/queues/work', { body: {} });
  expect([200, 201]).toContain(r.status);
  return api;
}

async function post(api: Api, payload: unknown = { n: 1 }): Promise<string> {
  const r = await api.call('POST', '/v1/queues/work/jobs', { body: { payload } });
  expect(r.status).toBe(202);
  return r.body.id as string;
}

async function leaseOne(api: Api): Promise<{ id: string; leaseToken: string }> {
  const r = await api.call('POST', '/v1/queues/work/leases', { body: { max: 1 } });
  expect(r.status).toBe(200);
  expect(r.body.jobs).toHaveLength(1);
  return r.body.jobs[0];
}

function parsed(events: readonly SseEvent[]): Array<{ event: string; id: string | null; data: Record<string, unknown> }> {
  return events.map((e) => ({ event: e.event, id: e.id, data: JSON.parse(e.data) as Record<string, unknown> }));
}

forEachStore(() => {
  describe('GET /v1/jobs/{id}/events', () => {
    it('queued → active → completed: three state events in order, ids = history indexes, then the stream ends', async () => {
      const api = await withQueue();
      const id = await post(api);
      const stream = await openSse(`${api.base}/v1/jobs/${id}/events`);
      expect(stream.status).toBe(200);
      expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
      expect(stream.headers.get('cache-control')).toMatch(/no-cache/);
      await stream.waitForEvents(1);

      const leased = await leaseOne(api);
      await stream.waitForEvents(2);
      expect((await api.call('POST', `/v1/jobs/${id}/ack`, { body: { leaseToken: leased.leaseToken, result: 7 } })).status).toBe(200);
      await stream.ended;

      const events = parsed(stream.events);
      expect(events.map((e) => [e.event, e.id, e.data.state])).toEqual([
        ['state', '0', 'queued'],
        ['state', '1', 'active'],
        ['state', '2', 'completed'],
      ]);
      expect(events[0]!.data).toEqual({ id, state: 'queued', at: expect.any(String), attempt: 0 });
      expect(events[2]!.data).toEqual({ id, state: 'completed', at: expect.any(String), attempt: 1 });
      // The same transitions as the job's history.
      const job = await api.call('GET', `/v1/jobs/${id}`);
      expect(events.map((e) => e.data.at)).toEqual(job.body.history.map((h: { at: string }) => h.at));
    });

    it('Last-Event-ID resumes after that event; at or after the terminal event the answer is 204', async () => {
      const api = await withQueue();
      const id = await post(api);
      const leased = await leaseOne(api);
      await api.call('POST', `/v1/jobs/${id}/nack`, { body: { leaseToken: leased.leaseToken, error: { message: 'nope', retryable: false } } });

      const resumed = await openSse(`${api.base}/v1/jobs/${id}/events`, { 'last-event-id': '0' });
      await resumed.ended;
      expect(parsed(resumed.events).map((e) => [e.id, e.data.state])).toEqual([
        ['1', 'active'],
        ['2', 'dead'],
      ]);
      expect(parsed(resumed.events)[1]!.data).toMatchObject({ error: { message: 'nope' } });

      // A stream on a finished job: the terminal state, then the end; EventSource's reconnect gets 204.
      const finished = await openSse(`${api.base}/v1/jobs/${id}/events`);
      await finished.ended;
      expect(finished.events.map((e) => e.id)).toEqual(['2']);
      for (const last of ['2', '3', '99']) {
        const again = await openSse(`${api.base}/v1/jobs/${id}/events`, { 'last-event-id': last });
        expect(again.status, `Last-Event-ID ${last}`).toBe(204);
        expect(again.text).toBe('');
      }
    });

    it('a stream resumed on a job that is still running goes on from there', async () => {
      const api = await withQueue();
      const id = await post(api);
      const leased = await leaseOne(api);
      const stream = await openSse(`${api.base}/v1/jobs/${id}/events`, { 'last-event-id': '1' });
      expect(stream.status).toBe(200);
      await api.call('POST', `/v1/jobs/${id}/ack`, { body: { leaseToken: leased.leaseToken } });
      await stream.ended;
      expect(stream.events.map((e) => [e.id, JSON.parse(e.data).state])).toEqual([['2', 'completed']]);
    });

    it('unknown job 404, malformed Last-Event-ID 400, unknown query parameter 400 (problem+json)', async () => {
      const api = await withQueue();
      const missing = await api.call('GET', '/v1/jobs/00000000-0000-7000-8000-000000000000/events');
      expectProblem(missing, 404, 'job-not-found');
      const id = await post(api);
      expectProblem(await api.call('GET', `/v1/jobs/${id}/events`, { headers: { 'last-event-id': 'abc' } }), 400, 'invalid-request');
      expectProblem(await api.call('GET', `/v1/jobs/${id}/events?since=1`), 400, 'invalid-request');
    });

    it('a job moved on another node (sharing the store) is seen by a stream on this one', async () => {
      const a = await withQueue();
      const b = await startApi({ url: a.url });
      const id = await post(a);
      const stream = await openSse(`${a.base}/v1/jobs/${id}/events`);
      await stream.waitForEvents(1);
      const leased = await leaseOne(b);
      await stream.waitForEvents(2);
      await b.call('POST', `/v1/jobs/${id}/ack`, { body: { leaseToken: leased.leaseToken } });
      await stream.ended;
      expect(stream.events.map((e) => JSON.parse(e.data).state)).toEqual(['queued', 'active', 'completed']);
    });

    it('an in-process worker’s transitions reach the stream, and a cancelled job ends it', async () => {
      const api = await withQueue();
      api.spool.handle('work', async () => 'ok');
      const ran = await post(api);
      const stream = await openSse(`${api.base}/v1/jobs/${ran}/events`);
      await stream.waitForEvents(1);
      await api.spool.work({ queues: ['work'] });
      await stream.ended;
      expect(stream.events.map((e) => JSON.parse(e.data).state)).toEqual(['queued', 'active', 'completed']);

      const later = await api.call('POST', '/v1/queues/work/jobs', { body: { payload: 1, delaySeconds: 3600 } });
      const waiting = await openSse(`${api.base}/v1/jobs/${later.body.id}/events`);
      await waiting.waitForEvents(1);
      expect((await api.call('POST', `/v1/jobs/${later.body.id}/cancel`)).status).toBe(200);
      await waiting.ended;
      expect(waiting.events.map((e) => [e.id, JSON.parse(e.data).state])).toEqual([
        ['0', 'scheduled'],
        ['1', 'cancelled'],
      ]);
    });

    it('sends heartbeat comments while idle; a client that leaves stops its watch', async () => {
      const api = await withQueue({ eventHeartbeatMs: 50 });
      const id = await post(api);
      const stream = await openSse(`${api.base}/v1/jobs/${id}/events`);
      await stream.waitForComments(2);
      expect(stream.comments.slice(0, 2)).toEqual(['keep-alive', 'keep-alive']);
      expect(stream.events).toHaveLength(1);
      expect(api.spool.watchedJobs).toBe(1);
      stream.close();
      await waitUntil(() => api.spool.watchedJobs === 0, 'the route to stop watching the job');
    });

    it('shutdown ends open streams at once, with a retry hint for the reconnect', async () => {
      const api = await withQueue();
      const id = await post(api);
      const stream = await openSse(`${api.base}/v1/jobs/${id}/events`);
      await stream.waitForEvents(1);
      const closing = api.app.close();
      await stream.ended;
      expect(stream.retry.ms).toBeGreaterThan(0);
      await closing;
    });
  });
});
