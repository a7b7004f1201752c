/**
 * Payloads over 256 KiB over real HTTP, on every store: accepted (202) and stored once as a blob; `GET
 * /v1/jobs/{id}` answers `payload: null` with `payloadRef` and `payloadBytes`; `GET /v1/jobs/{id}/payload`
 * answers the JSON byte for byte; a remote lease, an in-process handler (upcast on the way) and a second node
 * sharing the store all get the full payload; retention removes it; library enqueues behave the same.
 */
import { describe, expect, it } from 'vitest';
import { Spool } from '../../src/index.js';
import { forEachStore, openSpool, waitForState, waitUntil } from '../engine/harness.js';
import { expectProblem, startApi, type Api } from './api-harness.js';

/** About 1 MiB of JSON with multi-byte characters, so bytes and string length differ. */
function bigPayload(tag: string): { tag: string; rows: Array<{ i: number; text: string }> } {
  return { tag, rows: Array.from({ length: 4096 }, (_, i) => ({ i, text: `row ${i} ✓ ${'x'.repeat(230)}` })) };
}

async function withQueue(config: Record<string, unknown> = {}, options: { url?: string } = {}): Promise<Api> {
  const api = await startApi(options);
  const r = await api.call('PUT', '/v1/queues/files', { body: config });
  expect([200, 201]).toContain(r.status);
  return api;
}

async function post(api: Api, payload: unknown, extra: Record<string, unknown> = {}): Promise<string> {
  const r = await api.call('POST', '/v1/queues/files/jobs', { body: { payload, ...extra } });
  expect(r.status, r.text.slice(0, 300)).toBe(202);
  return r.body.id as string;
}

forEachStore(() => {
  describe('payloads over 256 KiB (blobs)', () => {
    it('a 1 MiB payload: 202, GET shows null with payloadRef and payloadBytes, /payload answers it byte for byte, a lease gets it', async () => {
      const api = await withQueue();
      const payload = bigPayload('lease');
      const json = JSON.stringify(payload);
      expect(Buffer.byteLength(json)).toBeGreaterThan(1024 * 1024);
      const id = await post(api, payload);

      const job = await api.call('GET', `/v1/jobs/${id}`);
      expect(job.status).toBe(200);
      expect(job.body).toMatchObject({ id, state: 'queued', payload: null, payloadRef: `/v1/jobs/${id}/payload`, payloadBytes: Buffer.byteLength(json) });
      expect(job.text.length).toBeLessThan(4096); // the status answer stays small

      const raw = await api.call('GET', job.body.payloadRef);
      expect(raw.status).toBe(200);
      expect(raw.headers.get('content-type')).toMatch(/^application\/json/);
      expect(raw.text).toBe(json);
      expect(Number(raw.headers.get('content-length'))).toBe(Buffer.byteLength(json));

      const search = await api.call('GET', '/v1/jobs?queue=files');
      expect(search.body.jobs[0]).toMatchObject({ id, payload: null, payloadBytes: Buffer.byteLength(json) });

      const leased = await api.call('POST', '/v1/queues/files/leases', { body: { max: 5 } });
      expect(leased.status).toBe(200);
      expect(leased.body.jobs).toHaveLength(1);
      expect(leased.body.jobs[0].payload).toEqual(payload);
      const ack = await api.call('POST', `/v1/jobs/${id}/ack`, { body: { leaseToken: leased.body.jobs[0].leaseToken } });
      expect(ack.status).toBe(200);
    });

    it('small payloads stay inline (payloadRef and payloadBytes null) and /payload answers them too; unknown job 404', async () => {
      const api = await withQueue();
      const id = await post(api, { small: true, text: 'y'.repeat(1000) });
      const job = await api.call('GET', `/v1/jobs/${id}`);
      expect(job.body).toMatchObject({ payload: { small: true }, payloadRef: null, payloadBytes: null });
      const raw = await api.call('GET', `/v1/jobs/${id}/payload`);
      expect(raw.status).toBe(200);
      expect(JSON.parse(raw.text)).toEqual({ small: true, text: 'y'.repeat(1000) });
      expectProblem(await api.call('GET', '/v1/jobs/00000000-0000-7000-8000-000000000000/payload'), 404, 'job-not-found');
      expectProblem(await api.call('GET', `/v1/jobs/${id}/payload?x=1`), 400, 'invalid-request');
    });

    it('an in-process handler gets the full payload (through an upcaster), and the job completes', async () => {
      const api = await withQueue();
      const payload = bigPayload('handler');
      const seen: unknown[] = [];
      api.spool.defineJob({
        type: 'ingest',
        queue: 'files',
        version: 2,
        upcasters: { 1: (p: unknown) => ({ ...(p as object), upcast: true }) },
        handler: async (p: unknown) => {
          seen.push(p);
          return { rows: (p as { rows: unknown[] }).rows.length };
        },
      });
      const id = await post(api, payload, { type: 'ingest', version: 1 });
      await api.spool.work({ queues: ['files'] });
      const done = await waitForState(api.spool, id, 'completed');
      expect(done.result).toEqual({ rows: 4096 });
      expect(seen).toEqual([{ ...payload, upcast: true }]);
    });

    it('two nodes on one store: one accepts, the other one’s worker runs the job with the full payload', async () => {
      const a = await withQueue();
      const b = await openSpool({ url: a.url });
      const payload = bigPayload('two-nodes');
      const got: unknown[] = [];
      b.spool.handle('files', async (p) => {
        got.push(p);
      });
      const id = await post(a, payload);
      await b.spool.work({ queues: ['files'] });
      await waitForState(a.spool, id, 'completed');
      expect(got).toEqual([payload]);
      expect(JSON.parse((await a.call('GET', `/v1/jobs/${id}/payload`)).text)).toEqual(payload);
    });

    it('retention removes the job and its blob: /payload is 404 afterwards', async () => {
      const api = await withQueue({ retention: { completedSeconds: 1, deadSeconds: 1 } });
      const id = await post(api, bigPayload('retention'));
      const leased = await api.call('POST', '/v1/queues/files/leases', { body: { max: 1 } });
      await api.call('POST', `/v1/jobs/${id}/ack`, { body: { leaseToken: leased.body.jobs[0].leaseToken } });
      const maintainer = api.spool.maintain({ cleanIntervalMs: 3_600_000 });
      await waitUntil(async () => (await maintainer.runOnce()).cleaned === 1, 'retention to delete the job', { intervalMs: 200 });
      expectProblem(await api.call('GET', `/v1/jobs/${id}/payload`), 404, 'job-not-found');
      await expect(api.spool.getPayload(id)).rejects.toMatchObject({ code: 'job_not_found' });
      expect(await api.spool.store.jobPayloadGet({ id })).toBeNull();
    });

    it('library: spool.enqueue of a large payload is stored the same way; getJob null, getPayload whole', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('lib');
      const payload = bigPayload('library');
      const { id } = await spool.enqueue('lib', payload);
      const job = await spool.getJob(id);
      expect(job.payload).toBeNull();
      expect(job.payloadBytes).toBe(Buffer.byteLength(JSON.stringify(payload)));
      expect(await spool.getPayload(id)).toEqual(payload);
      // Just under the limit stays inline.
      const inline = { s: 'z'.repeat(256 * 1024 - 20) };
      const small = await spool.enqueue('lib', inline);
      expect(await spool.getJob(small.id)).toMatchObject({ payload: inline, payloadBytes: null });
      expect(spool).toBeInstanceOf(Spool);
    });
  });
});
