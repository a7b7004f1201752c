/**
 * The conformance suite against the SQLite driver: real database files in a fresh temporary directory per
 * test, removed afterwards. Also the SQLite-only checks (query plans, connection pragmas).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ManualClock } from '../../src/core/clock.js';
import { openStore } from '../../src/storage/open-store.js';
import { SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import type { Store } from '../../src/storage/store.js';
import type { StoreFactory } from './factory.js';
import { blobFilesSuite } from './sqlite/blob-files.js';
import { pragmasSuite } from './sqlite/pragmas.js';
import { statsQueryPlanSuite } from './sqlite/stats-query-plan.js';
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

let dir = '';
let opened: Store[] = [];
let fileNo = 0;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'spool-conformance-'));
});

afterEach(async () => {
  const stores = opened;
  opened = [];
  for (const store of stores) await store.close();
  await rm(dir, { recursive: true, force: true });
});

/** Opens `sqlite:<tmp>/store-N.db` (migrated); closed and deleted after the test. */
export async function openSqlite(opts: { clock?: ManualClock } = {}): Promise<SqliteStore> {
  const store = await openStore(`sqlite:${join(dir, `store-${++fileNo}.db`)}`, opts.clock ? { clock: opts.clock } : {});
  opened.push(store);
  if (!(store instanceof SqliteStore)) throw new Error('openStore(sqlite:…) did not return a SqliteStore');
  return store;
}

const sqlite: StoreFactory = {
  name: 'sqlite',
  capabilities: { settableClock: true, transactionalEnqueue: true, multiProcess: true },
  open: openSqlite,
};

describe('store conformance: sqlite', () => {
  it('the factory reports the capabilities its stores report', async () => {
    const store = await sqlite.open();
    expect(store.capabilities).toEqual(sqlite.capabilities);
    expect(store.kind).toBe('sqlite');
  });
  insertSuite(sqlite);
  idempotencySuite(sqlite);
  claimSuite(sqlite);
  fencingSuite(sqlite);
  leaseExpirySuite(sqlite);
  retrySuite(sqlite);
  cancelReplaySuite(sqlite);
  orderingSuite(sqlite);
  retentionSuite(sqlite);
  statsSuite(sqlite);
  samplesSuite(sqlite);
  latencySuite(sqlite);
  stepsSuite(sqlite);
  leaderSuite(sqlite);
  historySuite(sqlite);
  recordsSuite(sqlite);
  rateLimitSuite(sqlite);
  blobSuite(sqlite);
  jobHistorySuite(sqlite);
  webhookDeliverySuite(sqlite, async (store) => {
    const db = (store as SqliteStore).database;
    db.exec(`CREATE TRIGGER fail_deliveries BEFORE INSERT ON jobs WHEN NEW.queue = 'spool.webhooks' BEGIN SELECT RAISE(ABORT, 'injected: no deliveries'); END`);
    return async () => void db.exec('DROP TRIGGER fail_deliveries');
  });
});

describe('SQLite-only checks', () => {
  statsQueryPlanSuite(openSqlite);
  pragmasSuite(openSqlite);
  blobFilesSuite(openSqlite);
});
