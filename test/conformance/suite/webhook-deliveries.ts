/**
 * Webhook deliveries are written by the store in the transaction of the transition they report: a job in
 * `spool.webhooks` per queue webhook (events: completed and dead by default, cancelled when listed) and per
 * job callbackUrl (completed, dead), with the notification snapshotted; nothing for queues and jobs without
 * them, nothing for a stale (wrong lease token) or rolled-back transition. Also the queue's webhook state:
 * secret rotation on declare, the 410 disable and its re-enable.
 */
import { describe, expect, it } from 'vitest';
import type { Job } from '../../../src/core/job.js';
import { WEBHOOK_QUEUE, type Delivery } from '../../../src/core/webhooks.js';
import type { Store } from '../../../src/storage/store.js';
import {
  claimOne,
  declareQueue,
  enqueue,
  expectAllOk,
  failParams,
  getJob,
  HOUR,
  listAll,
  newClock,
  statsOf,
  T0,
  WRONG_TOKEN,
} from '../../helpers/store-fixtures.js';
import { requires, type StoreFactory } from '../factory.js';

/** Make every insert into spool.webhooks fail inside the store's transaction; the returned function undoes it. */
export type FailDeliveryInserts = (store: Store) => Promise<() => Promise<void>>;

const HOOK = { url: 'https://hooks.example.com/in', secret: 'whsec_c2VjcmV0LW9uZQ==' };
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

async function deliveries(store: Store): Promise<Array<Job & { payload: Delivery }>> {
  return (await listAll(store, { queue: WEBHOOK_QUEUE })) as Array<Job & { payload: Delivery }>;
}

function withMeta(meta: Record<string, string>): { optionsJson: string } {
  return { optionsJson: JSON.stringify({ timeoutSeconds: 30, meta }) };
}

