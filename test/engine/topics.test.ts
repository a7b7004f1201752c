/** Topics through the library: records, atomic fan-out, idempotent publish (engine/topics.ts). */
import { describe, expect, it } from 'vitest';
import { Type } from '../../src/index.js';
import type { Spool } from '../../src/spool.js';
import { forEachStore, openSpool } from './harness.js';

async function jobsIn(spool: Spool, queue: string) {
  return (await spool.listJobs({ queue, limit: 500 })).jobs;
}

async function threeQueues(spool: Spool): Promise<void> {
  await spool.declareQueue('billing');
  await spool.declareQueue('emails', { schema: { type: 'object', required: ['email'], properties: { email: { type: 'string', format: 'email' } } } });
  await spool.declareQueue('audit');
}

forEachStore(() => {
  describe('Spool topics', () => {
    it('creates, replaces, lists and deletes topics; refuses unknown, repeated and invalid queues', async () => {
      const { spool } = await openSpool();
      await threeQueues(spool);
      const created = await spool.putTopic('orders', { queues: ['billing', 'emails'] });
      expect(created).toMatchObject({ name: 'orders', queues: ['billing', 'emails'], created: true });
      const replaced = await spool.putTopic('orders', { queues: ['billing', 'emails', 'audit'] });
      expect(replaced).toMatchObject({ queues: ['billing', 'emails', 'audit'], created: false });
      await spool.putTopic('accounts', { queues: ['audit'] });
      expect((await spool.listTopics()).map((t) => t.name)).toEqual(['accounts', 'orders']);
      expect((await spool.getTopic('orders')).queues).toEqual(['billing', 'emails', 'audit']);

      await expect(spool.putTopic('orders', { queues: ['billing', 'nope'] })).rejects.toMatchObject({
        code: 'validation_failed',
        errors: [{ path: '/queues/1', message: 'queue "nope" is not declared' }],
      });
      await expect(spool.putTopic('orders', { queues: ['audit', 'audit'] })).rejects.toMatchObject({ errors: [{ path: '/queues/1' }] });
      await expect(spool.putTopic('orders', { queues: [] })).rejects.toMatchObject({ errors: [{ path: '/queues' }] });
      await expect(spool.putTopic('bad name', { queues: ['audit'] })).rejects.toMatchObject({ code: 'invalid_argument' });
      expect((await spool.getTopic('orders')).queues).toEqual(['billing', 'emails', 'audit']); // refusals changed nothing

      expect(await spool.deleteTopic('orders')).toBe(true);
      expect(await spool.deleteTopic('orders')).toBe(false);
      await expect(spool.getTopic('orders')).rejects.toMatchObject({ code: 'topic_not_found' });
      await expect(spool.publish('orders', {})).rejects.toMatchObject({ code: 'topic_not_found' });
    });

    it('publishes one job per queue of the topic, in the topic order, with the event options', async () => {
      const { spool } = await openSpool();
      await threeQueues(spool);
      await spool.putTopic('orders', { queues: ['billing', 'emails', 'audit'] });
      const r = await spool.publish('orders', { email: 'ada@example.com' }, { type: 'order.created', priority: 'high', correlationId: 'c-1' });
      expect(r.topic).toBe('orders');
      expect(r.jobs.map((j) => [j.queue, j.state, j.replayed])).toEqual([
        ['billing', 'queued', false],
        ['emails', 'queued', false],
        ['audit', 'queued', false],
      ]);
      for (const queue of ['billing', 'emails', 'audit']) {
        const [job] = await jobsIn(spool, queue);
        expect(job).toMatchObject({ queue, type: 'order.created', priority: 'high', correlationId: 'c-1', payload: { email: 'ada@example.com' } });
      }
    });

    it('writes no job anywhere when one queue\'s schema rejects the payload', async () => {
      const { spool } = await openSpool();
      await threeQueues(spool);
      await spool.putTopic('orders', { queues: ['billing', 'emails', 'audit'] });
      const error = await spool.publish('orders', { email: 'not-an-email' }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'validation_failed', errors: [{ path: '/payload/email', message: expect.stringContaining('queue "emails"') }] });
      for (const queue of ['billing', 'emails', 'audit']) expect(await jobsIn(spool, queue)).toHaveLength(0);
    });

    it('writes no job anywhere when one queue\'s type contract rejects the payload', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('a');
      await spool.declareQueue('b', { contracts: { 'order.created': { '2': { type: 'object', required: ['total'] } } } });
      await spool.putTopic('t', { queues: ['a', 'b'] });
      await expect(spool.publish('t', { id: 1 }, { type: 'order.created' })).rejects.toMatchObject({ errors: [{ path: '/payload/total' }] });
      expect(await jobsIn(spool, 'a')).toHaveLength(0);
      const ok = await spool.publish('t', { id: 1, total: 5 }, { type: 'order.created' });
      expect((await spool.getJob(ok.jobs[1]!.id)).version).toBe(2); // the contract's version, per queue
      expect((await spool.getJob(ok.jobs[0]!.id)).version).toBe(1);
    });

    it('rolls back the whole event when the store refuses one queue\'s job (a key reused there)', async () => {
      const { spool } = await openSpool();
      await threeQueues(spool);
      await spool.putTopic('orders', { queues: ['billing', 'audit'] });
      // The audit queue already holds the derived key with another payload: the atomic insert fails there.
      await spool.enqueue('audit', { other: true }, { idempotencyKey: 'topic:orders:evt-1' });
      await expect(spool.publish('orders', { n: 1 }, { idempotencyKey: 'evt-1' })).rejects.toMatchObject({ code: 'idempotency_key_reused' });
      expect(await jobsIn(spool, 'billing')).toHaveLength(0);
      expect(await jobsIn(spool, 'audit')).toHaveLength(1);
    });

    it('names the undeclared queue of a topic and writes nothing', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('billing');
      // A topic record that names a queue that is not declared (written before the queue, e.g. from a config file).
      await spool.store.recordPut({ kind: 'topic', name: 'orders', valueJson: JSON.stringify({ queues: ['billing', 'ghost'] }) });
      const error = await spool.publish('orders', { n: 1 }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'queue_not_found', queue: 'ghost', message: expect.stringContaining('topic "orders" fans out to queue "ghost"') });
      expect(await jobsIn(spool, 'billing')).toHaveLength(0);
    });

    it('replays an event with the same key and body (the original jobs), refuses the key with another body', async () => {
      const { spool } = await openSpool();
      await threeQueues(spool);
      await spool.putTopic('orders', { queues: ['billing', 'audit'] });
      await spool.putTopic('refunds', { queues: ['billing', 'audit'] });
      const first = await spool.publish('orders', { n: 1 }, { idempotencyKey: 'evt-1' });
      const again = await spool.publish('orders', { n: 1 }, { idempotencyKey: 'evt-1' });
      expect(again.jobs.map((j) => j.id)).toEqual(first.jobs.map((j) => j.id));
      expect(again.jobs.every((j) => j.replayed)).toBe(true);
      await expect(spool.publish('orders', { n: 2 }, { idempotencyKey: 'evt-1' })).rejects.toMatchObject({ code: 'idempotency_key_reused' });
      // The same key on another topic, or on a direct enqueue, is another request.
      const other = await spool.publish('refunds', { n: 1 }, { idempotencyKey: 'evt-1' });
      expect(other.jobs.some((j) => j.replayed)).toBe(false);
      const direct = await spool.enqueue('billing', { n: 9 }, { idempotencyKey: 'evt-1' });
      expect(direct.replayed).toBe(false);
      expect(await jobsIn(spool, 'billing')).toHaveLength(3);
      // A very long key still works (hashed into the derived key).
      const long = 'k'.repeat(256);
      const a = await spool.publish('orders', { n: 3 }, { idempotencyKey: long });
      expect((await spool.publish('orders', { n: 3 }, { idempotencyKey: long })).jobs.map((j) => j.id)).toEqual(a.jobs.map((j) => j.id));
    });

    it('needs an event key when one of its queues requires idempotency keys, and then writes nothing', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('a');
      await spool.declareQueue('b', { requireIdempotencyKey: true });
      await spool.putTopic('t', { queues: ['a', 'b'] });
      await expect(spool.publish('t', {})).rejects.toMatchObject({ code: 'idempotency_key_required' });
      expect(await jobsIn(spool, 'a')).toHaveLength(0);
      expect((await spool.publish('t', {}, { idempotencyKey: 'k' })).jobs).toHaveLength(2);
    });

    it('checks a defined job type\'s schema like enqueue does', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('a');
      spool.defineJob({ type: 'ping', queue: 'a', schema: Type.Object({ n: Type.Integer() }) });
      await spool.putTopic('t', { queues: ['a'] });
      await expect(spool.publish('t', { n: 'x' }, { type: 'ping' })).rejects.toMatchObject({ errors: [{ path: '/payload/n' }] });
      expect((await spool.publish('t', { n: 1 }, { type: 'ping' })).jobs).toHaveLength(1);
    });
  });
});
