/**
 * Numbered, append-only migrations for the SQLite store. A shipped migration never changes; add a new one.
 * Applied at open inside BEGIN IMMEDIATE, so processes opening the same file together do not race.
 *
 * Index design (the hot path must not slow down as finished jobs pile up):
 *  - jobs_claim covers only claimable rows (queued, not held by an ordering or group gate), ordered exactly as
 *    the claim reads them: (queue, prank, sort_at, seq). Scheduled, retrying, active and finished jobs are not
 *    in it at all.
 *  - jobs_due / jobs_lease are the maintenance entry points (promotion, lease reaper), also partial.
 *  - Ordering and group gates get small partial indexes (live jobs with a key only).
 */
import type { SqliteDatabase } from './connection.js';

export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial schema',
    sql: `
CREATE TABLE queues (
  name TEXT PRIMARY KEY,
  config TEXT NOT NULL,
  paused INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
) STRICT;

CREATE TABLE jobs (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL,
  queue TEXT NOT NULL,
  type TEXT,
  version INTEGER NOT NULL,
  state TEXT NOT NULL,
  priority INTEGER NOT NULL,
  prank INTEGER NOT NULL,
  sort_at INTEGER NOT NULL,
  hold INTEGER NOT NULL DEFAULT 0,
  run_at INTEGER NOT NULL,
  ordering_key TEXT,
  okey_seq INTEGER,
  group_key TEXT,
  correlation_id TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  lease_ms INTEGER,
  lease_token TEXT,
  lease_expires_at INTEGER,
  created_at INTEGER NOT NULL,
  started_at INTEGER,
  finished_at INTEGER,
  payload TEXT NOT NULL,
  options TEXT,
  progress TEXT,
  result TEXT,
  last_error TEXT,
  history TEXT NOT NULL
) STRICT;

CREATE UNIQUE INDEX jobs_id ON jobs(id);
CREATE INDEX jobs_claim ON jobs(queue, prank, sort_at, seq) WHERE state = 'queued' AND hold = 0;
CREATE INDEX jobs_waiting_age ON jobs(queue, run_at) WHERE state = 'queued';
CREATE INDEX jobs_due ON jobs(run_at) WHERE state IN ('scheduled', 'retrying');
CREATE INDEX jobs_lease ON jobs(lease_expires_at) WHERE state = 'active';
CREATE INDEX jobs_finished ON jobs(queue, finished_at) WHERE finished_at IS NOT NULL;
CREATE INDEX jobs_dead ON jobs(queue, seq) WHERE state = 'dead';
CREATE INDEX jobs_correlation ON jobs(correlation_id) WHERE correlation_id IS NOT NULL;
CREATE INDEX jobs_ordering_live ON jobs(queue, ordering_key, okey_seq)
  WHERE ordering_key IS NOT NULL AND state IN ('scheduled', 'queued', 'active', 'retrying');
CREATE INDEX jobs_ordering_heads ON jobs(queue, ordering_key)
  WHERE ordering_key IS NOT NULL AND hold != 1 AND state IN ('scheduled', 'queued', 'active', 'retrying');
CREATE INDEX jobs_ordering_dead ON jobs(queue, ordering_key) WHERE ordering_key IS NOT NULL AND state = 'dead';
CREATE INDEX jobs_group_slots ON jobs(queue, group_key)
  WHERE group_key IS NOT NULL AND (state = 'active' OR (state = 'queued' AND hold = 0));
CREATE INDEX jobs_group_held ON jobs(queue, group_key, prank, sort_at, seq)
  WHERE group_key IS NOT NULL AND state = 'queued' AND hold = 2;

CREATE TABLE queue_counters (
  queue TEXT NOT NULL,
  name TEXT NOT NULL,
  value INTEGER NOT NULL,
  PRIMARY KEY (queue, name)
) STRICT, WITHOUT ROWID;

CREATE TABLE idempotency_keys (
  queue TEXT NOT NULL,
  key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  job_id TEXT NOT NULL,
  receipt TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (queue, key)
) STRICT, WITHOUT ROWID;
CREATE INDEX idempotency_expiry ON idempotency_keys(expires_at);

CREATE TABLE job_steps (
  job_id TEXT NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  PRIMARY KEY (job_id, name)
) STRICT, WITHOUT ROWID;

CREATE TABLE spool_sequences (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) STRICT, WITHOUT ROWID;

CREATE TABLE leader_leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
`,
  },
  {
    version: 2,
    name: 'records and audit log',
    sql: `
CREATE TABLE records (
  kind TEXT NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  version INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (kind, name)
) STRICT, WITHOUT ROWID;

CREATE TABLE audit_log (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  detail TEXT
) STRICT;
`,
  },
  {
    version: 3,
    name: 'rate limits',
    // The queue's limits as columns (kept in step with config by queueUpsert), so the claim learns whether a
    // queue is rate-limited from the row it already reads; token buckets per queue ('') and per group key.
    sql: `
ALTER TABLE queues ADD COLUMN rate_per_second REAL;
ALTER TABLE queues ADD COLUMN group_rate_per_second REAL;
UPDATE queues SET rate_per_second = json_extract(config, '$.rateLimit.perSecond'),
  group_rate_per_second = json_extract(config, '$.groups.rateLimit.perSecond');

CREATE TABLE rate_buckets (
  queue TEXT NOT NULL,
  group_key TEXT NOT NULL,
  tokens REAL NOT NULL,
  at INTEGER NOT NULL,
  PRIMARY KEY (queue, group_key)
) STRICT, WITHOUT ROWID;
`,
  },
  {
    version: 4,
    name: 'payload blobs',
    // No schema change: blobs are files beside the database (blob-files.ts) and the job row's payload column
    // holds the reference. Numbered so both stores keep one numbering (PostgreSQL's 4 adds job_blobs).
    sql: `SELECT 1;`,
  },
  {
    version: 5,
    name: 'queue stats samples',
    // The stats sampler's record of each queue's maintained stats every 10 s (stats-rows.ts), read by the
    // stats time series one instant at a time through the primary key; kept 7 days.
    sql: `
CREATE TABLE queue_samples (
  queue TEXT NOT NULL,
  at INTEGER NOT NULL,
  scheduled INTEGER NOT NULL,
  queued INTEGER NOT NULL,
  active INTEGER NOT NULL,
  retrying INTEGER NOT NULL,
  completed INTEGER NOT NULL,
  dead INTEGER NOT NULL,
  cancelled INTEGER NOT NULL,
  oldest_age_ms INTEGER NOT NULL,
  total_enqueued INTEGER NOT NULL,
  total_completed INTEGER NOT NULL,
  total_failed INTEGER NOT NULL,
  total_dead INTEGER NOT NULL,
  total_cancelled INTEGER NOT NULL,
  total_replayed INTEGER NOT NULL,
  wait_buckets TEXT NOT NULL,
  wait_sum_ms INTEGER NOT NULL,
  e2e_buckets TEXT NOT NULL,
  e2e_sum_ms INTEGER NOT NULL,
  PRIMARY KEY (queue, at)
) STRICT, WITHOUT ROWID;
CREATE INDEX queue_samples_at ON queue_samples(at);
`,
  },
  {
    version: 6,
    name: 'webhook deliveries',
    // The queue's webhook as the hot path reads it (url and events; NULL without one: completions of such
    // queues read one NULL), its state (secrets rotating out, disabled by a 410), and the internal queue
    // the deliveries live in (core/webhooks.ts). Its settings suit deliveries: a short lease (extended while a
    // request runs, and a killed node's delivery comes back soon), an attempt budget the dispatcher's 3-day
    // deadline ends first, completed deliveries kept a day and failed ones 30 days in the DLQ.
    sql: `
ALTER TABLE queues ADD COLUMN webhook TEXT;
ALTER TABLE queues ADD COLUMN webhook_state TEXT;
UPDATE queues SET webhook = json_object('url', json_extract(config, '$.webhook.url'),
    'events', json(coalesce(json_extract(config, '$.webhook.events'), '["completed","dead"]')))
  WHERE json_extract(config, '$.webhook.url') IS NOT NULL;
INSERT INTO queues (name, config, paused, created_at, updated_at)
  VALUES ('spool.webhooks',
    '{"maxAttempts":1000,"leaseSeconds":15,"timeoutSeconds":120,"retention":{"completedSeconds":86400,"deadSeconds":2592000}}',
    0, CAST(strftime('%s', 'now') AS INTEGER) * 1000, CAST(strftime('%s', 'now') AS INTEGER) * 1000)
  ON CONFLICT (name) DO NOTHING;
`,
  },
  {
    version: 7,
    name: 'leases by queue',
    // Every claim takes over its queue's expired leases (lease-takeover.ts) and idle claimers wait for the
    // queue's earliest expiry: both are one seek on (queue, lease_expires_at). It replaces the global lease
    // index: the lease reaper now scans active rows (as many as there are leases held) once a second.
    sql: `
CREATE INDEX jobs_lease_queue ON jobs(queue, lease_expires_at) WHERE state = 'active';
DROP INDEX jobs_lease;
`,
  },
];

export function migrate(db: SqliteDatabase, now: number): number[] {
  db.exec(`CREATE TABLE IF NOT EXISTS spool_migrations (
    version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT`);
  const applied: number[] = [];
  db.exec('BEGIN IMMEDIATE');
  try {
    const current = (db.prepare('SELECT max(version) AS v FROM spool_migrations').get() as { v: number | null }).v ?? 0;
    const latest = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
    if (current > latest) {
      throw new Error(`database schema is at version ${current}, newer than this Spool knows (${latest}); upgrade Spool`);
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      db.exec(m.sql);
      db.prepare('INSERT INTO spool_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(m.version, m.name, now);
      applied.push(m.version);
    }
    db.exec('COMMIT');
  } catch (error) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw error;
  }
  return applied;
}

export function schemaVersion(db: SqliteDatabase): number {
  try {
    return (db.prepare('SELECT max(version) AS v FROM spool_migrations').get() as { v: number | null }).v ?? 0;
  } catch {
    return 0;
  }
}

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
