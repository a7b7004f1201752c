/**
 * Push delivery (queue `target`) over real HTTP on every store: a loopback target server (allow-listed with
 * SPOOL_ALLOW_PRIVATE_TARGETS) receives `{id, queue, type, version, attempt, payload}` with `spool-job-id`,
 * `spool-attempt` and Standard Webhooks signature headers; 2xx completes (a JSON answer is the result),
 * anything else — 5xx, 3xx (never followed), a timeout — is a failed attempt with the queue's backoff, into the
 * DLQ, and a replay delivers again. The dispatcher follows config changes and stops within its grace period,
 * releasing what is still in flight.
 */
import { describe, expect, it } from 'vitest';
import { verifyWebhook } from '../../src/client/webhook-signature.js';
import { forEachStore, waitForState, waitUntil } from '../engine/harness.js';
import { startApi } from './api-harness.js';
import { allowPrivateTargets, SECRET, startDispatcher, startTarget } from './push-target.js';

const FAST = { initialSeconds: 0.05, maxSeconds: 0.1, multiplier: 1 };

forEachStore(() => {
  describe('push delivery (queue target)', () => {
    it('POSTs the job as JSON with its headers and a valid Standard Webhooks signature; a 2xx completes it with the JSON answer as result', async () => {
      allowPrivateTargets('127.0.0.1');
      const api = await startApi();
      const target = await startTarget((_r, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{"accepted":true,"n":7}'));
      const dispatcher = await startDispatcher(api.spool);
      const put = await api.call('PUT', '/v1/queues/hooks', { body: { target: { url: `${target.url}/deliver?x=1`, timeoutSeconds: 5, secret: SECRET } } });
      expect(put.status).toBe(201);
      expect(put.body.target).toMatchObject({ url: `${target.url}/deliver?x=1`, timeoutSeconds: 5 });
      await waitUntil(() => dispatcher.queues.includes('hooks'), 'the dispatcher to pick the queue up');

      const accepted = await api.call('POST', '/v1/queues/hooks/jobs', { body: { payload: { email: 'ada@example.com' }, type: 'signup', version: 2 } });
      expect(accepted.status).toBe(202);
      const id: string = accepted.body.id;
      const job = await waitForState(api.spool, id, 'completed');
      expect(job.result).toEqual({ accepted: true, n: 7 });

      expect(target.received).toHaveLength(1);
      const req = target.received[0]!;
      expect(req.path).toBe('/deliver?x=1');
      expect(req.body).toEqual({ id, queue: 'hooks', type: 'signup', version: 2, attempt: 1, payload: { email: 'ada@example.com' } });
      expect(req.headers).toMatchObject({ 'content-type': 'application/json', 'spool-job-id': id, 'spool-attempt': '1', 'webhook-id': id });
      const signed = { 'webhook-id': String(req.headers['webhook-id']), 'webhook-timestamp': String(req.headers['webhook-timestamp']), 'webhook-signature': String(req.headers['webhook-signature']) };
      expect(signed['webhook-signature']).toMatch(/^v1,[A-Za-z0-9+/]+=*$/);
      expect(verifyWebhook(req.raw, signed, SECRET)).toBe(true);
      expect(verifyWebhook(req.raw.replace('ada', 'eve'), signed, SECRET)).toBe(false);
      expect(verifyWebhook(req.raw, signed, `whsec_${Buffer.from('wrong').toString('base64')}`)).toBe(false);
    });

    it('without a secret nothing is signed; a non-JSON 2xx completes with a null result', async () => {
      allowPrivateTargets('127.0.0.1');
      const api = await startApi();
      const target = await startTarget((_r, res) => res.writeHead(204).end());
      await startDispatcher(api.spool);
      await api.spool.declareQueue('plain', { target: { url: target.url } });
      const { id } = await api.spool.enqueue('plain', [1, 2, 3]);
      const job = await waitForState(api.spool, id, 'completed');
      expect(job.result).toBeNull();
      expect(target.received[0]!.headers['webhook-signature']).toBeUndefined();
      expect(target.received[0]!.body).toMatchObject({ id, attempt: 1, payload: [1, 2, 3], type: null, version: 1 });
    });

    it('a non-2xx answer is a failed attempt: retried with backoff (same webhook-id, next attempt) into the DLQ; replay delivers', async () => {
      allowPrivateTargets('127.0.0.1');
      const api = await startApi();
      api.spool.maintain(); // retries come due through the scheduler, as in `spool serve`
      let status = 503;
      const target = await startTarget((_r, res) => res.writeHead(status).end('down for maintenance'));
      await startDispatcher(api.spool);
      expect((await api.call('PUT', '/v1/queues/flaky', { body: { maxAttempts: 3, backoff: FAST, target: { url: target.url, secret: SECRET } } })).status).toBe(201);
      const id: string = (await api.call('POST', '/v1/queues/flaky/jobs', { body: { payload: { n: 1 } } })).body.id;

      const dead = await waitForState(api.spool, id, 'dead');
      expect(dead.attempts).toBe(3);
      expect(dead.lastError).toMatchObject({ name: 'PushDeliveryError', code: 'push_status', message: 'target answered 503: down for maintenance' });
      expect(dead.history.map((h) => h.state)).toEqual(['queued', 'active', 'retrying', 'queued', 'active', 'retrying', 'queued', 'active', 'dead']);
      // Each failure went through `retrying` (the queue's backoff), not straight back to queued.
      expect(dead.history.filter((h) => h.state === 'retrying').map((h) => h.error?.message)).toEqual([
        'target answered 503: down for maintenance',
        'target answered 503: down for maintenance',
      ]);
      expect(target.received.map((r) => r.headers['spool-attempt'])).toEqual(['1', '2', '3']);
      expect(new Set(target.received.map((r) => r.headers['webhook-id']))).toEqual(new Set([id]));
      expect(target.received.map((r) => r.body.attempt)).toEqual([1, 2, 3]);

      status = 200;
      const replay = await api.call('POST', '/v1/queues/flaky/dead/replay', { body: { ids: [id] } });
      expect(replay.body).toMatchObject({ replayed: 1 });
      const done = await waitForState(api.spool, id, 'completed');
      expect(done.attempts).toBe(1);
      expect(target.received).toHaveLength(4);
      expect(target.received[3]!.headers['spool-attempt']).toBe('1');
    });

    it('a 3xx is a failure and its Location is never requested', async () => {
      allowPrivateTargets('127.0.0.1');
      const api = await startApi();
      const target = await startTarget((r, res) => {
        if (r.path === '/moved') res.writeHead(307, { location: '/elsewhere' }).end();
        else res.end('followed');
      });
      await startDispatcher(api.spool);
      await api.spool.declareQueue('moved', { maxAttempts: 1, target: { url: `${target.url}/moved` } });
      const { id } = await api.spool.enqueue('moved', {});
      const dead = await waitForState(api.spool, id, 'dead');
      expect(dead.lastError?.message).toBe('target answered 307 to /elsewhere: redirects are not followed');
      expect(target.received.map((r) => r.path)).toEqual(['/moved']);
    });

    it('no answer within target.timeoutSeconds is a failed attempt', async () => {
      allowPrivateTargets('127.0.0.1');
      const api = await startApi();
      const target = await startTarget(() => {
        /* never answers */
      });
      await startDispatcher(api.spool);
      await api.spool.declareQueue('slow', { maxAttempts: 1, target: { url: target.url, timeoutSeconds: 0.3 } });
      const { id } = await api.spool.enqueue('slow', {});
      const dead = await waitForState(api.spool, id, 'dead');
      expect(dead.lastError).toMatchObject({ code: 'push_timeout', message: expect.stringMatching(/^no response from http:\/\/127\.0\.0\.1:\d+ within 300 ms$/) });
      expect(target.received).toHaveLength(1);
    });

    it('follows queue configs: a target added later starts, one removed stops, a changed URL is used', async () => {
      allowPrivateTargets('127.0.0.1');
      const api = await startApi();
      const target = await startTarget((_r, res) => res.end());
      const dispatcher = await startDispatcher(api.spool);
      await api.spool.declareQueue('later');
      expect(dispatcher.queues).toEqual([]);
      await api.spool.declareQueue('later', { target: { url: `${target.url}/a` } });
      await waitUntil(() => dispatcher.queues.includes('later'), 'delivery to start');
      const first = await api.spool.enqueue('later', 1);
      await waitForState(api.spool, first.id, 'completed');
      await api.spool.declareQueue('later', { target: { url: `${target.url}/b` } });
      await dispatcher.refresh(); // what its timer does every 100 ms here (every second by default)
      const second = await api.spool.enqueue('later', 2);
      await waitForState(api.spool, second.id, 'completed');
      expect(target.received.map((r) => r.path)).toEqual(['/a', '/b']);
      await api.spool.declareQueue('later', {});
      await waitUntil(() => !dispatcher.queues.includes('later'), 'delivery to stop');
      const third = await api.spool.enqueue('later', 3);
      await new Promise((r) => setTimeout(r, 300));
      expect((await api.spool.getJob(third.id)).state).toBe('queued');
      expect(target.received).toHaveLength(2);
    });

    it('stop: an in-flight delivery finishes within the grace period; past it, it is aborted and released without spending the attempt', async () => {
      allowPrivateTargets('127.0.0.1');
      const api = await startApi();
      const holds: Array<() => void> = [];
      const target = await startTarget((_r, res) => holds.push(() => res.writeHead(200).end()));
      const graceful = await startDispatcher(api.spool);
      await api.spool.declareQueue('held', { target: { url: target.url } });
      const a = await api.spool.enqueue('held', 'a');
      await waitUntil(() => holds.length === 1, 'the first delivery to arrive');
      const stopping = graceful.stop({ graceMs: 10_000 });
      setTimeout(() => holds.shift()!(), 200);
      await stopping;
      expect((await api.spool.getJob(a.id)).state).toBe('completed');

      const abrupt = await startDispatcher(api.spool);
      const b = await api.spool.enqueue('held', 'b');
      await waitUntil(() => holds.length === 1, 'the second delivery to arrive');
      await abrupt.stop({ graceMs: 50 });
      const released = await api.spool.getJob(b.id);
      expect(released.state).toBe('queued');
      expect(released.attempts).toBe(0);
      expect(released.history.at(-1)).toMatchObject({ state: 'queued', reason: 'release' });
    });
  });
});
