/**
 * jobClaimMany under `rateLimit` and `groups.rateLimit`: token buckets of one second's capacity refilled on
 * the store's clock. Over any interval of t seconds a queue (and each group) starts at most rate × t + burst
 * jobs, claims keep up with the rate (no starvation), a group out of tokens does not hold up other groups,
 * and the limits follow the queue's config as it changes.
 */
import { describe, expect } from 'vitest';
import { claim, declareQueue, insertOk, jobInput, newClock, T0 } from '../../helpers/store-fixtures.js';
import { requires, type StoreFactory } from '../factory.js';

export function rateLimitSuite(factory: StoreFactory): void {
  const withClock = requires(factory, 'settableClock');

  describe(`jobClaimMany with rate limits [${factory.name}]`, () => {
    withClock('a full bucket gives one second of starts, then one start per 1/rate seconds', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { rateLimit: { perSecond: 10 } });
      await insertOk(store, Array.from({ length: 40 }, () => jobInput('q')));
      expect(await claim(store, 'q', 7)).toHaveLength(7);
      expect(await claim(store, 'q', 7)).toHaveLength(3);
      expect(await claim(store, 'q', 7)).toHaveLength(0);
      clock.advance(250); // 2.5 tokens
      expect(await claim(store, 'q', 7)).toHaveLength(2);
      expect(await claim(store, 'q', 7)).toHaveLength(0);
      clock.advance(50); // 0.5 + 0.5
      expect(await claim(store, 'q', 7)).toHaveLength(1);
      clock.advance(60_000); // refills to the burst, not beyond
      expect(await claim(store, 'q', 100)).toHaveLength(10);
    });

    withClock('over any run of claims, starts never exceed rate × elapsed + burst and keep up with the rate', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      const rate = 20;
      await declareQueue(store, 'q', { rateLimit: { perSecond: rate } });
      await insertOk(store, Array.from({ length: 400 }, () => jobInput('q')));
      const starts: number[] = [];
      let lastClaim = T0;
      // Uneven steps and claim sizes, 6 s of store time.
      for (let i = 0; clock.now() - T0 < 6000; i++) {
        lastClaim = clock.now();
        const got = await claim(store, 'q', 1 + (i % 9));
        for (let k = 0; k < got.length; k++) starts.push(clock.now());
        clock.advance(13 + ((i * 37) % 71));
      }
      // Every window [starts[a], starts[b]] holds at most rate × width + burst starts.
      for (let a = 0; a < starts.length; a++) {
        for (let b = a; b < starts.length; b++) {
          const width = (starts[b]! - starts[a]!) / 1000;
          expect(b - a + 1).toBeLessThanOrEqual(rate * width + rate + 1e-6);
        }
      }
      // And the claims were not starved: about burst + rate × (time of the last claim) started (the last few
      // claims ask for as little as one job, so up to 9 tokens may be left over).
      const allowed = rate + (rate * (lastClaim - T0)) / 1000;
      expect(starts.length).toBeLessThanOrEqual(allowed + 1e-6);
      expect(starts.length).toBeGreaterThanOrEqual(Math.floor(allowed) - 9);
    });

    withClock('a paused rate-limited queue claims nothing and spends no tokens', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { rateLimit: { perSecond: 5 } });
      await insertOk(store, Array.from({ length: 10 }, () => jobInput('q')));
      await store.queueSetPaused({ name: 'q', paused: true });
      expect(await claim(store, 'q', 10)).toHaveLength(0);
      await store.queueSetPaused({ name: 'q', paused: false });
      expect(await claim(store, 'q', 10)).toHaveLength(5);
    });

    withClock('the limit follows the queue config: raised, removed and set again', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { rateLimit: { perSecond: 2 } });
      await insertOk(store, Array.from({ length: 60 }, () => jobInput('q')));
      expect(await claim(store, 'q', 50)).toHaveLength(2);
      await declareQueue(store, 'q', { rateLimit: { perSecond: 4 } });
      clock.advance(500); // 2 more tokens at the new rate
      expect(await claim(store, 'q', 50)).toHaveLength(2);
      await declareQueue(store, 'q', {});
      expect(await claim(store, 'q', 20)).toHaveLength(20);
      await declareQueue(store, 'q', { rateLimit: { perSecond: 1 } });
      expect((await claim(store, 'q', 20)).length).toBeLessThanOrEqual(1);
    });

    withClock('groups.rateLimit: each group gets its own bucket; an empty group does not hold up the others', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { groups: { rateLimit: { perSecond: 2 } } });
      // Group a's backlog is first in line; b and ungrouped jobs wait behind it.
      await insertOk(store, Array.from({ length: 30 }, () => jobInput('q', { groupKey: 'a' })));
      await insertOk(store, Array.from({ length: 5 }, () => jobInput('q', { groupKey: 'b' })));
      await insertOk(store, Array.from({ length: 3 }, () => jobInput('q')));
      const first = await claim(store, 'q', 100);
      const groups = (jobs: Array<{ groupKey: string | null }>) => jobs.map((j) => j.groupKey ?? '-').join('');
      expect(groups(first)).toBe('aabb---');
      expect(await claim(store, 'q', 100)).toHaveLength(0);
      clock.advance(500);
      expect(groups(await claim(store, 'q', 100))).toBe('ab');
      clock.advance(500);
      expect(groups(await claim(store, 'q', 1))).toBe('a');
      expect(groups(await claim(store, 'q', 100))).toBe('b');
    });

    withClock('a queue limit and a group limit together: the tighter one wins', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { rateLimit: { perSecond: 3 }, groups: { rateLimit: { perSecond: 1 } } });
      for (const g of ['a', 'b', 'c', 'd', 'e']) await insertOk(store, Array.from({ length: 4 }, () => jobInput('q', { groupKey: g })));
      const starts = new Map<string, number>();
      let total = 0;
      for (let s = 0; s < 8; s++) {
        for (const j of await claim(store, 'q', 100)) {
          starts.set(j.groupKey!, (starts.get(j.groupKey!) ?? 0) + 1);
          total++;
        }
        clock.advance(1000);
      }
      // 7 s elapsed at the last claim: the queue allows 3 × 7 + 3 = 24 (all 20 jobs), each group 1 × 7 + 1 = 8.
      expect(total).toBeLessThanOrEqual(3 * 7 + 3);
      for (const n of starts.values()) expect(n).toBeLessThanOrEqual(8);
      expect(total).toBe(20);
      // The first claim: three starts (queue bucket), one per group (group buckets).
      const clock2 = newClock(T0);
      const store2 = await factory.open({ clock: clock2 });
      await declareQueue(store2, 'q', { rateLimit: { perSecond: 3 }, groups: { rateLimit: { perSecond: 1 } } });
      for (const g of ['a', 'b', 'c', 'd', 'e']) await insertOk(store2, Array.from({ length: 4 }, () => jobInput('q', { groupKey: g })));
      expect((await claim(store2, 'q', 100)).map((j) => j.groupKey)).toEqual(['a', 'b', 'c']);
    });

    withClock('a queue without limits is not touched by them (an unlimited claim takes everything)', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'fast');
      await declareQueue(store, 'slow', { rateLimit: { perSecond: 1 } });
      await insertOk(store, Array.from({ length: 50 }, () => jobInput('fast')));
      await insertOk(store, Array.from({ length: 50 }, () => jobInput('slow')));
      expect(await claim(store, 'fast', 50)).toHaveLength(50);
      expect(await claim(store, 'slow', 50)).toHaveLength(1);
    });
  });
}
