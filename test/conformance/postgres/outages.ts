/** PostgreSQL-only: killed connections never crash the process; an unreachable database is StoreUnavailableError. */
import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../../src/core/errors.js';
import { PostgresStore } from '../../../src/storage/postgres/postgres-store.js';
import { declareQueue, enqueue, jobInput } from '../../helpers/store-fixtures.js';
import type { PgTestContext } from './helpers.js';

export function outageSuite(t: PgTestContext): void {
  describe('PostgresStore outages', () => {
    it('survives pg_terminate_backend of its idle pooled connections and keeps working', async () => {
      const store = await t.open();
      await declareQueue(store, 'q');
      await Promise.all(Array.from({ length: 5 }, () => store.queueStatsGet({}))); // several idle pooled clients
      const killed = await t.admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`, [
        `spool ${store.schema}`.slice(0, 63),
      ]);
      expect(killed.rowCount).toBeGreaterThan(0);
      const deadline = Date.now() + 5000;
      while (store.errors.idleClient === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(store.errors.idleClient).toBeGreaterThan(0);
      const id = await enqueue(store, 'q');
      expect((await store.jobGetMany({ ids: [id] })).map((j) => j.state)).toEqual(['queued']);
    });

    it('an unreachable database fails fast with StoreUnavailableError', async () => {
      const url = new URL(t.databaseUrl);
      url.port = '1'; // nothing listens there
      const store = new PostgresStore({ url: url.toString(), schema: 'spool_unreachable' });
      try {
        await expect(store.ping()).rejects.toBeInstanceOf(StoreUnavailableError);
        await expect(store.migrate()).rejects.toBeInstanceOf(StoreUnavailableError);
        await expect(store.jobInsertMany({ jobs: [jobInput('q')] })).rejects.toBeInstanceOf(StoreUnavailableError);
        await expect(store.queueStatsGet({})).rejects.toBeInstanceOf(StoreUnavailableError);
        await expect(store.jobClaimMany({ queue: 'q', max: 1, leaseMs: 1000, workerId: 'w' })).rejects.toBeInstanceOf(StoreUnavailableError);
      } finally {
        await store.close();
      }
    });
  });
}
