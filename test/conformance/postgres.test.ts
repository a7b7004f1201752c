/**
 * The conformance suite against the PostgreSQL driver, on the machine's PostgreSQL (TEST_DATABASE_URL,
 * default postgres://root@127.0.0.1:5432/test): a fresh schema per test (`spool_t_<random>`), dropped with
 * everything in it afterwards. Also the PostgreSQL-only checks (test/conformance/postgres/).
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ManualClock } from '../../src/core/clock.js';
import { PostgresStore } from '../../src/storage/postgres/postgres-store.js';
import type { Store } from '../../src/storage/store.js';
import type { StoreFactory } from './factory.js';
import { pgBlobSuite } from './postgres/blobs.js';
import { concurrencySuite } from './postgres/concurrency.js';
import { countersSuite } from './postgres/counters.js';
import { durabilitySuite } from './postgres/durability.js';
import { outageSuite } from './postgres/outages.js';
import { restartSuite } from './postgres/restart.js';
import { transactionalSuite } from './postgres/transactional.js';
import { wakeupSuite } from './postgres/wakeups.js';
import { blobSuite } from './suite/blobs.js';
import { cancelReplaySuite } from './suite/cancel-replay.js';
import { claimSuite } from './suite/claim.js';
import { fencingSuite } from './suite/fencing.js';
import { historySuite } from './suite/history.js';
import { idempotencySuite } from './suite/idempotency.js';
import { insertSuite } from './suite/insert.js';
import { jobHistorySuite } from './suite/job-history.js';
import { latencySuite } from './suite/latency.js';
import { leaderSuite } from './suite/leader.js';
import { leaseExpirySuite } from './suite/lease-expiry.js';
import { orderingSuite } from './suite/ordering.js';
import { rateLimitSuite } from './suite/rate-limits.js';
import { recordsSuite } from './suite/records.js';
import { retentionSuite } from './suite/retention.js';
import { retrySuite } from './suite/retry.js';
import { samplesSuite } from './suite/samples.js';
import { statsSuite } from './suite/stats.js';
import { stepsSuite } from './suite/steps.js';
import { webhookDeliverySuite } from './suite/webhook-deliveries.js';

export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';

let opened: Array<{ store: Store; schema: string }> = [];
const admin = new pg.Pool({ connectionString: TEST_DATABASE_URL, max: 2 });
admin.on('error', () => undefined);

afterEach(async () => {
  const stores = opened;
  opened = [];
  for (const { store } of stores) await store.close();
  for (const schema of new Set(stores.map((s) => s.schema))) await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
});

afterAll(async () => {
  await admin.end();
});

/**
 * Opens the store on a new schema `spool_t_<random>` (created by its migration), or on `schema` to share
 * another store's; closed and the schema dropped after the test.
 */
export async function openPostgres(opts: { clock?: ManualClock; schema?: string; migrate?: boolean; url?: string } = {}): Promise<PostgresStore> {
  const schema = opts.schema ?? `spool_t_conformance_${randomBytes(6).toString('hex')}`;
  const store = new PostgresStore({ url: opts.url ?? TEST_DATABASE_URL, schema, ...(opts.clock ? { clock: opts.clock } : {}) });
  opened.push({ store, schema });
  if (opts.migrate !== false) await store.migrate();
  return store;
}

const postgres: StoreFactory = {
  name: 'postgres',
  capabilities: { settableClock: true, transactionalEnqueue: true, multiProcess: true },
  open: openPostgres,
};

describe('store conformance: postgres', () => {
  it('the factory reports the capabilities its stores report', async () => {
    const store = await postgres.open();
    expect(store.capabilities).toEqual(postgres.capabilities);
    expect(store.kind).toBe('postgres');
  });
  insertSuite(postgres);
  idempotencySuite(postgres);
  claimSuite(postgres);
  fencingSuite(postgres);
  leaseExpirySuite(postgres);
  retrySuite(postgres);
  cancelReplaySuite(postgres);
  orderingSuite(postgres);
  retentionSuite(postgres);
  statsSuite(postgres);
  samplesSuite(postgres);
  latencySuite(postgres);
  stepsSuite(postgres);
  leaderSuite(postgres);
  historySuite(postgres);
  recordsSuite(postgres);
  rateLimitSuite(postgres);
  blobSuite(postgres);
  jobHistorySuite(postgres);
  webhookDeliverySuite(postgres, async (store) => {
    const schema = `"${(store as PostgresStore).schema}"`;
    await admin.query(`CREATE FUNCTION ${schema}.fail_deliveries() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'injected: no deliveries'; END $$;
      CREATE TRIGGER fail_deliveries BEFORE INSERT ON ${schema}.jobs FOR EACH ROW WHEN (NEW.queue = 'spool.webhooks') EXECUTE FUNCTION ${schema}.fail_deliveries()`);
    return async () => void (await admin.query(`DROP TRIGGER fail_deliveries ON ${schema}.jobs`));
  });
});

describe('PostgreSQL-only checks', () => {
  const context = { open: openPostgres, admin, databaseUrl: TEST_DATABASE_URL };
  durabilitySuite(openPostgres);
  transactionalSuite(context);
  concurrencySuite(context);
  wakeupSuite(context);
  outageSuite(context);
  countersSuite(context);
  pgBlobSuite(context);
  restartSuite();
});
