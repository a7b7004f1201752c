/**
 * Transactional enqueue on SQLite (the outbox pattern, done natively): an order row and its job are written
 * in the caller's own transaction on the same database file. Commit → both exist and a worker runs the
 * job; rollback → neither ever existed.
 * Run: npx tsx examples/transactional-sqlite.ts
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { configureSqliteConnection, Spool } from '../src/index.js';

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

async function placeOrder(item: string, fail: boolean): Promise<string | null> {
  db.exec('BEGIN IMMEDIATE');
  try {
    const orderId = Number(db.prepare('INSERT INTO orders (item) VALUES (?)').run(item).lastInsertRowid);
    const [job] = await spool.enqueueMany([{ queue: 'order-emails', payload: { orderId } }], { tx: db });
    if (fail) throw new Error('payment declined');
    db.exec('COMMIT');
    return job!.id;
  } catch (error) {
    db.exec('ROLLBACK');
    console.log(`order for ${item} rolled back (${(error as Error).message}): no row, no job`);
    return null;
  }
}

const committed = await placeOrder('book', false);
await placeOrder('lamp', true);
const job = await spool.waitFor(committed!, { timeoutMs: 10_000 });
console.log(`committed order's job ${job.id}: ${job.state} ${JSON.stringify(job.result)}`);

await worker.stop();
db.close();
await spool.close();
