/** PostgreSQL-only: transactional enqueue on the caller's own `pg` client inside their BEGIN … COMMIT. */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { SpoolError } from '../../../src/core/errors.js';
import { claim, declareQueue, jobInput, statsOf } from '../../helpers/store-fixtures.js';
import type { PgTestContext } from './helpers.js';

export function transactionalSuite(t: PgTestContext): void {
  describe('PostgresStore.jobInsertMany with tx', () => {
    async function callerClient(): Promise<pg.Client> {
      const client = new pg.Client({ connectionString: t.databaseUrl });
      client.on('error', () => undefined);
      await client.connect();
      return client;
    }

    it('commit: the job and the caller’s own row exist together; rollback: neither does', async () => {
      const store = await t.open();
      await declareQueue(store, 'orders');
      const client = await callerClient();
      try {
        await client.query('CREATE TEMP TABLE my_orders (id text)');
        const committed = jobInput('orders');
        await client.query('BEGIN');
        await client.query(`INSERT INTO my_orders VALUES ('o-1')`);
        const [result] = await store.jobInsertMany({ jobs: [committed], tx: client });
        expect(result).toMatchObject({ ok: true, receipt: { id: committed.id, state: 'queued' } });
        // Not visible to the store's own connections before the caller commits.
        expect(await store.jobGetMany({ ids: [committed.id] })).toEqual([]);
        // The caller's search_path is theirs again after the call.
        expect((await client.query(`SELECT count(*)::int AS n FROM my_orders`)).rows[0].n).toBe(1);
        await client.query('COMMIT');
        expect((await store.jobGetMany({ ids: [committed.id] })).map((j) => j.id)).toEqual([committed.id]);
        expect((await claim(store, 'orders', 5)).map((j) => j.id)).toEqual([committed.id]);

        const rolledBack = jobInput('orders');
        await client.query('BEGIN');
        await client.query(`INSERT INTO my_orders VALUES ('o-2')`);
        await store.jobInsertMany({ jobs: [rolledBack], tx: client });
        await client.query('ROLLBACK');
        expect(await store.jobGetMany({ ids: [rolledBack.id] })).toEqual([]);
        expect((await client.query(`SELECT count(*)::int AS n FROM my_orders`)).rows[0].n).toBe(1);
        const stats = await statsOf(store, 'orders');
        expect(stats.totals.enqueued).toBe(1);
        expect(stats.counts).toMatchObject({ queued: 0, active: 1 });
      } finally {
        await client.end();
      }
    });

    it('atomic in a tx: a failing item rejects the call and leaves the caller’s transaction usable', async () => {
      const store = await t.open();
      await declareQueue(store, 'q');
      const client = await callerClient();
      try {
        await client.query('BEGIN');
        await expect(store.jobInsertMany({ jobs: [jobInput('q'), jobInput('missing')], atomic: true, tx: client })).rejects.toMatchObject({
          code: 'queue_not_found',
        });
        const ok = jobInput('q');
        await store.jobInsertMany({ jobs: [ok], tx: client });
        await client.query('COMMIT');
        expect((await statsOf(store, 'q')).counts.queued).toBe(1);
      } finally {
        await client.end();
      }
    });

    it('gates work on the caller’s client too (it reads BIGINT as strings): group slots and ordering heads', async () => {
      const store = await t.open();
      await declareQueue(store, 'q', { groups: { concurrency: 1 } });
      const client = await callerClient();
      try {
        const low = jobInput('q', { groupKey: 'g', priority: 'low' });
        const critical = jobInput('q', { groupKey: 'g', priority: 'critical' });
        const first = jobInput('q', { orderingKey: 'k' });
        const second = jobInput('q', { orderingKey: 'k' });
        await client.query('BEGIN');
        await store.jobInsertMany({ jobs: [low, critical, first, second], tx: client });
        await client.query('COMMIT');
        expect((await claim(store, 'q', 10)).map((j) => j.id).sort()).toEqual([critical.id, first.id].sort());
      } finally {
        await client.end();
      }
    });

    it('refuses a client that is not inside a transaction', async () => {
      const store = await t.open();
      await declareQueue(store, 'q');
      const client = await callerClient();
      try {
        const error = await store.jobInsertMany({ jobs: [jobInput('q')], tx: client }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(SpoolError);
        expect((error as SpoolError).code).toBe('invalid_argument');
      } finally {
        await client.end();
      }
    });
  });
}
