/**
 * Ordering keys (one live job at a time per key, in enqueue order, also under batched claims) and group
 * keys (at most groups.concurrency jobs of a group active or claimable at once).
 */
import { describe, expect, it } from 'vitest';
import type { ClaimedJob, Store } from '../../../src/storage/store.js';
import { claim, declareQueue, enqueue, expectAllOk, failParams, getJob, newClock, SECOND } from '../../helpers/store-fixtures.js';
import { requires, type StoreFactory } from '../factory.js';

async function complete(store: Store, jobs: readonly ClaimedJob[]): Promise<void> {
  expectAllOk(await store.jobCompleteMany({ jobs: jobs.map((j) => ({ id: j.id, leaseToken: j.leaseToken, resultJson: null })) }));
}

const ids = (jobs: readonly ClaimedJob[]): string[] => jobs.map((j) => j.id);

export function orderingSuite(factory: StoreFactory): void {
  const withClock = requires(factory, 'settableClock');

  describe(`ordering keys [${factory.name}]`, () => {
    it('a batched claim takes only the head of each key; the next runs only after the head finished, in enqueue order', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const a: string[] = [];
      for (let i = 0; i < 4; i++) a.push(await enqueue(store, 'q', { orderingKey: 'a' }));
      const b1 = await enqueue(store, 'q', { orderingKey: 'b' });
      const free = await enqueue(store, 'q');
      const b2 = await enqueue(store, 'q', { orderingKey: 'b' });

      const first = await claim(store, 'q', 10);
      expect(ids(first).sort()).toEqual([a[0], b1, free].sort());
      expect(await claim(store, 'q', 10)).toEqual([]);

      const seen: string[] = [];
      let active = first.filter((j) => j.id === a[0]);
      for (let i = 1; i < 4; i++) {
        await complete(store, active);
        seen.push(...ids(active));
        active = await claim(store, 'q', 10);
        expect(ids(active)).toEqual([a[i]]);
      }
      await complete(store, active);
      seen.push(...ids(active));
      expect(seen).toEqual(a);

      await complete(store, first.filter((j) => j.id === b1));
      expect(ids(await claim(store, 'q', 10))).toEqual([b2]);
    });

    it('a higher priority does not overtake the head of its key', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const low = await enqueue(store, 'q', { orderingKey: 'k', priority: 'low' });
      const critical = await enqueue(store, 'q', { orderingKey: 'k', priority: 'critical' });
      const [head] = await claim(store, 'q', 10);
      expect(head?.id).toBe(low);
      await complete(store, [head!]);
      expect(ids(await claim(store, 'q', 10))).toEqual([critical]);
    });

    withClock('later jobs of a key wait while the head retries; the head runs again before them', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      const head = await enqueue(store, 'q', { orderingKey: 'k' });
      const next = await enqueue(store, 'q', { orderingKey: 'k' });
      const [first] = await claim(store, 'q', 10);
      expect(first?.id).toBe(head);
      expectAllOk(await store.jobFailMany({ jobs: [failParams(first!, 'retrying', { delayMs: 5 * SECOND })] }));
      expect(await claim(store, 'q', 10)).toEqual([]);
      clock.advance(5 * SECOND);
      await store.jobPromoteDue({ limit: 10 });
      const [again] = await claim(store, 'q', 10);
      expect(again).toMatchObject({ id: head, attempt: 2 });
      expect(await claim(store, 'q', 10)).toEqual([]);
      await complete(store, [again!]);
      expect(ids(await claim(store, 'q', 10))).toEqual([next]);
    });

    withClock('a scheduled head holds back later due jobs of its key', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q');
      const head = await enqueue(store, 'q', { orderingKey: 'k', delayMs: 10 * SECOND });
      const next = await enqueue(store, 'q', { orderingKey: 'k' });
      expect(await claim(store, 'q', 10)).toEqual([]);
      clock.advance(10 * SECOND);
      await store.jobPromoteDue({ limit: 10 });
      const [first] = await claim(store, 'q', 10);
      expect(first?.id).toBe(head);
      await complete(store, [first!]);
      expect(ids(await claim(store, 'q', 10))).toEqual([next]);
    });

    it('cancelling the waiting head lets the next job of the key run', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const head = await enqueue(store, 'q', { orderingKey: 'k', delayMs: 3600 * SECOND });
      const next = await enqueue(store, 'q', { orderingKey: 'k' });
      expect(await claim(store, 'q', 10)).toEqual([]);
      expectAllOk(await store.jobCancelMany({ ids: [head] }));
      expect(ids(await claim(store, 'q', 10))).toEqual([next]);
    });

    it('onDead continue: a dead head moves the key on; a replayed job rejoins at the end of its key', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const head = await enqueue(store, 'q', { orderingKey: 'k' });
      const second = await enqueue(store, 'q', { orderingKey: 'k' });
      const [h] = await claim(store, 'q', 10);
      expectAllOk(await store.jobFailMany({ jobs: [failParams(h!, 'dead')] }));
      const [s] = await claim(store, 'q', 10);
      expect(s?.id).toBe(second);
      expect((await store.jobReplayDead({ queue: 'q', ids: [head] })).count).toBe(1);
      expect(await claim(store, 'q', 10)).toEqual([]);
      await complete(store, [s!]);
      expect(ids(await claim(store, 'q', 10))).toEqual([head]);
    });

    it('onDead block: a dead head blocks its key until it is replayed or purged', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q', { ordering: { onDead: 'block' } });
      const head = await enqueue(store, 'q', { orderingKey: 'k' });
      const second = await enqueue(store, 'q', { orderingKey: 'k' });
      const other = await enqueue(store, 'q', { orderingKey: 'other' });
      const first = await claim(store, 'q', 10);
      expect(ids(first).sort()).toEqual([head, other].sort());
      expectAllOk(await store.jobFailMany({ jobs: [failParams(first.find((j) => j.id === head)!, 'dead')] }));
      expect(await claim(store, 'q', 10)).toEqual([]);
      expect((await getJob(store, second)).state).toBe('queued');

      // Replayed, the dead job keeps its place at the head of the key.
      expect((await store.jobReplayDead({ queue: 'q', ids: [head] })).count).toBe(1);
      const [again] = await claim(store, 'q', 10);
      expect(again?.id).toBe(head);
      expectAllOk(await store.jobFailMany({ jobs: [failParams(again!, 'dead')] }));
      expect(await claim(store, 'q', 10)).toEqual([]);

      // Purged, the key moves on.
      expect(await store.jobDeleteDead({ queue: 'q', id: head })).toBe(true);
      expect(ids(await claim(store, 'q', 10))).toEqual([second]);
    });
    it('switching onDead from block to continue with queueUpsert unblocks the key at once', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q', { ordering: { onDead: 'block' } });
      await enqueue(store, 'q', { orderingKey: 'k' });
      const second = await enqueue(store, 'q', { orderingKey: 'k' });
      const [head] = await claim(store, 'q', 10);
      expectAllOk(await store.jobFailMany({ jobs: [failParams(head!, 'dead')] }));
      expect(await claim(store, 'q', 10)).toEqual([]);
      await declareQueue(store, 'q', { ordering: { onDead: 'continue' } });
      expect(ids(await claim(store, 'q', 10))).toEqual([second]);
    });
  });

  describe(`group keys [${factory.name}]`, () => {
    it('a batched claim honours groups.concurrency per group and does not hold up other groups', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q', { groups: { concurrency: 2 } });
      const g1: string[] = [];
      for (let i = 0; i < 5; i++) g1.push(await enqueue(store, 'q', { groupKey: 'g1' }));
      const g2 = [await enqueue(store, 'q', { groupKey: 'g2' }), await enqueue(store, 'q', { groupKey: 'g2' }), await enqueue(store, 'q', { groupKey: 'g2' })];
      const plain = await enqueue(store, 'q');

      const first = await claim(store, 'q', 10);
      expect(ids(first).sort()).toEqual([g1[0], g1[1], g2[0], g2[1], plain].sort());
      expect(await claim(store, 'q', 10)).toEqual([]);

      // Completing one g1 job frees exactly one g1 slot, taken by the next g1 job in order.
      await complete(store, first.filter((j) => j.id === g1[0]));
      const next = await claim(store, 'q', 10);
      expect(ids(next)).toEqual([g1[2]]);
      expect(await claim(store, 'q', 10)).toEqual([]);
    });

    it('never more than N active per group while draining a group', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q', { groups: { concurrency: 3 } });
      for (let i = 0; i < 10; i++) await enqueue(store, 'q', { groupKey: 'g' });
      let active: ClaimedJob[] = [];
      let done = 0;
      while (done < 10) {
        active.push(...(await claim(store, 'q', 10)));
        expect(active.length).toBeLessThanOrEqual(3);
        expect(active.length).toBeGreaterThan(0);
        const [finished, ...rest] = active;
        await complete(store, [finished!]);
        active = rest;
        done++;
      }
      expect(await claim(store, 'q', 10)).toEqual([]);
    });

    it('a failed (retrying) or cancelled job frees its group slot; a released one keeps it', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q', { groups: { concurrency: 1 } });
      const a = await enqueue(store, 'q', { groupKey: 'g' });
      const b = await enqueue(store, 'q', { groupKey: 'g' });
      const c = await enqueue(store, 'q', { groupKey: 'g' });
      const [ja] = await claim(store, 'q', 10);
      expect(ja?.id).toBe(a);
      expectAllOk(await store.jobReleaseMany({ jobs: [{ id: ja!.id, leaseToken: ja!.leaseToken }] }));
      const [ja2] = await claim(store, 'q', 10);
      expect(ja2?.id).toBe(a);
      expectAllOk(await store.jobFailMany({ jobs: [failParams(ja2!, 'retrying', { delayMs: 3600 * SECOND })] }));
      const [jb] = await claim(store, 'q', 10);
      expect(jb?.id).toBe(b);
      expect(await claim(store, 'q', 10)).toEqual([]);
      await complete(store, [jb!]);
      expectAllOk(await store.jobCancelMany({ ids: [a] }));
      expect(ids(await claim(store, 'q', 10))).toEqual([c]);
    });

    it('a better-ranked arrival takes the slot of a queued lower-priority job of its group', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q', { groups: { concurrency: 1 } });
      const low = await enqueue(store, 'q', { groupKey: 'g', priority: 'low' });
      const critical = await enqueue(store, 'q', { groupKey: 'g', priority: 'critical' });
      const [first] = await claim(store, 'q', 10);
      expect(first?.id).toBe(critical);
      expect(await claim(store, 'q', 10)).toEqual([]);
      await complete(store, [first!]);
      expect(ids(await claim(store, 'q', 10))).toEqual([low]);
    });

    withClock('a scheduled or retrying job of a full group waits for a slot after promotion', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { groups: { concurrency: 1 } });
      const retried = await enqueue(store, 'q', { groupKey: 'g' });
      const [first] = await claim(store, 'q', 10);
      expect(first?.id).toBe(retried);
      expectAllOk(await store.jobFailMany({ jobs: [failParams(first!, 'retrying', { delayMs: 5 * SECOND })] }));
      const scheduled = await enqueue(store, 'q', { groupKey: 'g', delayMs: 5 * SECOND });
      const holder = await enqueue(store, 'q', { groupKey: 'g' });
      const [h] = await claim(store, 'q', 10);
      expect(h?.id).toBe(holder);
      clock.advance(5 * SECOND);
      expect((await store.jobPromoteDue({ limit: 10 })).count).toBe(2);
      expect(await claim(store, 'q', 10)).toEqual([]);
      await complete(store, [h!]);
      const [next] = await claim(store, 'q', 10);
      expect([retried, scheduled]).toContain(next?.id);
      expect(await claim(store, 'q', 10)).toEqual([]);
      await complete(store, [next!]);
      expect(ids(await claim(store, 'q', 10))).toEqual([retried, scheduled].filter((id) => id !== next!.id));
    });

    it('raising the group limit with queueUpsert opens held jobs at once', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q', { groups: { concurrency: 1 } });
      for (let i = 0; i < 3; i++) await enqueue(store, 'q', { groupKey: 'g' });
      expect(await claim(store, 'q', 10)).toHaveLength(1);
      await declareQueue(store, 'q', { groups: { concurrency: 3 } });
      expect(await claim(store, 'q', 10)).toHaveLength(2);
    });

    it('ordering key and group key together: one per key, N per group', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q', { groups: { concurrency: 2 } });
      const k1a = await enqueue(store, 'q', { groupKey: 'g', orderingKey: 'k1' });
      await enqueue(store, 'q', { groupKey: 'g', orderingKey: 'k1' });
      const k2a = await enqueue(store, 'q', { groupKey: 'g', orderingKey: 'k2' });
      await enqueue(store, 'q', { groupKey: 'g', orderingKey: 'k3' });
      const first = await claim(store, 'q', 10);
      expect(ids(first).sort()).toEqual([k1a, k2a].sort());
      expect(await claim(store, 'q', 10)).toEqual([]);
    });
  });
}
