/**
 * Transactional enqueue (`tx`) through the library API. The store-parametric block runs on SQLite (the caller's
 * own better-sqlite3 connection to Spool's file) and on PostgreSQL (the caller's own `pg` client on Spool's
 * database, with a TEMP table for its rows); the SQLite-only block covers what only a synchronous driver has
 * (`db.transaction(fn)`, errors thrown rather than rejected) and the file checks. The driver-level PostgreSQL
 * checks (Pool refused, another database, search_path) are in test/conformance/postgres/transactional.ts.
 */
import type Database from 'better-sqlite3';
import { SqliteDriver } from '../../src/storage/sqlite/driver.js';
import { symlinkSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  configureSqliteConnection,
  IdempotencyKeyReusedError,
  InvalidArgumentError,
  JobNotFoundError,
  QueueNotFoundError,
  Spool,
  type SpoolError,
  Type,
  ValidationError,
} from '../../src/index.js';
import { forEachStore, onCleanup, openSpool, openSqliteSpool, tempDir, type TempSpool } from './harness.js';

/** The application's side: its own connection, its own table, BEGIN/COMMIT/ROLLBACK of its own. */
interface Caller {
  readonly tx: unknown;
  begin(): Promise<void>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  addOrder(item: string): Promise<void>;
  orders(): Promise<string[]>;
}

async function callerOf(t: TempSpool): Promise<Caller> {
  if (t.kind === 'sqlite') {
    const db = new SqliteDriver(t.file!);
    onCleanup(() => {
      db.close();
    });
    configureSqliteConnection(db);
    db.exec('CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL)');
    return {
      tx: db,
      begin: async () => void db.exec('BEGIN IMMEDIATE'),
      commit: async () => void db.exec('COMMIT'),
      rollback: async () => void db.exec('ROLLBACK'),
      addOrder: async (item) => void db.prepare('INSERT INTO orders (item) VALUES (?)').run(item),
      orders: async () => (db.prepare('SELECT item FROM orders ORDER BY id').all() as Array<{ item: string }>).map((r) => r.item),
    };
  }
  const url = new URL(t.url);
  url.searchParams.delete('schema'); // the application's connection: Spool's schema is not on its search_path
  const client = new pg.Client({ connectionString: url.toString() });
  client.on('error', () => undefined);
  await client.connect();
  onCleanup(() => client.end());
  await client.query('CREATE TEMP TABLE orders (id serial PRIMARY KEY, item text NOT NULL)');
  return {
    tx: client,
    begin: async () => void (await client.query('BEGIN')),
    commit: async () => void (await client.query('COMMIT')),
    rollback: async () => void (await client.query('ROLLBACK')),
    addOrder: async (item) => void (await client.query('INSERT INTO orders (item) VALUES ($1)', [item])),
    orders: async () => (await client.query<{ item: string }>('SELECT item FROM orders ORDER BY id')).rows.map((r) => r.item),
  };
}

/** The call's outcome, whether it throws (SQLite tx) or rejects (PostgreSQL tx). */
async function outcome<T>(call: () => Promise<T>): Promise<T | Error> {
  try {
    return await call();
  } catch (error) {
    return error as Error;
  }
}

async function enqueuedTotal(spool: Spool, queue: string): Promise<number> {
  const [stats] = await spool.stats(queue);
  return stats!.totals.enqueued;
}

