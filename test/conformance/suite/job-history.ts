/**
 * What job event streams read: jobHistoryGetMany (state and history without payloads, batched) and
 * `subscribe(…, { transitions: true })`, which also hears this process's claims and completions.
 */
import { describe, expect, it } from 'vitest';
import type { StoreEvent } from '../../../src/storage/store.js';
import { claimOne, declareQueue, enqueue, expectAllOk, SECOND } from '../../helpers/store-fixtures.js';
import type { StoreFactory } from '../factory.js';

export function jobHistorySuite(factory: StoreFactory): void {
  describe(`jobHistoryGetMany [${factory.name}]`, () => {
    it('answers the state and history of the jobs found, and leaves missing ids out', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const a = await enqueue(store, 'q');
      const b = await enqueue(store, 'q', { delayMs: 60 * SECOND });
      const job = await claimOne(store, 'q');
      expectAllOk(await store.jobCompleteMany({ jobs: [{ id: a, leaseToken: job.leaseToken, resultJson: '1' }] }));
      const got = await store.jobHistoryGetMany({ ids: [a, b, '00000000-0000-7000-8000-000000000000'] });
      const byId = new Map(got.map((h) => [h.id, h]));
      expect(got).toHaveLength(2);
      expect(byId.get(a)).toMatchObject({ queue: 'q', state: 'completed' });
      expect(byId.get(a)!.history.map((h) => [h.state, h.attempt])).toEqual([
        ['queued', 0],
        ['active', 1],
        ['completed', 1],
      ]);
      expect(byId.get(b)).toMatchObject({ state: 'scheduled', history: [{ state: 'scheduled', attempt: 0 }] });
      expect(await store.jobHistoryGetMany({ ids: [] })).toEqual([]);
    });
  });

  describe(`subscribe with transitions [${factory.name}]`, () => {
    it('a transitions subscriber hears claims and completions; a plain one does not', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const plain: StoreEvent[] = [];
      const transitions: StoreEvent[] = [];
      const offPlain = store.subscribe((e) => plain.push(e));
      const offTransitions = store.subscribe((e) => transitions.push(e), { transitions: true });
      try {
        const id = await enqueue(store, 'q');
        const job = await claimOne(store, 'q');
        const afterClaim = transitions.filter((e) => e.transitions).length;
        expect(afterClaim).toBeGreaterThanOrEqual(1);
        expectAllOk(await store.jobCompleteMany({ jobs: [{ id, leaseToken: job.leaseToken, resultJson: null }] }));
        expect(transitions.filter((e) => e.transitions).length).toBeGreaterThan(afterClaim);
        expect(plain.filter((e) => e.transitions)).toEqual([]);
        // The enqueue made a job claimable: both heard that one.
        expect(plain.some((e) => e.queues?.includes('q'))).toBe(true);
        expect(transitions.some((e) => e.queues?.includes('q'))).toBe(true);
      } finally {
        offPlain();
        offTransitions();
      }
    });
  });
}
