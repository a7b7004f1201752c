/** PostgreSQL-only: transactional enqueue on the caller's own `pg` client inside their BEGIN … COMMIT. */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { IdempotencyKeyReusedError, InvalidArgumentError, QueueNotFoundError, SpoolError } from '../../../src/core/errors.js';
import { claim, declareQueue, jobInput, statsOf } from '../../helpers/store-fixtures.js';
import type { PgTestContext } from './helpers.js';

export function transactionalSuite(t: PgTestContext): void {
  describe('PostgresStore.jobInsertMany with tx', () => {
    async function callerClient(database?: string): Promise<pg.Client> {
      const url = new URL(t.databaseUrl);
      if (database !== undefined) url.pathname = `/${database}`;
      const client = new pg.Client({ connectionString: url.toString() });
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

    it('without atomic, a failing item leaves nothing and the others are written; a failure restores the caller’s search_path', async () => {
      const store = await t.open();
      await declareQueue(store, 'q');
      const taken = jobInput('q', { idempotency: { key: 'k', fingerprint: 'a' } });
      await store.jobInsertMany({ jobs: [taken] });
      const client = await callerClient();
      try {
        await client.query('BEGIN');
        await client.query(`SET LOCAL search_path = pg_catalog`);
        const ok = jobInput('q');
        const missing = jobInput('missing');
        const reused = jobInput('q', { idempotency: { key: 'k', fingerprint: 'b' } });
        const results = await store.jobInsertMany({ jobs: [ok, missing, reused], tx: client });
        expect(results.map((r) => (r.ok ? 'ok' : r.error.constructor.name))).toEqual(['ok', 'QueueNotFoundError', 'IdempotencyKeyReusedError']);
        expect((await client.query('SHOW search_path')).rows[0].search_path).toBe('pg_catalog');
        await expect(store.jobInsertMany({ jobs: [jobInput('q'), jobInput('missing')], atomic: true, tx: client })).rejects.toBeInstanceOf(
          QueueNotFoundError,
        );
        expect((await client.query('SHOW search_path')).rows[0].search_path).toBe('pg_catalog');
        await client.query('COMMIT');
        expect((await store.jobGetMany({ ids: [ok.id, missing.id, reused.id] })).map((j) => j.id)).toEqual([ok.id]);
        expect((await statsOf(store, 'q')).totals.enqueued).toBe(2);
        // The key still belongs to the first job.
        const [again] = await store.jobInsertMany({ jobs: [jobInput('q', { idempotency: { key: 'k', fingerprint: 'b' } })] });
        expect(again?.ok === false && again.error).toBeInstanceOf(IdempotencyKeyReusedError);
      } finally {
        await client.end();
      }
    });

    it('refuses a pg Pool (its queries may run outside the caller’s transaction), and writes nothing', async () => {
      const store = await t.open();
      await declareQueue(store, 'q');
      const pool = new pg.Pool({ connectionString: t.databaseUrl, max: 1 });
      pool.on('error', () => undefined);
      try {
        await pool.query('SELECT 1'); // a pool with a connection, as an application's would be
        const error = await store.jobInsertMany({ jobs: [jobInput('q')], tx: pool }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect((error as Error).message).toMatch(/Pool.*pool\.connect\(\)/);
        expect((await statsOf(store, 'q')).totals.enqueued).toBe(0);
      } finally {
        await pool.end();
      }
    });

    it('refuses a client on another database with invalid_argument naming Spool’s schema, and leaves its transaction usable', async () => {
      const store = await t.open();
      await declareQueue(store, 'q');
      const client = await callerClient('postgres');
      try {
        await client.query('BEGIN');
        const error = await store.jobInsertMany({ jobs: [jobInput('q')], tx: client }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect((error as Error).message).toContain(`database "postgres", where schema "${store.schema}" holds no Spool tables`);
        expect((await client.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
        await client.query('ROLLBACK');
      } finally {
        await client.end();
      }
    });

    it('refuses a client whose transaction has already failed', async () => {
      const store = await t.open();
      await declareQueue(store, 'q');
      const client = await callerClient();
      try {
        await client.query('BEGIN');
        await client.query('SELECT 1/0').catch(() => undefined);
        const error = await store.jobInsertMany({ jobs: [jobInput('q')], tx: client }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(InvalidArgumentError);
        expect((error as Error).message).toMatch(/failed transaction/);
        await client.query('ROLLBACK');
      } finally {
        await client.end();
      }
    });
  });
}
