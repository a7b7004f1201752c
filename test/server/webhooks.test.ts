/**
 * Webhook notifications over real HTTP on every store: a queue's `webhook` and a job's `callbackUrl`, sent by
 * the dispatcher (src/webhooks/) to receivers on 127.0.0.1 (port 0) and checked with the reference
 * `standardwebhooks` package. Retries keep the `webhook-id` and are signed afresh; 429 + Retry-After sets the
 * next attempt; 410 disables the queue's endpoint until its webhook is set again; a 3xx is not followed; a name
 * that resolves to loopback is refused at connect time; a rotated secret signs alongside the new one for its
 * window; failed deliveries end in the DLQ of `spool.webhooks` and replay; hostile configuration is a 422.
 * The dispatcher's schedule is shortened through its options (never minutes of sleeping).
 */
import Fastify from 'fastify';
import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { NonRetryableError, ValidationError } from '../../src/index.js';
import { verifyWebhook } from '../../src/client/index.js';
import type { Job } from '../../src/core/job.js';
import { WEBHOOK_QUEUE, type Delivery } from '../../src/core/webhooks.js';
import type { Spool } from '../../src/spool.js';
import { retryAfterMs } from '../../src/webhooks/webhook-delivery.js';
import type { WebhookDispatcherOptions } from '../../src/webhooks/webhook-dispatcher.js';
import { forEachStore, onCleanup, sleep, waitForState, waitUntil } from '../engine/harness.js';
import { expectProblem, startApi, type Api } from './api-harness.js';
import { allowPrivateTargets, startTarget, type ReceivedRequest } from './push-target.js';

const SECRET = `whsec_${Buffer.from('webhook-secret-0123456789abcdefgh').toString('base64')}`;
const NEW_SECRET = `whsec_${Buffer.from('the-next-secret-0123456789abcdefg').toString('base64')}`;
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
/** Retries 100 ms apart, no jitter, quick polls: the schedule's shape without its minutes. */
const QUICK: WebhookDispatcherOptions = { retryScheduleMs: [100], jitter: 0, pollIntervalMs: 100 };

function signed(req: ReceivedRequest): Record<string, string> {
  return {
    'webhook-id': String(req.headers['webhook-id']),
    'webhook-timestamp': String(req.headers['webhook-timestamp']),
    'webhook-signature': String(req.headers['webhook-signature']),
  };
}

/** The reference verifier's answer: the parsed body, or it throws. */
function verify(req: ReceivedRequest, secret: string): unknown {
  return new Webhook(secret).verify(req.raw, signed(req));
}

/** An API over a fresh store with a dispatcher (options merged over QUICK), maintenance, and queue `orders` worked in-process. */
async function setup(options: WebhookDispatcherOptions = {}): Promise<Api> {
  allowPrivateTargets('127.0.0.1');
  const api = await startApi();
  api.spool.maintain(); // retries come due through the scheduler, as in `spool serve`
  await api.spool.startWebhooks({ ...QUICK, ...options });
  await api.spool.declareQueue('orders', { maxAttempts: 1 });
  api.spool.handle('orders', (payload) => {
    if ((payload as { fail?: boolean }).fail) throw new NonRetryableError('card declined');
    return { charged: (payload as { n: number }).n };
  });
  await api.spool.work({ queues: ['orders'], webhooks: false });
  return api;
}

async function deliveriesOf(spool: Spool, jobId: string): Promise<Array<Job & { payload: Delivery }>> {
  return (await spool.listJobs({ queue: WEBHOOK_QUEUE, correlationId: jobId })).jobs as Array<Job & { payload: Delivery }>;
}

async function deliveryOf(spool: Spool, jobId: string, state: Job['state']): Promise<Job & { payload: Delivery }> {
  return waitUntil(async () => (await deliveriesOf(spool, jobId)).find((d) => d.state === state), `a ${state} delivery for job ${jobId}`);
}

async function complete(api: Api, payload: unknown = { n: 1 }): Promise<string> {
  const accepted = await api.call('POST', '/v1/queues/orders/jobs', { body: { payload } });
  expect(accepted.status).toBe(202);
  return accepted.body.id as string;
}

