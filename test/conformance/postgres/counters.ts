/**
 * PostgreSQL-only: counters are delta rows (one per touched counter per transaction) folded by counterFold;
 * retention keeps the queue tables vacuumed even when the server's autovacuum is off.
 */
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/logger.js';
import { DEFAULTS } from '../../../src/core/queue-config.js';
import { Maintainer } from '../../../src/worker/maintenance/maintainer.js';
import { bruteCounts, claim, declareQueue, enqueue, jobInput, statsOf } from '../../helpers/store-fixtures.js';
import type { PgTestContext } from './helpers.js';

export function countersSuite(t: PgTestContext): void {
  describe('PostgresStore counters', () => {
    it('writes delta rows, never updates a counter row on the hot path; folding keeps the stats unchanged', async () => {
      const store = await t.open();
      await declareQueue(store, 'q');
      for (let i = 0; i < 5; i++) await enqueue(store, 'q');
      const [job] = await claim(store, 'q', 1);
      await store.jobCompleteMany({ jobs: [{ id: job!.id, leaseToken: job!.leaseToken, resultJson: null }] });
      const rows = async (table: string) => (await t.admin.query(`SELECT count(*)::int AS n FROM "${store.schema}".${table}`)).rows[0].n as number;
      expect(await rows('queue_counters')).toBe(0);
      expect(await rows('counter_deltas')).toBeGreaterThanOrEqual(5 * 2 + 2 + 3);
      const before = await statsOf(store, 'q');
      expect(before.counts).toEqual(await bruteCounts(store, 'q'));

      expect(await store.counterFold({ limit: 10_000 })).toBeGreaterThan(0);
      expect(await rows('counter_deltas')).toBe(0);
      const folded = await statsOf(store, 'q');
      expect(folded.counts).toEqual(before.counts);
      expect(folded.totals).toEqual(before.totals);

      await enqueue(store, 'q');
      const after = await statsOf(store, 'q');
      expect(after.counts.queued).toBe(before.counts.queued + 1);
      expect(after.totals.enqueued).toBe(6);
      expect(after.counts).toEqual(await bruteCounts(store, 'q'));
    });

    it('the maintenance leader folds the delta rows on its own timer, without a retention run', async () => {
      const store = await t.open();
      await declareQueue(store, 'q');
      for (let i = 0; i < 20; i++) await enqueue(store, 'q');
      const deltas = async () => (await t.admin.query(`SELECT count(*)::int AS n FROM "${store.schema}".counter_deltas`)).rows[0].n as number;
      expect(await deltas()).toBeGreaterThan(0);
      const before = await statsOf(store, 'q');
      const maintainer = new Maintainer(store, silentLogger, { queueConfig: async () => ({ ...DEFAULTS }), jobType: () => undefined }, {
        foldIntervalMs: 50,
        cleanIntervalMs: 3_600_000,
      });
      maintainer.start();
      try {
        const deadline = Date.now() + 10_000;
        // The fold's count is added once its commit returns: wait for the table and the count.
        while (((await deltas()) > 0 || maintainer.stats.folded < 20) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        expect(await deltas()).toBe(0);
        expect(maintainer.stats.folded).toBeGreaterThanOrEqual(20);
        expect(maintainer.stats.cleaned).toBe(0);
      } finally {
        await maintainer.stop();
      }
      const after = await statsOf(store, 'q');
      expect(after.counts).toEqual(before.counts);
      expect(after.totals).toEqual(before.totals);
    });

    it('retention vacuums the queue tables itself when the server runs without autovacuum (at most once a minute)', async () => {
      const store = await t.open();
      await declareQueue(store, 'q');
      const autovacuum = (await t.admin.query(`SELECT current_setting('autovacuum') AS v`)).rows[0].v as string;
      expect(await store.jobDeleteExpired({ limit: 100 })).toBe(0);
      expect(await store.jobDeleteExpired({ limit: 100 })).toBe(0);
      expect(store.vacuums).toBe(autovacuum === 'off' ? 1 : 0);
      expect(store.errors.lastMessage).toBe('');
    });

    it('analyzes the jobs table itself every 10,000 inserted jobs when the server runs without autovacuum', async () => {
      const store = await t.open();
      await declareQueue(store, 'q');
      const autovacuum = (await t.admin.query(`SELECT current_setting('autovacuum') AS v`)).rows[0].v as string;
      const analyzed = async () =>
        (await t.admin.query(`SELECT coalesce(analyze_count, 0)::int AS n FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'jobs'`, [store.schema]))
          .rows[0]?.n as number | undefined;
      for (let i = 0; i < 10; i++) {
        const jobs = Array.from({ length: 1000 }, (_, k) => jobInput('q', { payloadJson: JSON.stringify({ i, k }) }));
        await store.jobInsertMany({ jobs });
      }
      const deadline = Date.now() + 20_000;
      while (store.analyzes === 0 && autovacuum === 'off' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(store.analyzes).toBe(autovacuum === 'off' ? 1 : 0);
      if (autovacuum === 'off') {
        // The statistics exist now (pg_stat counts the manual ANALYZE; the planner sees the rows).
        expect(await analyzed()).toBeGreaterThanOrEqual(1);
        const est = (await t.admin.query(`SELECT reltuples::int AS n FROM pg_class WHERE oid = $1::regclass`, [`"${store.schema}".jobs`])).rows[0].n as number;
        expect(est).toBeGreaterThan(5000);
      }
      expect(store.errors.lastMessage).toBe('');
    });
  });
}
