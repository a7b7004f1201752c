import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { configureSqliteConnection, JobNotFoundError, Type } from '../../src/index.js';
import { onCleanup, openSqliteSpool } from './harness.js';

// SQLite only by nature: the caller's transaction is a better-sqlite3 connection on the Spool's own file
// (PostgreSQL's `pg`-client transactions get their own tests with the driver).
async function setUp() {
  const t = await openSqliteSpool();
  await t.spool.declareQueue('order-emails');
  const db = new Database(t.file);
  onCleanup(() => {
    db.close();
  });
  configureSqliteConnection(db);
  db.exec('CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL)');
  return { ...t, db };
}

describe('Transactional enqueue on SQLite (tx)', () => {
  it('commit: the row and the job both exist and a worker runs the job', async () => {
    const { spool, db } = await setUp();
    spool.handle('order-emails', async (payload) => ({ emailed: (payload as { orderId: number }).orderId }));
    await spool.work({ queues: ['order-emails'] });

    db.exec('BEGIN IMMEDIATE');
    const orderId = Number(db.prepare('INSERT INTO orders (item) VALUES (?)').run('book').lastInsertRowid);
    const [receipt] = await spool.enqueueMany([{ queue: 'order-emails', payload: { orderId } }], { tx: db });
    // Not visible to Spool's own connection before the caller commits.
    await expect(spool.getJob(receipt!.id)).rejects.toBeInstanceOf(JobNotFoundError);
    db.exec('COMMIT');

    const job = await spool.waitFor(receipt!.id, { timeoutMs: 10_000 });
    expect(job.state).toBe('completed');
    expect(job.result).toEqual({ emailed: orderId });
    expect(db.prepare('SELECT count(*) AS n FROM orders').get()).toEqual({ n: 1 });
  });

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
    // The key was rolled back too: a different request under it is a new job, not a reuse error.
    const fresh = await spool.enqueue('order-emails', { orderId: 999 }, { idempotencyKey: 'order-1' });
    expect(fresh.replayed).toBe(false);
  });

  it('works inside db.transaction(fn): a throw rolls the job back with the rows', async () => {
    const { spool, db } = await setUp();
    let jobId = '';
    const place = db.transaction((item: string, fail: boolean) => {
      const orderId = Number(db.prepare('INSERT INTO orders (item) VALUES (?)').run(item).lastInsertRowid);
      // The insert runs synchronously on the caller's connection; the promise only reports it.
      void spool.enqueueMany([{ queue: 'order-emails', payload: { orderId } }], { tx: db }).then((r) => (jobId = r[0]!.id));
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

  it('refuses a tx that is not inside a transaction', async () => {
    const { spool, db } = await setUp();
    await expect(spool.enqueueMany([{ queue: 'order-emails', payload: {} }], { tx: db })).rejects.toMatchObject({ code: 'invalid_argument' });
    const [stats] = await spool.stats('order-emails');
    expect(stats!.totals.enqueued).toBe(0);
  });
});
