/** Durable step memos for ctx.step: jobStepSet / jobStepList. */
import { describe, expect, it } from 'vitest';
import { declareQueue, enqueue } from '../../helpers/store-fixtures.js';
import type { StoreFactory } from '../factory.js';

export function stepsSuite(factory: StoreFactory): void {
  describe(`jobStepSet / jobStepList [${factory.name}]`, () => {
    it('round-trips step values per job', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const a = await enqueue(store, 'q');
      const b = await enqueue(store, 'q');
      expect((await store.jobStepList({ jobId: a })).size).toBe(0);
      await store.jobStepSet({ jobId: a, name: 'charge', valueJson: '{"id":"ch_1"}' });
      await store.jobStepSet({ jobId: a, name: 'email', valueJson: 'null' });
      await store.jobStepSet({ jobId: b, name: 'charge', valueJson: '{"id":"ch_2"}' });
      expect(await store.jobStepList({ jobId: a })).toEqual(
        new Map([
          ['charge', '{"id":"ch_1"}'],
          ['email', 'null'],
        ]),
      );
      expect(await store.jobStepList({ jobId: b })).toEqual(new Map([['charge', '{"id":"ch_2"}']]));
    });

    it('the first stored value of a step wins: a second set of the same name is ignored', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const id = await enqueue(store, 'q');
      await store.jobStepSet({ jobId: id, name: 'send', valueJson: '"first"' });
      await store.jobStepSet({ jobId: id, name: 'send', valueJson: '"second"' });
      expect(await store.jobStepList({ jobId: id })).toEqual(new Map([['send', '"first"']]));
    });

    it('concurrent sets of different steps all persist', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const id = await enqueue(store, 'q');
      await Promise.all(Array.from({ length: 10 }, (_, i) => store.jobStepSet({ jobId: id, name: `s${i}`, valueJson: String(i) })));
      const steps = await store.jobStepList({ jobId: id });
      expect([...steps.keys()].sort()).toEqual(Array.from({ length: 10 }, (_, i) => `s${i}`).sort());
      expect(steps.get('s7')).toBe('7');
    });
  });
}