forEachStore(() => {
  describe('Transactional enqueue (tx) through the library', () => {
    async function setUp() {
      const t = await openSpool();
      await t.spool.declareQueue('order-emails');
      const receipt = t.spool.defineJob({ type: 'receipt', queue: 'order-emails', schema: Type.Object({ orderId: Type.Integer() }) });
      return { ...t, receipt, caller: await callerOf(t) };
    }

    it('spool.enqueue(queue, payload, { tx }): invisible until COMMIT, then a worker runs it; after ROLLBACK it never existed', async () => {
      const { spool, caller } = await setUp();
      spool.handle('order-emails', async (payload) => ({ emailed: (payload as { orderId: number }).orderId }));
      await spool.work({ queues: ['order-emails'] });

      await caller.begin();
      await caller.addOrder('book');
      const committed = await spool.enqueue('order-emails', { orderId: 1 }, { tx: caller.tx, idempotencyKey: 'order-1' });
      await expect(spool.getJob(committed.id)).rejects.toBeInstanceOf(JobNotFoundError);
      await caller.commit();
      expect((await spool.waitFor(committed.id, { timeoutMs: 10_000 })).result).toEqual({ emailed: 1 });

      await caller.begin();
      await caller.addOrder('lamp');
      const rolledBack = await spool.enqueue('order-emails', { orderId: 2 }, { tx: caller.tx, idempotencyKey: 'order-2' });
      await caller.rollback();
      await expect(spool.getJob(rolledBack.id)).rejects.toBeInstanceOf(JobNotFoundError);
      expect(await caller.orders()).toEqual(['book']);
      expect(await enqueuedTotal(spool, 'order-emails')).toBe(1);
      // Its idempotency key went with it: another request under that key is a new job, not a reuse error.
      expect((await spool.enqueue('order-emails', { orderId: 99 }, { idempotencyKey: 'order-2' })).replayed).toBe(false);
    });

    it('enqueueMany with tx is all-or-nothing: one failing item rejects the call and none of its jobs remain in the transaction', async () => {
      const { spool, caller } = await setUp();
      await caller.begin();
      await caller.addOrder('desk');
      const storeFailure = await outcome(() =>
        spool.enqueueMany(
          [
            { queue: 'order-emails', payload: { orderId: 1 } },
            { queue: 'not-declared', payload: { orderId: 1 } },
            { queue: 'order-emails', payload: { orderId: 1 } },
          ],
          { tx: caller.tx },
        ),
      );
      expect(storeFailure).toBeInstanceOf(QueueNotFoundError);
      const validationFailure = await outcome(() =>
        spool.enqueueMany(
          [
            { queue: 'order-emails', type: 'receipt', payload: { orderId: 2 } },
            { queue: 'order-emails', type: 'receipt', payload: { orderId: 'two' } },
          ],
          { tx: caller.tx },
        ),
      );
      expect(validationFailure).toBeInstanceOf(ValidationError);
      expect((validationFailure as ValidationError).errors[0]?.path).toBe('/jobs/1/payload/orderId');
      // The transaction is still the caller's to commit, and carries their row only.
      await caller.addOrder('chair');
      await caller.commit();
      expect(await caller.orders()).toEqual(['desk', 'chair']);
      expect(await enqueuedTotal(spool, 'order-emails')).toBe(0);
      expect((await spool.listJobs({ queue: 'order-emails' })).jobs).toEqual([]);
    });

    it('an all-or-nothing call rejects with the failing item’s own error, with tx as with atomic: true', async () => {
      const { spool, caller } = await setUp();
      const items = [
        { queue: 'order-emails', payload: { orderId: 1 } },
        { queue: 'not-declared', payload: { orderId: 1 } },
      ];
      await expect(spool.enqueueMany(items, { atomic: true })).rejects.toBeInstanceOf(QueueNotFoundError);
      await caller.begin();
      expect(await outcome(() => spool.enqueueMany(items, { tx: caller.tx }))).toBeInstanceOf(QueueNotFoundError);
      await caller.commit();
      expect(await enqueuedTotal(spool, 'order-emails')).toBe(0);
    });

    it('spool.enqueue and a job type’s enqueue with tx: a refused job (reused key, undeclared queue, invalid payload) leaves the transaction usable', async () => {
      const { spool, receipt, caller } = await setUp();
      const original = await spool.enqueue('order-emails', { orderId: 1 }, { idempotencyKey: 'k' });
      await caller.begin();
      await caller.addOrder('pen');
      expect(await outcome(() => spool.enqueue('order-emails', { orderId: 2 }, { tx: caller.tx, idempotencyKey: 'k' }))).toBeInstanceOf(
        IdempotencyKeyReusedError,
      );
      expect(await outcome(() => spool.enqueue('not-declared', {}, { tx: caller.tx }))).toBeInstanceOf(QueueNotFoundError);
      const invalid = await outcome(() => receipt.enqueue({ orderId: 'x' } as never, { tx: caller.tx }));
      expect(invalid).toBeInstanceOf(ValidationError);
      expect((invalid as ValidationError).errors[0]?.path).toBe('/payload/orderId'); // one job: no /jobs/<i> prefix
      const replay = await spool.enqueue('order-emails', { orderId: 1 }, { tx: caller.tx, idempotencyKey: 'k' });
      const typed = await receipt.enqueue({ orderId: 3 }, { tx: caller.tx });
      const plain = await spool.enqueue('order-emails', { orderId: 4 }, { tx: caller.tx });
      await expect(spool.getJob(plain.id)).rejects.toBeInstanceOf(JobNotFoundError); // still in the caller's transaction
      await caller.commit();
      expect(replay).toMatchObject({ id: original.id, replayed: true });
      expect((await spool.getJob(typed.id)).type).toBe('receipt');
      expect((await spool.getJob(plain.id)).state).toBe('queued');
      expect(await caller.orders()).toEqual(['pen']);
      expect(await enqueuedTotal(spool, 'order-emails')).toBe(3);
    });

    it('enqueueManySettled with tx: per-item results, a failed item leaves nothing, the others commit with the caller', async () => {
      const { spool, caller } = await setUp();
      const taken = await spool.enqueue('order-emails', { orderId: 0 }, { idempotencyKey: 'taken' });
      await caller.begin();
      const results = await outcome(() =>
        spool.enqueueManySettled(
          [
            { queue: 'order-emails', payload: { orderId: 1 } },
            { queue: 'not-declared', payload: { orderId: 2 } },
            { queue: 'order-emails', type: 'receipt', payload: { orderId: 'three' } },
            { queue: 'order-emails', payload: { orderId: 4 }, idempotencyKey: 'taken' },
            { queue: 'order-emails', payload: { orderId: 5 }, idempotencyKey: 'new' },
          ],
          { tx: caller.tx },
        ),
      );
      if (results instanceof Error) throw results;
      expect(results.map((r) => (r instanceof Error ? r.constructor.name : r.state))).toEqual([
        'queued',
        'QueueNotFoundError',
        'ValidationError',
        'IdempotencyKeyReusedError',
        'queued',
      ]);
      await caller.commit();
      const ids = results.flatMap((r) => (r instanceof Error ? [] : [r.id]));
      expect(ids).toHaveLength(2);
      expect((await spool.listJobs({ queue: 'order-emails' })).jobs.map((j) => j.id).sort()).toEqual([taken.id, ...ids].sort());
      expect(await enqueuedTotal(spool, 'order-emails')).toBe(3);
    });

    it('a delayed job enqueued with tx is promoted by the scheduler after COMMIT and runs', async () => {
      const { spool, caller } = await setUp();
      spool.handle('order-emails', async () => 'sent');
      await spool.work({ queues: ['order-emails'] });
      await caller.begin();
      const job = await spool.enqueue('order-emails', { orderId: 7 }, { tx: caller.tx, delaySeconds: 0.3 });
      expect(job.state).toBe('scheduled');
      await caller.commit();
      const done = await spool.waitFor(job.id, { timeoutMs: 15_000 });
      expect(done.state).toBe('completed');
    });

    it('refuses a tx that is not inside a transaction (invalid_argument) and writes nothing', async () => {
      const { spool, caller } = await setUp();
      const error = await outcome(() => spool.enqueue('order-emails', {}, { tx: caller.tx }));
      expect(error).toBeInstanceOf(InvalidArgumentError);
      expect((error as Error).message).toMatch(/not inside a transaction/);
      expect(await outcome(() => spool.enqueueMany([{ queue: 'order-emails', payload: {} }], { tx: caller.tx }))).toBeInstanceOf(InvalidArgumentError);
      expect(await enqueuedTotal(spool, 'order-emails')).toBe(0);
    });
  });
});

