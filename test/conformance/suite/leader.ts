/** Leader leases for cluster-wide maintenance: exclusive until the ttl runs out, renewable, resignable. */
import { describe, expect, it } from 'vitest';
import { newClock, SECOND } from '../../helpers/store-fixtures.js';
import { requires, type StoreFactory } from '../factory.js';

const TTL = 10 * SECOND;

export function leaderSuite(factory: StoreFactory): void {
  const withClock = requires(factory, 'settableClock');

  describe(`leaderAttempt / leaderResign [${factory.name}]`, () => {
    withClock('one holder at a time until the ttl runs out', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      expect(await store.leaderAttempt({ name: 'maint', holder: 'A', ttlMs: TTL })).toBe(true);
      expect(await store.leaderAttempt({ name: 'maint', holder: 'B', ttlMs: TTL })).toBe(false);
      clock.advance(TTL - 1);
      expect(await store.leaderAttempt({ name: 'maint', holder: 'B', ttlMs: TTL })).toBe(false);
      clock.advance(2);
      expect(await store.leaderAttempt({ name: 'maint', holder: 'B', ttlMs: TTL })).toBe(true);
      expect(await store.leaderAttempt({ name: 'maint', holder: 'A', ttlMs: TTL })).toBe(false);
    });

    withClock('the holder renews its lease; renewal pushes the expiry out', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      expect(await store.leaderAttempt({ name: 'maint', holder: 'A', ttlMs: TTL })).toBe(true);
      clock.advance(TTL - SECOND);
      expect(await store.leaderAttempt({ name: 'maint', holder: 'A', ttlMs: TTL })).toBe(true);
      clock.advance(TTL - SECOND); // past the first expiry, within the renewed one
      expect(await store.leaderAttempt({ name: 'maint', holder: 'B', ttlMs: TTL })).toBe(false);
    });

    it('resign frees the lease at once; only the holder can resign', async () => {
      const store = await factory.open();
      expect(await store.leaderAttempt({ name: 'maint', holder: 'A', ttlMs: 3600 * SECOND })).toBe(true);
      await store.leaderResign({ name: 'maint', holder: 'B' });
      expect(await store.leaderAttempt({ name: 'maint', holder: 'B', ttlMs: TTL })).toBe(false);
      await store.leaderResign({ name: 'maint', holder: 'A' });
      expect(await store.leaderAttempt({ name: 'maint', holder: 'B', ttlMs: TTL })).toBe(true);
      expect(await store.leaderAttempt({ name: 'maint', holder: 'A', ttlMs: TTL })).toBe(false);
    });

    it('leases of different names are independent', async () => {
      const store = await factory.open();
      expect(await store.leaderAttempt({ name: 'reaper', holder: 'A', ttlMs: TTL })).toBe(true);
      expect(await store.leaderAttempt({ name: 'cleaner', holder: 'B', ttlMs: TTL })).toBe(true);
      expect(await store.leaderAttempt({ name: 'reaper', holder: 'B', ttlMs: TTL })).toBe(false);
    });

    it('concurrent attempts by many holders elect exactly one', async () => {
      const store = await factory.open();
      const results = await Promise.all(Array.from({ length: 8 }, (_, i) => store.leaderAttempt({ name: 'maint', holder: `h${i}`, ttlMs: TTL })));
      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });
}