export function webhookDeliverySuite(factory: StoreFactory, failDeliveryInserts: FailDeliveryInserts): void {
  const withClock = requires(factory, 'settableClock');

  describe(`webhook deliveries [${factory.name}]`, () => {
    it('the migrations create the internal queue spool.webhooks', async () => {
      const store = await factory.open();
      const queue = await store.queueGet(WEBHOOK_QUEUE);
      expect(queue?.config).toMatchObject({ maxAttempts: 1000, leaseSeconds: 15 });
      expect(queue?.webhookState).toBeNull();
    });

    withClock('a completion on a queue with a webhook adds one queued delivery with the notification snapshotted', async () => {
      const store = await factory.open({ clock: newClock() });
      await declareQueue(store, 'orders', { webhook: HOOK });
      const id = await enqueue(store, 'orders', withMeta({ traceparent: TRACEPARENT }));
      const job = await claimOne(store, 'orders');
      expectAllOk(await store.jobCompleteMany({ jobs: [{ id, leaseToken: job.leaseToken, resultJson: '{"total":42}' }] }));
      const [d, ...more] = await deliveries(store);
      expect(more).toEqual([]);
      expect(d).toMatchObject({ queue: WEBHOOK_QUEUE, state: 'queued', type: null, correlationId: id, maxAttempts: 1000, attempts: 0 });
      expect(d!.payload).toEqual({
        kind: 'webhook',
        queue: 'orders',
        url: HOOK.url,
        traceparent: TRACEPARENT,
        event: {
          type: 'job.completed',
          timestamp: new Date(T0).toISOString(),
          data: { id, queue: 'orders', state: 'completed', result: { total: 42 }, lastError: null, statusUrl: `/v1/jobs/${id}` },
        },
      });
      expect(JSON.stringify(d!.payload)).not.toContain(HOOK.secret);
      expect((await statsOf(store, WEBHOOK_QUEUE)).counts.queued).toBe(1);
      expect((await store.jobClaimMany({ queue: WEBHOOK_QUEUE, max: 5, leaseMs: 1000, workerId: 'w' })).map((c) => c.id)).toEqual([d!.id]);
    });

    it('queues without a webhook and jobs without a callbackUrl get none; options without one neither', async () => {
      const store = await factory.open();
      await declareQueue(store, 'plain');
      const a = await enqueue(store, 'plain');
      const b = await enqueue(store, 'plain', withMeta({ traceparent: TRACEPARENT }));
      const ca = await claimOne(store, 'plain');
      const cb = await claimOne(store, 'plain');
      expectAllOk(await store.jobCompleteMany({ jobs: [{ id: a, leaseToken: ca.leaseToken, resultJson: null }] }));
      expectAllOk(await store.jobFailMany({ jobs: [failParams({ id: b, leaseToken: cb.leaseToken }, 'dead')] }));
      expect(await deliveries(store)).toEqual([]);
      expect((await statsOf(store, WEBHOOK_QUEUE)).totals.enqueued).toBe(0);
    });

    it('a callbackUrl gets completed and dead; dead also notifies the queue webhook; retries notify nobody', async () => {
      const store = await factory.open();
      await declareQueue(store, 'plain');
      await declareQueue(store, 'hooked', { webhook: HOOK });
      const done = await enqueue(store, 'plain', withMeta({ callbackUrl: 'https://cb.example.com/done' }));
      const failing = await enqueue(store, 'hooked', withMeta({ callbackUrl: 'https://cb.example.com/dead', traceparent: TRACEPARENT }));
      const c1 = await claimOne(store, 'plain');
      expectAllOk(await store.jobCompleteMany({ jobs: [{ id: done, leaseToken: c1.leaseToken, resultJson: '"ok"' }] }));
      const c2 = await claimOne(store, 'hooked');
      expectAllOk(await store.jobFailMany({ jobs: [failParams({ id: failing, leaseToken: c2.leaseToken }, 'retrying')] }));
      expect(await deliveries(store), 'a retry').toHaveLength(1);
      await store.jobPromoteDue({ limit: 10 });
      const c3 = await claimOne(store, 'hooked');
      const error = { message: 'card declined', name: 'PaymentError', code: 'declined', stack: 'PaymentError: card declined\n    at secret.ts:1' };
      expectAllOk(await store.jobFailMany({ jobs: [{ id: failing, leaseToken: c3.leaseToken, to: 'dead', retryDelayMs: 0, error, reason: 'fail' }] }));

      const all = (await deliveries(store)).map((d) => d.payload);
      expect(all.map((p) => `${p.kind} ${p.url} ${p.event.type} ${p.event.data.id}`).sort()).toEqual(
        [`callback https://cb.example.com/done job.completed ${done}`, `callback https://cb.example.com/dead job.dead ${failing}`, `webhook ${HOOK.url} job.dead ${failing}`].sort(),
      );
      const dead = all.find((p) => p.kind === 'webhook')!;
      expect(dead.event.data).toMatchObject({ state: 'dead', result: null, lastError: { message: 'card declined', name: 'PaymentError', code: 'declined' } });
      expect(dead.event.data.lastError).not.toHaveProperty('stack');
      expect(dead.traceparent).toBe(TRACEPARENT);
      expect(all.find((p) => p.event.data.id === done)!.traceparent).toBeNull();
    });

    it('cancelled notifies only a queue webhook whose events include it', async () => {
      const store = await factory.open();
      await declareQueue(store, 'default-events', { webhook: HOOK });
      await declareQueue(store, 'all-events', { webhook: { ...HOOK, url: 'https://hooks.example.com/all', events: ['completed', 'dead', 'cancelled'] } });
      const a = await enqueue(store, 'default-events', withMeta({ callbackUrl: 'https://cb.example.com/x' }));
      const b = await enqueue(store, 'all-events', withMeta({ callbackUrl: 'https://cb.example.com/y' }));
      const results = await store.jobCancelMany({ ids: [a, b] });
      expect(results.map((r) => r.ok)).toEqual([true, true]);
      const all = (await deliveries(store)).map((d) => d.payload);
      expect(all.map((p) => `${p.kind} ${p.url} ${p.event.type} ${p.event.data.id}`)).toEqual([`webhook https://hooks.example.com/all job.cancelled ${b}`]);
    });

    it('a stale completion (wrong lease token) or a duplicate in the batch adds nothing', async () => {
      const store = await factory.open();
      await declareQueue(store, 'orders', { webhook: HOOK });
      const id = await enqueue(store, 'orders');
      const job = await claimOne(store, 'orders');
      expect((await store.jobCompleteMany({ jobs: [{ id, leaseToken: WRONG_TOKEN, resultJson: null }] }))[0]!.ok).toBe(false);
      expect((await store.jobFailMany({ jobs: [failParams({ id, leaseToken: WRONG_TOKEN }, 'dead')] }))[0]!.ok).toBe(false);
      expect(await deliveries(store)).toEqual([]);
      const twice = await store.jobCompleteMany({
        jobs: [
          { id, leaseToken: job.leaseToken, resultJson: null },
          { id, leaseToken: job.leaseToken, resultJson: null },
        ],
      });
      expect(twice.map((r) => r.ok)).toEqual([true, false]);
      expect(await deliveries(store)).toHaveLength(1);
      expect((await store.jobCompleteMany({ jobs: [{ id, leaseToken: job.leaseToken, resultJson: null }] }))[0]!.ok).toBe(false);
      expect(await deliveries(store)).toHaveLength(1);
    });

    it('a transition whose delivery cannot be written rolls back with it: the job stays leased, then completes with its delivery', async () => {
      const store = await factory.open();
      await declareQueue(store, 'orders', { webhook: HOOK });
      const id = await enqueue(store, 'orders');
      const job = await claimOne(store, 'orders');
      const undo = await failDeliveryInserts(store);
      await expect(store.jobCompleteMany({ jobs: [{ id, leaseToken: job.leaseToken, resultJson: '1' }] })).rejects.toThrow();
      expect(await getJob(store, id)).toMatchObject({ state: 'active', result: null });
      expect((await statsOf(store, 'orders')).counts).toMatchObject({ active: 1, completed: 0 });
      await expect(store.jobFailMany({ jobs: [failParams({ id, leaseToken: job.leaseToken }, 'dead')] })).rejects.toThrow();
      expect((await getJob(store, id)).state).toBe('active');
      expect(await deliveries(store)).toEqual([]);
      expect((await statsOf(store, WEBHOOK_QUEUE)).totals.enqueued).toBe(0);
      await undo();
      expectAllOk(await store.jobCompleteMany({ jobs: [{ id, leaseToken: job.leaseToken, resultJson: '1' }] }));
      expect((await deliveries(store)).map((d) => d.payload.event.data.result)).toEqual([1]);
    });

    withClock('declaring a new secret keeps the old one signing for its window; expired ones are dropped', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'orders', { webhook: HOOK });
      expect((await store.queueGet('orders'))!.webhookState, 'nothing to say').toBeNull();
      await declareQueue(store, 'orders', { webhook: { ...HOOK, secret: 'whsec_dHdv', secretRotationSeconds: 3600 } });
      expect((await store.queueGet('orders'))!.webhookState!.previousSecrets).toEqual([{ secret: HOOK.secret, until: new Date(T0 + HOUR) }]);
      clock.advance(2 * HOUR);
      await declareQueue(store, 'orders', { webhook: { ...HOOK, secret: 'whsec_dGhyZWU=' } });
      expect((await store.queueGet('orders'))!.webhookState!.previousSecrets).toEqual([{ secret: 'whsec_dHdv', until: new Date(T0 + 2 * HOUR + 24 * HOUR) }]);
      await declareQueue(store, 'orders', {});
      expect((await store.queueGet('orders'))!.webhookState).toBeNull();
    });

    it('queueWebhookDisable marks the webhook disabled (only for its current url, once); declaring it again re-enables it', async () => {
      const store = await factory.open();
      await declareQueue(store, 'orders', { webhook: HOOK });
      expect(await store.queueWebhookDisable({ name: 'orders', url: 'https://elsewhere.example.com/', reason: '410 Gone' })).toBe(false);
      expect(await store.queueWebhookDisable({ name: 'nope', url: HOOK.url, reason: '410 Gone' })).toBe(false);
      expect(await store.queueWebhookDisable({ name: 'orders', url: HOOK.url, reason: 'endpoint answered 410 Gone' })).toBe(true);
      expect(await store.queueWebhookDisable({ name: 'orders', url: HOOK.url, reason: 'again' })).toBe(false);
      const disabled = (await store.queueGet('orders'))!;
      expect(disabled.webhookState).toMatchObject({ disabledReason: 'endpoint answered 410 Gone', previousSecrets: [] });
      expect(disabled.webhookState!.disabledAt).toBeInstanceOf(Date);
      expect((await store.queueList()).find((q) => q.name === 'orders')!.webhookState!.disabledAt).toEqual(disabled.webhookState!.disabledAt);
      await declareQueue(store, 'orders', { webhook: HOOK });
      expect((await store.queueGet('orders'))!.webhookState, 'enabled, nothing rotating').toBeNull();
    });

    it('removing the webhook (or the events) stops new deliveries at once', async () => {
      const store = await factory.open();
      await declareQueue(store, 'orders', { webhook: { ...HOOK, events: ['dead'] } });
      const a = await enqueue(store, 'orders');
      const ca = await claimOne(store, 'orders');
      expectAllOk(await store.jobCompleteMany({ jobs: [{ id: a, leaseToken: ca.leaseToken, resultJson: null }] }));
      await declareQueue(store, 'orders', {});
      const b = await enqueue(store, 'orders');
      const cb = await claimOne(store, 'orders');
      expectAllOk(await store.jobFailMany({ jobs: [failParams({ id: b, leaseToken: cb.leaseToken }, 'dead')] }));
      expect(await deliveries(store)).toEqual([]);
    });
  });
}