describe('Transactional enqueue on SQLite (tx)', () => {
  async function setUp() {
    const t = await openSqliteSpool();
    await t.spool.declareQueue('order-emails');
    const caller = await callerOf(t);
    return { ...t, db: caller.tx as Database.Database };
  }

  it('rollback: neither the row, nor the job, nor its idempotency key, nor its counters survive', async () => {
    const { spool, db } = await setUp();
    const typed = spool.defineJob({ type: 'receipt', queue: 'order-emails', schema: Type.Object({ orderId: Type.Integer() }) });

    db.exec('BEGIN IMMEDIATE');
    const orderId = Number(db.prepare('INSERT INTO orders (item) VALUES (?)').run('lamp').lastInsertRowid);
    const a = await spool.enqueueMany([{ queue: 'order-emails', payload: { orderId }, idempotencyKey: 'order-1' }], { tx: db });
    const b = await typed.enqueue({ orderId }, { tx: db });
    db.exec('ROLLBACK');

    expect(db.prepare('SELECT count(*) AS n FROM orders').get()).toEqual({ n: 0 });
    await expect(spool.getJob(a[0]!.id)).rejects.toBeInstanceOf(JobNotFoundError);
    await expect(spool.getJob(b.id)).rejects.toBeInstanceOf(JobNotFoundError);
    const [stats] = await spool.stats('order-emails');
    expect(stats!.counts.queued).toBe(0);
    expect(stats!.totals.enqueued).toBe(0);
    const fresh = await spool.enqueue('order-emails', { orderId: 999 }, { idempotencyKey: 'order-1' });
    expect(fresh.replayed).toBe(false);
  });

  it('works inside db.transaction(fn): the write is synchronous, and a throw after it rolls the job back with the rows', async () => {
    const { spool, db } = await setUp();
    let jobId = '';
    const place = db.transaction((item: string, fail: boolean) => {
      const orderId = Number(db.prepare('INSERT INTO orders (item) VALUES (?)').run(item).lastInsertRowid);
      void spool.enqueue('order-emails', { orderId }, { tx: db }).then((r) => (jobId = r.id));
      if (fail) throw new Error('payment declined');
    });
    expect(() => place('desk', true)).toThrow('payment declined');
    await new Promise((r) => setImmediate(r));
    expect(jobId).not.toBe('');
    await expect(spool.getJob(jobId)).rejects.toBeInstanceOf(JobNotFoundError);
    place('chair', false);
    await new Promise((r) => setImmediate(r));
    expect((await spool.getJob(jobId)).state).toBe('queued');
    expect(db.prepare('SELECT item FROM orders').all()).toEqual([{ item: 'chair' }]);
  });

  it('inside db.transaction(fn) a failed enqueue throws, so fn rolls back and the caller’s rows never commit without their job', async () => {
    const { spool, db } = await setUp();
    const typed = spool.defineJob({ type: 'receipt', queue: 'order-emails', schema: Type.Object({ orderId: Type.Integer() }) });
    await spool.enqueue('order-emails', { orderId: 0 }, { idempotencyKey: 'taken' });
    const failures: Array<[string, (orderId: number) => unknown, new (...args: never[]) => SpoolError]> = [
      ['undeclared queue', (orderId) => spool.enqueue('not-declared', { orderId }, { tx: db }), QueueNotFoundError],
      ['reused idempotency key', (orderId) => spool.enqueue('order-emails', { orderId }, { tx: db, idempotencyKey: 'taken' }), IdempotencyKeyReusedError],
      ['invalid payload', (orderId) => typed.enqueue({ orderId: String(orderId) } as never, { tx: db }), ValidationError],
      [
        'one bad item of a batch',
        (orderId) =>
          spool.enqueueMany(
            [
              { queue: 'order-emails', payload: { orderId } },
              { queue: 'not-declared', payload: { orderId } },
            ],
            { tx: db },
          ),
        QueueNotFoundError,
      ],
    ];
    for (const [what, enqueue, errorClass] of failures) {
      const place = db.transaction((item: string) => {
        const orderId = Number(db.prepare('INSERT INTO orders (item) VALUES (?)').run(item).lastInsertRowid);
        void enqueue(orderId);
      });
      expect(() => place(what), what).toThrow(errorClass);
    }
    expect(db.prepare('SELECT count(*) AS n FROM orders').get()).toEqual({ n: 0 });
    expect(await enqueuedTotal(spool, 'order-emails')).toBe(1);
    expect(db.inTransaction).toBe(false);
  });

  it('errors are thrown, not rejected, with a SQLite tx (and rejected without one)', async () => {
    const { spool, db } = await setUp();
    expect(() => spool.enqueue('order-emails', {}, { tx: db })).toThrow(InvalidArgumentError); // outside a transaction
    db.exec('BEGIN IMMEDIATE');
    expect(() => spool.enqueue('order-emails', undefined, { tx: db })).toThrow(/payload is required/);
    expect(() => spool.enqueueManySettled([{ queue: 'order-emails', payload: {} }], { tx: {} })).toThrow(/better-sqlite3 Database/);
    // Per-item failures of enqueueManySettled stay results.
    const settled = spool.enqueueManySettled([{ queue: 'not-declared', payload: {} }], { tx: db });
    expect((await settled)[0]).toBeInstanceOf(QueueNotFoundError);
    db.exec('ROLLBACK');
    const withoutTx = spool.enqueue('not-declared', {});
    await expect(withoutTx).rejects.toBeInstanceOf(QueueNotFoundError);
  });

  it('refuses a connection to another file — an empty one, or another Spool store’s — and writes nothing there', async () => {
    const { spool } = await setUp();
    const dir = tempDir();
    const empty = new SqliteDriver(join(dir, 'other.db'));
    onCleanup(() => {
      empty.close();
    });
    configureSqliteConnection(empty);
    empty.exec('BEGIN IMMEDIATE');
    expect(() => spool.enqueue('order-emails', {}, { tx: empty })).toThrow(/not to Spool's database/);
    empty.exec('ROLLBACK');

    const other = await openSqliteSpool();
    await other.spool.declareQueue('order-emails');
    const otherDb = (await callerOf(other)).tx as Database.Database;
    otherDb.exec('BEGIN IMMEDIATE');
    const error = (() => {
      try {
        void spool.enqueue('order-emails', { orderId: 1 }, { tx: otherDb });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(InvalidArgumentError);
    otherDb.exec('COMMIT');
    expect(await enqueuedTotal(other.spool, 'order-emails')).toBe(0);
    expect(await enqueuedTotal(spool, 'order-emails')).toBe(0);
  });

  it('accepts Spool’s file under another name (a symlink); refuses an in-memory store', async () => {
    const { spool, file, dir } = await setUp();
    const link = join(dir, 'link.db');
    symlinkSync(file, link);
    const viaLink = new SqliteDriver(link);
    onCleanup(() => {
      viaLink.close();
    });
    configureSqliteConnection(viaLink);
    viaLink.exec('BEGIN IMMEDIATE');
    const job = await spool.enqueue('order-emails', {}, { tx: viaLink });
    viaLink.exec('COMMIT');
    expect((await spool.getJob(job.id)).state).toBe('queued');

    const memory = await Spool.open('sqlite::memory:');
    onCleanup(() => memory.close());
    await memory.declareQueue('q');
    const memoryDb = new SqliteDriver(':memory:');
    onCleanup(() => {
      memoryDb.close();
    });
    memoryDb.exec('BEGIN');
    expect(() => memory.enqueue('q', {}, { tx: memoryDb })).toThrow(/in-memory store/);
  });

  it('reads synchronous back on every call: a handle lowered to NORMAL after its first use is refused', async () => {
    const { spool, db } = await setUp();
    db.exec('BEGIN IMMEDIATE');
    await spool.enqueue('order-emails', {}, { tx: db });
    db.exec('COMMIT');
    db.pragma('synchronous = NORMAL');
    db.exec('BEGIN IMMEDIATE');
    expect(() => spool.enqueue('order-emails', {}, { tx: db })).toThrow(/synchronous=1/);
    db.exec('ROLLBACK');
    expect(await enqueuedTotal(spool, 'order-emails')).toBe(1);
  });
});
