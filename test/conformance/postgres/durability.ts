/** PostgreSQL-only: durability() reads the settings back from the server itself. */
import { describe, expect, it } from 'vitest';
import type { PostgresStore } from '../../../src/storage/postgres/postgres-store.js';

export function durabilitySuite(open: () => Promise<PostgresStore>): void {
  describe('PostgresStore.durability', () => {
    it('reads synchronous_commit = on and fsync back from the server, with no file path', async () => {
      const store = await open();
      const durability = await store.durability();
      expect(durability.synchronousCommit).toBe('on');
      expect(durability.fsync).toMatch(/^(on|off)$/);
      expect(durability.path).toBeNull();
    });
  });
}