forEachStore(() => {
  describe('webhook notifications', () => {
    it('a completion and a death are POSTed as signed Standard Webhooks the reference package verifies; a callbackUrl too', async () => {
      const api = await setup({ publicUrl: 'https://spool.example.com/base' });
      const receiver = await startTarget((_r, res) => res.writeHead(204).end());
      await api.spool.declareQueue('orders', { maxAttempts: 1, webhook: { url: `${receiver.url}/hooks?src=spool`, secret: SECRET } });

      const accepted = await api.call('POST', '/v1/queues/orders/jobs', {
        body: { payload: { n: 7 }, callbackUrl: `${receiver.url}/callback` },
        headers: { traceparent: TRACEPARENT },
      });
      const id: string = accepted.body.id;
      await waitUntil(() => receiver.received.length >= 2, 'the webhook and the callback');
      const byPath = new Map(receiver.received.map((r) => [r.path, r]));
      const hook = byPath.get('/hooks?src=spool')!;
      const callback = byPath.get('/callback')!;
      for (const req of [hook, callback]) {
        expect(verify(req, SECRET)).toEqual({
          type: 'job.completed',
          timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
          data: { id, queue: 'orders', state: 'completed', result: { charged: 7 }, lastError: null, statusUrl: `https://spool.example.com/base/v1/jobs/${id}` },
        });
        expect(req.headers).toMatchObject({ 'content-type': 'application/json', traceparent: TRACEPARENT });
        expect(() => new Webhook(NEW_SECRET).verify(req.raw, signed(req))).toThrow();
      }
      expect(hook.headers['webhook-id']).not.toBe(callback.headers['webhook-id']);
      // Each webhook-id is its delivery's id; delivered, the delivery completes with the answer's status.
      const delivered = await waitUntil(async () => {
        const all = await deliveriesOf(api.spool, id);
        return all.length === 2 && all.every((d) => d.state === 'completed') ? all : undefined;
      }, 'both deliveries to complete');
      expect(delivered.map((d) => d.id).sort()).toEqual([hook.headers['webhook-id'], callback.headers['webhook-id']].sort());
      expect(delivered.map((d) => d.result)).toEqual([{ status: 204 }, { status: 204 }]);

      const dead = await complete(api, { fail: true });
      await waitUntil(() => receiver.received.length === 3, 'the dead notification');
      expect(verify(receiver.received[2]!, SECRET)).toMatchObject({
        type: 'job.dead',
        data: { id: dead, state: 'dead', result: null, lastError: { message: 'card declined', name: 'NonRetryableError' } },
      });
    });

    it('a failed attempt is retried with the same webhook-id and a fresh, valid signature; out of time it lands in the DLQ and replays', async () => {
      let status = 500;
      const api = await setup({ retryScheduleMs: [1100], maxAgeMs: 3000 });
      const receiver = await startTarget((_r, res) => res.writeHead(status).end('receiver broke'));
      await api.spool.declareQueue('orders', { maxAttempts: 1, webhook: { url: receiver.url, secret: SECRET } });
      const id = await complete(api);
      const dead = await deliveryOf(api.spool, id, 'dead');
      // Attempts 1.1 s apart until 3 s after the notification was created, then the DLQ.
      expect(receiver.received.length).toBeGreaterThanOrEqual(2);
      const ids = new Set(receiver.received.map((r) => r.headers['webhook-id']));
      expect(ids).toEqual(new Set([dead.id]));
      const stamps = receiver.received.map((r) => Number(r.headers['webhook-timestamp']));
      expect(stamps[1]!).toBeGreaterThan(stamps[0]!);
      expect(receiver.received[0]!.headers['webhook-signature']).not.toBe(receiver.received[1]!.headers['webhook-signature']);
      for (const req of receiver.received) expect(verify(req, SECRET)).toMatchObject({ type: 'job.completed', data: { id } });
      expect(receiver.received.map((r) => r.raw).every((raw) => raw === receiver.received[0]!.raw)).toBe(true);
      expect(dead.history.filter((h) => h.state === 'retrying').map((h) => h.error?.message)).toContain('endpoint answered 500: receiver broke');
      expect(dead.lastError?.message).toMatch(/^gave up 3 s after the notification was created; last attempt: endpoint answered 500: receiver broke$/);

      const dlq = await api.call('GET', `/v1/queues/${WEBHOOK_QUEUE}/dead`);
      expect(dlq.body.jobs.map((j: { id: string }) => j.id)).toEqual([dead.id]);
      status = 200;
      const before = receiver.received.length;
      expect((await api.call('POST', `/v1/queues/${WEBHOOK_QUEUE}/dead/replay`, { body: { ids: [dead.id] } })).body).toMatchObject({ replayed: 1 });
      await waitForState(api.spool, dead.id, 'completed');
      expect(receiver.received).toHaveLength(before + 1);
      expect(receiver.received[before]!.headers['webhook-id']).toBe(dead.id);
      expect(verify(receiver.received[before]!, SECRET)).toMatchObject({ data: { id } });
    });

    it('429 with Retry-After sets the next attempt: delay-seconds (capped) and an HTTP date', async () => {
      const answers = [
        { status: 429, headers: { 'retry-after': '86400' } }, // a day: capped to maxRetryAfterMs
        { status: 429, headers: { 'retry-after': '' } }, // set per request below: an HTTP date 1 s ahead
        { status: 200, headers: {} },
      ];
      const api = await setup({ retryScheduleMs: [60_000], maxRetryAfterMs: 1500 });
      const receiver = await startTarget((_r, res) => {
        const a = answers[Math.min(receiver.received.length - 1, answers.length - 1)]!;
        const headers = a.headers['retry-after'] === '' ? { 'retry-after': new Date(Date.now() + 2000).toUTCString() } : a.headers;
        res.writeHead(a.status, headers).end();
      });
      await api.spool.declareQueue('orders', { maxAttempts: 1, webhook: { url: receiver.url, secret: SECRET } });
      const id = await complete(api);
      const done = await deliveryOf(api.spool, id, 'completed');
      expect(receiver.received).toHaveLength(3);
      const failures = done.history.filter((h) => h.state === 'retrying');
      expect(failures.map((h) => h.error?.message)).toEqual(['endpoint answered 429', 'endpoint answered 429']);
      // The next attempt started when the receiver said (capped), not after the 60 s schedule.
      const started = done.history.filter((h) => h.state === 'active').map((h) => h.at.getTime());
      const waited = [started[1]! - failures[0]!.at.getTime(), started[2]! - failures[1]!.at.getTime()];
      expect(waited[0]).toBeGreaterThanOrEqual(1500);
      expect(waited[0]).toBeLessThan(10_000);
      expect(waited[1]).toBeGreaterThanOrEqual(900); // an HTTP date has whole seconds: 1–2 s ahead
      expect(waited[1]).toBeLessThan(10_000);
      expect(retryAfterMs('120', 0)).toBe(120_000);
      expect(retryAfterMs('Wed, 21 Oct 2015 07:28:00 GMT', Date.UTC(2015, 9, 21, 7, 27, 0))).toBe(60_000);
      expect(retryAfterMs('soon', 0)).toBeNull();
    });

    it('410 disables the queue webhook: later deliveries end at once without a request, until the webhook is set again', async () => {
      let status = 410;
      const api = await setup();
      const receiver = await startTarget((_r, res) => res.writeHead(status).end());
      expect((await api.call('PUT', '/v1/queues/orders', { body: { maxAttempts: 1, webhook: { url: receiver.url, secret: SECRET } } })).status).toBe(200);
      const first = await complete(api);
      const gone = await deliveryOf(api.spool, first, 'dead');
      expect(gone.attempts).toBe(1);
      expect(gone.lastError?.message).toBe("endpoint answered 410 (410 Gone): the queue's webhook is disabled until it is set again");
      const view = (await api.call('GET', '/v1/queues/orders')).body;
      expect(view.webhook).toMatchObject({ url: receiver.url, secret: '[redacted]', disabledReason: 'endpoint answered 410 (410 Gone)' });
      expect(Date.parse(view.webhook.disabledAt)).toBeGreaterThan(0);

      const second = await complete(api);
      const skipped = await deliveryOf(api.spool, second, 'dead');
      expect(skipped.lastError?.message).toMatch(/^the queue's webhook is disabled since .+ \(endpoint answered 410 \(410 Gone\)\); declare it again to re-enable it$/);
      expect(receiver.received).toHaveLength(1);

      status = 200;
      await api.call('PUT', '/v1/queues/orders', { body: { maxAttempts: 1, webhook: { url: receiver.url, secret: SECRET } } });
      expect((await api.call('GET', '/v1/queues/orders')).body.webhook).toMatchObject({ disabledAt: null, disabledReason: null });
      const third = await complete(api);
      await deliveryOf(api.spool, third, 'completed');
      expect(receiver.received).toHaveLength(2);
      expect(verify(receiver.received[1]!, SECRET)).toMatchObject({ data: { id: third } });
    });

    it('a 3xx is a failed attempt: the redirect target sees no request', async () => {
      const api = await setup({ maxAgeMs: 500 });
      const elsewhere = await startTarget((_r, res) => res.end('followed'));
      const receiver = await startTarget((_r, res) => res.writeHead(308, { location: `${elsewhere.url}/moved` }).end());
      await api.spool.declareQueue('orders', { maxAttempts: 1, webhook: { url: receiver.url, secret: SECRET } });
      const id = await complete(api);
      const dead = await deliveryOf(api.spool, id, 'dead');
      expect(dead.lastError?.message).toContain(`endpoint answered 308 to ${elsewhere.url}/moved: redirects are not followed`);
      expect(receiver.received.length).toBeGreaterThanOrEqual(1);
      expect(elsewhere.received).toEqual([]);
    });

    it('a host name that resolves to loopback is refused at connect time (the receiver sees nothing) unless allow-listed', async () => {
      const api = await startApi();
      api.spool.maintain();
      await api.spool.startWebhooks({
        ...QUICK,
        maxAgeMs: 500,
        http: { resolver: async (host) => (host === 'hooks.example.test' ? [{ address: '127.0.0.1', family: 4 }] : []) },
      });
      const receiver = await startTarget((_r, res) => res.end());
      allowPrivateTargets(undefined);
      await api.spool.declareQueue('orders', { webhook: { url: `http://hooks.example.test:${receiver.port}/in`, secret: SECRET } });
      api.spool.handle('orders', () => 'done');
      await api.spool.work({ queues: ['orders'], webhooks: false });
      const refused = await api.spool.enqueue('orders', {});
      const dead = await deliveryOf(api.spool, refused.id, 'dead');
      expect(dead.history.find((h) => h.state === 'retrying')?.error?.message).toBe(
        'refused to connect to hooks.example.test (127.0.0.1): loopback address (SSRF guard; allow it with SPOOL_ALLOW_PRIVATE_TARGETS)',
      );
      expect(receiver.received).toEqual([]);

      allowPrivateTargets('hooks.example.test');
      const allowed = await api.spool.enqueue('orders', {});
      await deliveryOf(api.spool, allowed.id, 'completed');
      expect(receiver.received.map((r) => r.path)).toEqual(['/in']);
    });

    it('a rotated secret signs alongside the new one for its window, then drops out', async () => {
      const api = await setup();
      const receiver = await startTarget((_r, res) => res.end());
      await api.call('PUT', '/v1/queues/orders', { body: { maxAttempts: 1, webhook: { url: receiver.url, secret: SECRET } } });
      const put = await api.call('PUT', '/v1/queues/orders', { body: { maxAttempts: 1, webhook: { url: receiver.url, secret: NEW_SECRET, secretRotationSeconds: 2 } } });
      expect(Date.parse(put.body.webhook.previousSecretUntil)).toBeGreaterThan(Date.now());
      const during = await complete(api);
      await deliveryOf(api.spool, during, 'completed');
      const both = receiver.received[0]!;
      expect(String(both.headers['webhook-signature']).split(' ')).toHaveLength(2);
      expect(verify(both, NEW_SECRET)).toMatchObject({ data: { id: during } });
      expect(verify(both, SECRET)).toMatchObject({ data: { id: during } });

      await sleep(2100);
      const after = await complete(api);
      await deliveryOf(api.spool, after, 'completed');
      const one = receiver.received[1]!;
      expect(String(one.headers['webhook-signature']).split(' ')).toHaveLength(1);
      expect(verify(one, NEW_SECRET)).toMatchObject({ data: { id: after } });
      expect(() => verify(one, SECRET)).toThrow();
      expect((await api.call('GET', '/v1/queues/orders')).body.webhook.previousSecretUntil).toBeNull();
    });

    it('a callbackUrl is signed with SPOOL_WEBHOOK_SECRET when its queue has no webhook, and refused (422) when neither exists', async () => {
      const api = await setup();
      const receiver = await startTarget((_r, res) => res.end());
      const before = process.env['SPOOL_WEBHOOK_SECRET'];
      onCleanup(() => {
        if (before === undefined) delete process.env['SPOOL_WEBHOOK_SECRET'];
        else process.env['SPOOL_WEBHOOK_SECRET'] = before;
      });
      delete process.env['SPOOL_WEBHOOK_SECRET'];
      const refused = await api.call('POST', '/v1/queues/orders/jobs', { body: { payload: { n: 1 }, callbackUrl: `${receiver.url}/cb` } });
      expectProblem(refused, 422);
      expect(refused.body.errors).toEqual([{ path: '/callbackUrl', message: expect.stringContaining('SPOOL_WEBHOOK_SECRET is not set') }]);
      const batch = await api.call('POST', '/v1/queues/orders/jobs/batch', { body: { jobs: [{ payload: 1 }, { payload: 2, callbackUrl: `${receiver.url}/cb` }] } });
      expectProblem(batch, 422);
      expect(batch.body.errors).toEqual([{ index: 1, path: '/jobs/1/callbackUrl', message: expect.stringContaining('cannot be signed') }]);

      process.env['SPOOL_WEBHOOK_SECRET'] = NEW_SECRET;
      const accepted = await api.call('POST', '/v1/queues/orders/jobs', { body: { payload: { n: 2 }, callbackUrl: `${receiver.url}/cb` } });
      expect(accepted.status).toBe(202);
      await deliveryOf(api.spool, accepted.body.id, 'completed');
      expect(verify(receiver.received[0]!, NEW_SECRET)).toMatchObject({ type: 'job.completed', data: { id: accepted.body.id } });
    });

    it('the Fastify receiver of docs/webhooks.md verifies the raw body bytes with verifyWebhook from spool/client', async () => {
      const api = await setup();
      const app = Fastify();
      const events: unknown[] = [];
      const refused: number[] = [];
      await app.register(async (hooks) => {
        hooks.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
        hooks.post('/hooks/spool', async (req, reply) => {
          if (!verifyWebhook(req.body as Buffer, req.headers, [NEW_SECRET, SECRET])) {
            refused.push(Date.now());
            return reply.code(401).send();
          }
          events.push(JSON.parse((req.body as Buffer).toString('utf8')));
          return reply.code(204).send();
        });
      });
      const address = await app.listen({ host: '127.0.0.1', port: 0 });
      onCleanup(() => app.close());
      await api.spool.declareQueue('orders', { maxAttempts: 1, webhook: { url: `${address}/hooks/spool`, secret: SECRET } });
      const id = await complete(api, { n: 3, note: 'naïve café ✓' });
      await deliveryOf(api.spool, id, 'completed');
      expect(events).toEqual([expect.objectContaining({ type: 'job.completed', data: expect.objectContaining({ id, result: { charged: 3 } }) })]);
      expect(refused).toEqual([]);
    });

    it('hostile configuration is refused with 422 and the path: bad URL, unknown event, private literal, the spool. prefix', async () => {
      allowPrivateTargets(undefined);
      const api = await startApi();
      const bad = await api.call('PUT', '/v1/queues/q', { body: { webhook: { url: 'not a url', secret: SECRET, events: ['completed', 'exploded'] } } });
      expectProblem(bad, 422);
      expect(bad.body.errors.map((e: { path: string }) => e.path)).toContain('/webhook/events/1');
      const url = await api.call('PUT', '/v1/queues/q', { body: { webhook: { url: 'ftp://hooks.example.com/x', secret: SECRET } } });
      expectProblem(url, 422);
      expect(url.body.errors).toEqual([{ path: '/webhook/url', message: expect.stringContaining('http or https') }]);
      const priv = await api.call('PUT', '/v1/queues/q', { body: { webhook: { url: 'http://192.168.1.20/hook', secret: SECRET } } });
      expectProblem(priv, 422);
      expect(priv.body.errors).toEqual([{ path: '/webhook/url', message: expect.stringContaining('private') }]);
      const twice = await api.call('PUT', '/v1/queues/q', { body: { webhook: { url: 'https://hooks.example.com/x', secret: SECRET, events: ['dead', 'dead'] } } });
      expectProblem(twice, 422);
      expect((await api.call('GET', '/v1/queues/q')).status).toBe(404);

      const reserved = await api.call('PUT', `/v1/queues/${WEBHOOK_QUEUE}`, { body: { maxAttempts: 1 } });
      expectProblem(reserved, 422);
      expect(reserved.body.errors).toEqual([{ path: '/name', message: expect.stringContaining('reserved') }]);
      expectProblem(await api.call('PUT', '/v1/queues/spool.mine', { body: {} }), 422);
      const injected = await api.call('POST', `/v1/queues/${WEBHOOK_QUEUE}/jobs`, { body: { payload: { kind: 'webhook', url: 'https://evil.example.com/' } } });
      expectProblem(injected, 422);
      await expect(api.spool.declareQueue('spool.other')).rejects.toBeInstanceOf(ValidationError);
      await expect(api.spool.enqueue(WEBHOOK_QUEUE, {})).rejects.toBeInstanceOf(ValidationError);
      expect((await api.spool.getQueue(WEBHOOK_QUEUE)).config).toMatchObject({ maxAttempts: 1000 });
    });
  });
});
