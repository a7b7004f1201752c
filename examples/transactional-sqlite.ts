/**
 * Transactional enqueue on SQLite (the outbox pattern, done natively): an order row and its job are written
 * in the caller's own transaction on the same database file. Commit → both exist and a worker runs the
 * job; rollback → neither ever existed. With a SQLite `tx` the enqueue is synchronous and a failure is thrown,
 * so it also works inside better-sqlite3's `db.transaction(fn)`: a failed enqueue rolls the order back too.
 * Run: npx tsx examples/transactional-sqlite.ts
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { configureSqliteConnection, Spool, type SpoolError } from '../src/index.js';

mkdirSync('./.spool', { recursive: true });
const file = './.spool/orders-example.db';
const spool = await Spool.open(`sqlite:${file}`);
await spool.declareQueue('order-emails');
spool.handle('order-emails', async (payload) => ({ emailed: (payload as { orderId: number }).orderId }));
const worker = await spool.work({ queues: ['order-emails'] });

// The application's own connection to the same file (WAL, synchronous=FULL — configureSqliteConnection checks).
const db = new Database(file);
configureSqliteConnection(db);
db.exec('CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, item TEXT NOT NULL)');
const countOrders = db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM orders WHERE item = ?');

async function placeOrder(item: string, fail: boolean): Promise<string | null> {
  db.exec('BEGIN IMMEDIATE');
  try {
    const orderId = Number(db.prepare('INSERT INTO orders (item) VALUES (?)').run(item).lastInsertRowid);
    const job = await spool.enqueue('order-emails', { orderId }, { tx: db });
    if (fail) throw new Error('payment declined');
    db.exec('COMMIT');
    return job.id;
  } catch (error) {
    db.exec('ROLLBACK');
    console.log(`order for ${item} rolled back (${(error as Error).message}): no row, no job`);
    return null;
  }
}

const committed = await placeOrder('book', false);
await placeOrder('lamp', true);

// better-sqlite3's own transactions cannot await: a failed enqueue throws out of fn, which rolls back.
const placeSync = db.transaction((item: string, queue: string) => {
  const orderId = Number(db.prepare('INSERT INTO orders (item) VALUES (?)').run(item).lastInsertRowid);
  void spool.enqueue(queue, { orderId }, { tx: db });
});
try {
  placeSync('desk', 'order-emial'); // a typo: that queue is not declared
} catch (error) {
  console.log(`db.transaction: enqueue failed (${(error as SpoolError).code}), desk orders stored: ${countOrders.get('desk')!.n}`);
}

const job = await spool.waitFor(committed!, { timeoutMs: 10_000 });
console.log(`committed order's job ${job.id}: ${job.state} ${JSON.stringify(job.result)}`);

await worker.stop();
db.close();
await spool.close();
