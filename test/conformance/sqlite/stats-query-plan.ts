/**
 * SQLite only: queueStatsGet must read maintained counters, never scan the jobs table. The statements it
 * runs are captured as the store prepares them (so a changed query is checked, not a copy of it), then
 * run through EXPLAIN QUERY PLAN on a populated database, before and after ANALYZE.
 */
import { describe, expect, it } from 'vitest';
import type { ManualClock } from '../../../src/core/clock.js';
import type { SqliteStore } from '../../../src/storage/sqlite/sqlite-store.js';
import { claim, declareQueue, enqueue, expectAllOk, failParams, insertOk, jobInput } from '../../helpers/store-fixtures.js';

type Db = SqliteStore['database'];

function planOf(db: Db, sql: string): string[] {
  const params = (sql.match(/\?/g) ?? []).map(() => 'q');
  return (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as Array<{ detail: string }>).map((r) => r.detail);
}

/** Plan lines that read the whole jobs table (or the whole of one of its indexes). */
function jobScans(plan: readonly string[]): string[] {
  return plan.filter((line) => /^SCAN jobs\b/.test(line));
}

/** The SQL texts `db.prepare` receives while `fn` runs. */
async function preparedDuring(db: Db, fn: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const original = db.prepare;
  db.prepare = function (this: Db, sql: string) {
    seen.push(sql);
    return original.call(this, sql);
  } as Db['prepare'];
  try {
    await fn();
  } finally {
    db.prepare = original;
  }
  return seen;
}

export function statsQueryPlanSuite(open: (opts?: { clock?: ManualClock }) => Promise<SqliteStore>): void {
  describe('queueStatsGet query plan [sqlite]', () => {
    it('the detector itself flags a scan of jobs', async () => {
      const store = await open();
      expect(jobScans(planOf(store.database, 'SELECT count(*) FROM jobs WHERE payload = ?'))).not.toEqual([]);
    });

    it('never scans the jobs table, with or without ANALYZE statistics', async () => {
      const store = await open();
      await declareQueue(store, 'q');
      await declareQueue(store, 'other');
      await insertOk(store, Array.from({ length: 200 }, (_, i) => jobInput(i % 4 === 0 ? 'other' : 'q', { delayMs: i % 5 === 0 ? 60_000 : null })));
      const claimed = await claim(store, 'q', 60);
      expectAllOk(await store.jobCompleteMany({ jobs: claimed.slice(0, 30).map((j) => ({ id: j.id, leaseToken: j.leaseToken, resultJson: null })) }));
      expectAllOk(await store.jobFailMany({ jobs: claimed.slice(30, 45).map((j) => failParams(j, 'dead')) }));
      await enqueue(store, 'q', { orderingKey: 'k', groupKey: 'g' });

      const sql = await preparedDuring(store.database, () => store.queueStatsGet({}));
      expect(sql.length).toBeGreaterThan(0);
      expect(sql.some((s) => /\bqueue_counters\b/.test(s))).toBe(true);
      // The same statements serve a filtered call (already prepared, so nothing new is prepared).
      expect(await preparedDuring(store.database, () => store.queueStatsGet({ queues: ['q'] }))).toEqual([]);

      for (const analyzed of [false, true]) {
        if (analyzed) store.database.exec('ANALYZE');
        for (const statement of sql) {
          const plan = planOf(store.database, statement);
          expect({ statement, analyzed, scans: jobScans(plan) }).toEqual({ statement, analyzed, scans: [] });
        }
      }
      // And the figures are right after all that.
      const [q] = await store.queueStatsGet({ queues: ['q'] });
      expect(q?.counts).toMatchObject({ active: 15, completed: 30, dead: 15 });
    });
  });
}
