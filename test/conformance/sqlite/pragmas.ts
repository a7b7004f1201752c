/**
 * SQLite only: every connection Spool writes through runs WAL with synchronous=FULL (2) — the store's own,
 * a second store on the same file, and a caller's connection prepared with configureSqliteConnection for
 * transactional enqueue. A caller's connection below FULL is refused.
 */
import { SqliteDriver } from '../../../src/storage/sqlite/driver.js';
import { describe, expect, it } from 'vitest';
import type { ManualClock } from '../../../src/core/clock.js';
import { configureSqliteConnection, openStore } from '../../../src/storage/open-store.js';
import type { SqliteStore } from '../../../src/storage/sqlite/sqlite-store.js';
import { declareQueue, findJob, jobInput, statsOf } from '../../helpers/store-fixtures.js';

type Db = SqliteStore['database'];

function pragmas(db: Db): { synchronous: number; journalMode: string } {
  return {
    synchronous: Number(db.pragma('synchronous', { simple: true })),
    journalMode: String(db.pragma('journal_mode', { simple: true })),
  };
}

const DURABLE = { synchronous: 2, journalMode: 'wal' };

export function pragmasSuite(open: (opts?: { clock?: ManualClock }) => Promise<SqliteStore>): void {
  describe('connection pragmas [sqlite]', () => {
    it("the store's connection runs WAL with synchronous=FULL, and durability() reads that back", async () => {
      const store = await open();
      expect(pragmas(store.database)).toEqual(DURABLE);
      expect(await store.durability()).toEqual({ synchronous: 'FULL', journalMode: 'wal', path: store.path });
    });

    it('a second store opened on the same file runs WAL with synchronous=FULL too', async () => {
      const first = await open();
      const second = await openStore(`sqlite:${first.path}`);
      try {
        expect(pragmas((second as SqliteStore).database)).toEqual(DURABLE);
      } finally {
        await second.close();
      }
    });

    it('a transactional-enqueue connection prepared with configureSqliteConnection is durable, and commits or rolls back with the caller', async () => {
      const store = await open();
      await declareQueue(store, 'q');
      const db = new SqliteDriver(store.path);
      try {
        configureSqliteConnection(db);
        expect(pragmas(db)).toEqual(DURABLE);
        db.exec('CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY)');

        const committed = jobInput('q');
        db.exec('BEGIN IMMEDIATE');
        db.prepare('INSERT INTO orders DEFAULT VALUES').run();
        const [result] = await store.jobInsertMany({ jobs: [committed], tx: db });
        expect(result?.ok).toBe(true);
        db.exec('COMMIT');
        expect((await findJob(store, committed.id))?.state).toBe('queued');

        const rolledBack = jobInput('q');
        db.exec('BEGIN IMMEDIATE');
        expect((await store.jobInsertMany({ jobs: [rolledBack], tx: db }))[0]?.ok).toBe(true);
        db.exec('ROLLBACK');
        expect(await findJob(store, rolledBack.id)).toBeUndefined();

        expect((await statsOf(store, 'q')).counts.queued).toBe(1);
        expect(pragmas(db)).toEqual(DURABLE);
      } finally {
        db.close();
      }
    });

    it('a caller connection below synchronous=FULL, or outside a transaction, is refused and writes nothing', async () => {
      const store = await open();
      await declareQueue(store, 'q');
      const db = new SqliteDriver(store.path);
      try {
        configureSqliteConnection(db);
        const outside = jobInput('q');
        // With a SQLite tx the insert is synchronous and so is its failure (caller-tx.ts): thrown, not rejected.
        expect(() => store.jobInsertMany({ jobs: [outside], tx: db })).toThrow(/transaction/);

        db.pragma('synchronous = NORMAL');
        expect(pragmas(db).synchronous).toBe(1);
        const job = jobInput('q');
        db.exec('BEGIN IMMEDIATE');
        expect(() => store.jobInsertMany({ jobs: [job], tx: db })).toThrow(/synchronous/);
        db.exec('COMMIT');
        expect(await store.jobGetMany({ ids: [outside.id, job.id] })).toEqual([]);
      } finally {
        db.close();
      }
    });
  });
}
