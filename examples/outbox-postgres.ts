/**
 * Transactional enqueue on PostgreSQL (the outbox pattern, done natively): an order row and its
 * confirmation-email job are written in the application's own transaction, on its own `pg` client.
 * Commit → both exist and a worker runs the job; rollback → neither ever existed.
 * Run: npx tsx examples/outbox-postgres.ts [postgres://USER@HOST/DB[?schema=NAME]]
 * (default: $TEST_DATABASE_URL or postgres://root@127.0.0.1:5432/test, schema spool_outbox_example; the
 * schema must not exist yet: the example creates it and drops it at the end.)
 */
import pg from 'pg';
import { Spool, type SpoolError, Type } from '../src/index.js';

const url = new URL(process.argv[2] ?? process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test');
const schema = url.searchParams.get('schema') ?? 'spool_outbox_example';
url.searchParams.delete('schema');
const ident = `"${schema.replace(/"/g, '""')}"`;

// The application's own pool: the same database as Spool (Spool's schema needs no place on its search_path).
const pool = new pg.Pool({ connectionString: url.toString() });
pool.on('error', (error) => console.error(`idle client: ${error.message}`)); // never crash on a dropped connection
const exists = await pool.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
if (exists.rowCount) throw new Error(`schema ${schema} already exists; pass a new one (?schema=NAME): this example drops it`);

url.searchParams.set('schema', schema);
const spool = await Spool.open(url.toString()); // creates the schema and migrates it
await spool.declareQueue('order-emails', { maxAttempts: 5 });
const confirmationEmail = spool.defineJob({
  type: 'order.confirmation-email',
  queue: 'order-emails',
  schema: Type.Object({ orderId: Type.Integer(), email: Type.String({ format: 'email' }) }),
  handler: async (payload, ctx) => {
    const messageId = await ctx.step('send', async () => `msg-${payload.orderId}`); // stand-in for a mail API
    return { messageId, to: payload.email };
  },
});
const worker = await spool.work({ queues: ['order-emails'] });

// The shop's tables. They share the example's schema so that one DROP SCHEMA cleans up; yours can live in
// any schema of the same database.
const stock = `${ident}.stock`;
const orders = `${ident}.orders`;
await pool.query(`
  CREATE TABLE ${stock} (sku text PRIMARY KEY, available integer NOT NULL CHECK (available >= 0));
  CREATE TABLE ${orders} (id serial PRIMARY KEY, sku text NOT NULL REFERENCES ${stock}, email text NOT NULL);
  INSERT INTO ${stock} VALUES ('lamp', 1)`);

const stateOf = (id: string) => spool.getJob(id).then((job) => job.state, (error: SpoolError) => error.code);

async function placeOrder(sku: string, email: string): Promise<string> {
  const client = await pool.connect();
  let orderId = 0;
  let jobId = '';
  try {
    await client.query('BEGIN'); // the application owns BEGIN and COMMIT / ROLLBACK
    const { rows } = await client.query<{ id: number }>(`INSERT INTO ${orders} (sku, email) VALUES ($1, $2) RETURNING id`, [sku, email]);
    orderId = rows[0]!.id;
    const job = await confirmationEmail.enqueue({ orderId, email }, { tx: client, idempotencyKey: `order-${orderId}` });
    jobId = job.id;
    console.log(`order ${orderId} (${sku}): job ${jobId} enqueued in the transaction; before COMMIT Spool sees: ${await stateOf(jobId)}`);
    // Anything that fails after the enqueue takes the job down with the order: here, running out of stock.
    await client.query(`UPDATE ${stock} SET available = available - 1 WHERE sku = $1`, [sku]);
    await client.query('COMMIT'); // the job exists from here on, and the NOTIFY wakes the workers
    console.log(`order ${orderId} committed → job ${jobId} is ${await stateOf(jobId)}`);
  } catch (error) {
    await client.query('ROLLBACK');
    console.log(`order ${orderId} rolled back (${(error as Error).message}) → job ${jobId} is ${await stateOf(jobId)}`);
  } finally {
    client.release();
  }
  return jobId;
}

const committed = await placeOrder('lamp', 'ada@example.com');
await placeOrder('lamp', 'grace@example.com'); // the last lamp is gone: the stock check fails after the enqueue

const done = await spool.waitFor(committed, { timeoutMs: 10_000 });
console.log(`job ${done.id} ${done.state} ${JSON.stringify(done.result)}`);
const [stats] = await spool.stats('order-emails');
const stored = await pool.query<{ id: number }>(`SELECT id FROM ${orders} ORDER BY id`);
console.log(`orders stored: ${JSON.stringify(stored.rows.map((r) => r.id))}; jobs ever enqueued on order-emails: ${stats!.totals.enqueued}`);

await worker.stop();
await spool.close();
await pool.query(`DROP SCHEMA ${ident} CASCADE`);
await pool.end();
