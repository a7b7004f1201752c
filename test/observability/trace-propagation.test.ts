/**
 * W3C trace context across real HTTP on every store: the `traceparent` of an enqueue request (single, batch,
 * topic event) reaches the in-process handler (`ctx.traceparent`), the remote lease answer and a remote
 * worker's handler, and push target requests as a child (same trace id and flags, a new parent id per
 * delivery attempt); an invalid header is ignored, never an error.
 */
import { describe, expect, it } from 'vitest';
import { SpoolClient } from '../../src/client/index.js';
import { parseTraceparent } from '../../src/observability/trace-context.js';
import { RemoteWorker } from '../../src/worker/remote-worker.js';
import { deferred, forEachStore, onCleanup, waitForState } from '../engine/harness.js';
import { startApi } from '../server/api-harness.js';
import { allowPrivateTargets, startDispatcher, startTarget } from '../server/push-target.js';
import { captureLog } from './log-capture.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_SPAN_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${CALLER_SPAN_ID}-01`;

forEachStore(() => {
  describe('traceparent over HTTP', () => {
    it('reaches the handler from a single enqueue, a batch and a topic event; an invalid header is ignored', async () => {
      const api = await startApi();
      await api.spool.declareQueue('t');
      const seen = new Map<string, string | null>();
      api.spool.handle('t', (_payload, ctx) => void seen.set(ctx.job.id, ctx.traceparent));
      expect((await api.call('PUT', '/v1/topics/news', { body: { queues: ['t'] } })).status).toBe(201);

      const one = await api.call('POST', '/v1/queues/t/jobs', { body: { payload: 1 }, headers: { traceparent: TRACEPARENT } });
      const later = `cc-${TRACE_ID}-${CALLER_SPAN_ID}-00-future-fields`;
      const batch = await api.call('POST', '/v1/queues/t/jobs/batch', { body: { jobs: [{ payload: 2 }, { payload: 3 }] }, headers: { traceparent: later } });
      const event = await api.call('POST', '/v1/topics/news/events', { body: { payload: 4 }, headers: { traceparent: TRACEPARENT } });
      const upper = await api.call('POST', '/v1/queues/t/jobs', { body: { payload: 5 }, headers: { traceparent: TRACEPARENT.toUpperCase() } });
      const zero = await api.call('POST', '/v1/queues/t/jobs', { body: { payload: 6 }, headers: { traceparent: `00-${'0'.repeat(32)}-${CALLER_SPAN_ID}-01` } });
      for (const r of [one, batch, event, upper, zero]) expect(r.status).toBe(202);

      await api.spool.work({ queues: ['t'] });
      const ids = [one.body.id, ...batch.body.jobs.map((j: { id: string }) => j.id), event.body.jobs[0].id, upper.body.id, zero.body.id] as string[];
      for (const id of ids) await waitForState(api.spool, id, 'completed');
      expect(ids.map((id) => seen.get(id))).toEqual([
        TRACEPARENT,
        `00-${TRACE_ID}-${CALLER_SPAN_ID}-00`, // a later version, normalised to 00
        `00-${TRACE_ID}-${CALLER_SPAN_ID}-00`,
        TRACEPARENT,
        null,
        null,
      ]);
    });

    it('is in the lease answer and handed to a remote worker’s handler; the server logs the ack with the trace id', async () => {
      const cap = captureLog('debug');
      const api = await startApi({ spool: { logger: cap.log } });
      await api.spool.declareQueue('pull');
      const leasedOnly = await api.call('POST', '/v1/queues/pull/jobs', { body: { payload: 0 }, headers: { traceparent: TRACEPARENT } });
      const lease = await api.call('POST', '/v1/queues/pull/leases', { body: { max: 1 } });
      expect(lease.body.jobs).toEqual([expect.objectContaining({ id: leasedOnly.body.id, traceparent: TRACEPARENT })]);
      expect((await api.call('POST', `/v1/jobs/${leasedOnly.body.id}/ack`, { body: { leaseToken: lease.body.jobs[0].leaseToken } })).status).toBe(200);
      expect(cap.events('job.completed', leasedOnly.body.id)).toEqual([expect.objectContaining({ traceId: TRACE_ID, remote: true })]);

      const seen = deferred<{ traceparent: string | null; traceId: string | null }>();
      const worker = new RemoteWorker(
        { client: new SpoolClient({ url: api.base }), log: captureLog('warn').log, resolve: () => ({ handler: (_p, ctx) => seen.resolve({ traceparent: ctx.traceparent, traceId: ctx.traceId }) }) },
        { queues: ['pull'], waitSeconds: 1 },
      );
      worker.start();
      onCleanup(() => worker.stop({ graceMs: 0 }));
      const { body } = await api.call('POST', '/v1/queues/pull/jobs', { body: { payload: 1 }, headers: { traceparent: TRACEPARENT } });
      await waitForState(api.spool, body.id, 'completed');
      expect(await seen.promise).toEqual({ traceparent: TRACEPARENT, traceId: TRACE_ID });
    });
  });

  describe('traceparent on push target requests', () => {
    it('sends a child traceparent: same trace id and flags, a new parent id on every attempt; none when the job has none', async () => {
      allowPrivateTargets('127.0.0.1');
      const api = await startApi();
      api.spool.maintain({ schedulerMaxSleepMs: 20 });
      let failuresLeft = 1;
      const target = await startTarget((_r, res) => res.writeHead(failuresLeft-- > 0 ? 503 : 200).end());
      await startDispatcher(api.spool);
      await api.spool.declareQueue('hooks', { maxAttempts: 3, backoff: { initialSeconds: 0.02, maxSeconds: 0.05, multiplier: 1 }, target: { url: target.url } });

      const traced = await api.call('POST', '/v1/queues/hooks/jobs', { body: { payload: 1 }, headers: { traceparent: TRACEPARENT } });
      await waitForState(api.spool, traced.body.id, 'completed');
      const sent = target.received.filter((r) => r.headers['spool-job-id'] === traced.body.id).map((r) => String(r.headers['traceparent']));
      expect(sent).toHaveLength(2);
      const hops = sent.map((h) => parseTraceparent(h));
      for (const hop of hops) expect(hop).toMatchObject({ traceId: TRACE_ID, flags: 1 });
      expect(new Set([CALLER_SPAN_ID, ...hops.map((h) => h!.parentId)]).size).toBe(3);

      const plain = await api.call('POST', '/v1/queues/hooks/jobs', { body: { payload: 2 } });
      await waitForState(api.spool, plain.body.id, 'completed');
      expect(target.received.find((r) => r.headers['spool-job-id'] === plain.body.id)!.headers).not.toHaveProperty('traceparent');
    });
  });
});
