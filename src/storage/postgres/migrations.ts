/**
 * Numbered, append-only migrations for the PostgreSQL store (the same numbering as SQLite's). A shipped
 * migration never changes; add a new one. Applied at open in one transaction under
 * `pg_advisory_xact_lock`, so processes starting together do not race: the second waits and finds the
 * schema current.
 *
 * The schema mirrors SQLite's (src/storage/sqlite/migrations.ts), with these differences:
 *  - Timestamps stay BIGINT milliseconds, like SQLite, so the ManualClock and history encoding carry over.
 *  - Partial indexes keep finished jobs out of every hot index (claim, due, lease, gates).
 *  - Counters are delta rows (`counter_deltas`, one row per touched (queue, name) per transaction) folded
 *    into `queue_counters` by the leader: no single hot counter row serialises every transaction.
 *  - Ordering-key sequence numbers come from a SEQUENCE, not a counter row.
 *  - jobs and counter_deltas are vacuumed far more eagerly than PostgreSQL's defaults (see the ALTERs).
 */
import type { PgClient } from './connection.js';

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
  paused BOOLEAN NOT NULL DEFAULT false,
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL
);

CREATE TABLE jobs (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id TEXT NOT NULL,
  queue TEXT NOT NULL,
  type TEXT,
  version INTEGER NOT NULL,
  state TEXT NOT NULL,
  priority SMALLINT NOT NULL,
  prank SMALLINT NOT NULL,
  sort_at BIGINT NOT NULL,
  hold SMALLINT NOT NULL DEFAULT 0,
  run_at BIGINT NOT NULL,
  ordering_key TEXT,
  okey_seq BIGINT,
  group_key TEXT,
  correlation_id TEXT,
  attempts INTEGER NOT NULL DEFAULT 0,
  max_attempts INTEGER NOT NULL,
  lease_ms BIGINT,
  lease_token TEXT,
  lease_expires_at BIGINT,
  created_at BIGINT NOT NULL,
  started_at BIGINT,
  finished_at BIGINT,
  payload TEXT NOT NULL,
  options TEXT,
  progress TEXT,
  result TEXT,
  last_error TEXT,
  history TEXT NOT NULL
);

-- A queue table turns its rows over constantly (every claim and completion leaves a dead tuple; retention
-- deletes in bulk): vacuum it after 2% of it is dead instead of the default 20%.
ALTER TABLE jobs SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 1000,
  autovacuum_analyze_scale_factor = 0.05);

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
  WHERE ordering_key IS NOT NULL AND hold <> 1 AND state IN ('scheduled', 'queued', 'active', 'retrying');
CREATE INDEX jobs_ordering_dead ON jobs(queue, ordering_key) WHERE ordering_key IS NOT NULL AND state = 'dead';
CREATE INDEX jobs_group_slots ON jobs(queue, group_key)
  WHERE group_key IS NOT NULL AND (state = 'active' OR (state = 'queued' AND hold = 0));
CREATE INDEX jobs_group_held ON jobs(queue, group_key, prank, sort_at, seq)
  WHERE group_key IS NOT NULL AND state = 'queued' AND hold = 2;

CREATE SEQUENCE okey_seq;

CREATE TABLE queue_counters (
  queue TEXT NOT NULL,
  name TEXT NOT NULL,
  value BIGINT NOT NULL,
  PRIMARY KEY (queue, name)
);

CREATE TABLE counter_deltas (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  queue TEXT NOT NULL,
  name TEXT NOT NULL,
  delta BIGINT NOT NULL
);
CREATE INDEX counter_deltas_queue ON counter_deltas(queue);
-- Inserted by every transaction, deleted in bulk by each fold.
ALTER TABLE counter_deltas SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000);

CREATE TABLE idempotency_keys (
  queue TEXT NOT NULL,
  key TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  job_id TEXT NOT NULL,
  receipt TEXT NOT NULL,
  expires_at BIGINT NOT NULL,
  PRIMARY KEY (queue, key)
);
CREATE INDEX idempotency_expiry ON idempotency_keys(expires_at);

CREATE TABLE job_steps (
  job_id TEXT NOT NULL,
  name TEXT NOT NULL,
  value TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (job_id, name)
);

CREATE TABLE leader_leases (
  name TEXT PRIMARY KEY,
  holder TEXT NOT NULL,
  expires_at BIGINT NOT NULL
);
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
  created_at BIGINT NOT NULL,
  updated_at BIGINT NOT NULL,
  PRIMARY KEY (kind, name)
);

CREATE TABLE audit_log (
  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  at BIGINT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  target TEXT NOT NULL,
  detail TEXT
);
`,
  },
  {
    version: 3,
    name: 'rate limits',
    // As SQLite's migration 3: the limits as columns of the queue row the claim reads anyway, and token buckets.
    sql: `
ALTER TABLE queues ADD COLUMN rate_per_second DOUBLE PRECISION, ADD COLUMN group_rate_per_second DOUBLE PRECISION;
UPDATE queues SET rate_per_second = (config::jsonb #>> '{rateLimit,perSecond}')::double precision,
  group_rate_per_second = (config::jsonb #>> '{groups,rateLimit,perSecond}')::double precision;

CREATE TABLE rate_buckets (
  queue TEXT NOT NULL,
  group_key TEXT NOT NULL,
  tokens DOUBLE PRECISION NOT NULL,
  at BIGINT NOT NULL,
  PRIMARY KEY (queue, group_key)
);
`,
  },
  {
    version: 4,
    name: 'payload blobs',
    // Payloads over 256 KiB, one row per job (the job row's payload holds the reference, blob-refs.ts),
    // written and deleted in the job's own transactions. Retention deletes them in batches: vacuum them (and
    // their TOAST) as eagerly as jobs.
    sql: `
CREATE TABLE job_blobs (
  job_id TEXT PRIMARY KEY,
  data BYTEA NOT NULL
);
ALTER TABLE job_blobs SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_threshold = 50,
  toast.autovacuum_vacuum_scale_factor = 0.02, toast.autovacuum_vacuum_threshold = 50);
`,
  },
  {
    version: 5,
    name: 'queue stats samples',
    // As SQLite's migration 5: the stats sampler's record of each queue's stats every 10 s, kept 7 days.
    sql: `
CREATE TABLE queue_samples (
  queue TEXT NOT NULL,
  at BIGINT NOT NULL,
  scheduled BIGINT NOT NULL,
  queued BIGINT NOT NULL,
  active BIGINT NOT NULL,
  retrying BIGINT NOT NULL,
  completed BIGINT NOT NULL,
  dead BIGINT NOT NULL,
  cancelled BIGINT NOT NULL,
  oldest_age_ms BIGINT NOT NULL,
  total_enqueued BIGINT NOT NULL,
  total_completed BIGINT NOT NULL,
  total_failed BIGINT NOT NULL,
  total_dead BIGINT NOT NULL,
  total_cancelled BIGINT NOT NULL,
  total_replayed BIGINT NOT NULL,
  wait_buckets TEXT NOT NULL,
  wait_sum_ms BIGINT NOT NULL,
  e2e_buckets TEXT NOT NULL,
  e2e_sum_ms BIGINT NOT NULL,
  PRIMARY KEY (queue, at)
);
CREATE INDEX queue_samples_at ON queue_samples(at);
`,
  },
  {
    version: 6,
    name: 'webhook deliveries',
    // As SQLite's migration 6: the webhook's url and events as a column the completion
    // statements join (NULL without one), its rotation / disabled state, and the internal deliveries queue.
    sql: `
ALTER TABLE queues ADD COLUMN webhook TEXT, ADD COLUMN webhook_state TEXT;
UPDATE queues SET webhook = json_build_object('url', config::jsonb #>> '{webhook,url}',
    'events', coalesce(config::jsonb #> '{webhook,events}', '["completed","dead"]'::jsonb))::text
  WHERE config::jsonb #>> '{webhook,url}' IS NOT NULL;
INSERT INTO queues (name, config, paused, created_at, updated_at)
  VALUES ('spool.webhooks',
    '{"maxAttempts":1000,"leaseSeconds":15,"timeoutSeconds":120,"retention":{"completedSeconds":86400,"deadSeconds":2592000}}',
    false, (extract(epoch from now()) * 1000)::bigint, (extract(epoch from now()) * 1000)::bigint)
  ON CONFLICT (name) DO NOTHING;
`,
  },
  {
    version: 7,
    name: 'leases by queue',
    // As SQLite's migration 7: every claim probes its queue for an expired lease (in the claim statement) and
    // takes those over; idle claimers wait for the queue's earliest expiry. One index on (queue, expiry) of
    // active jobs serves both, and replaces the global one (the reaper scans the active rows once a second).
    sql: `
CREATE INDEX jobs_lease_queue ON jobs(queue, lease_expires_at) WHERE state = 'active';
DROP INDEX jobs_lease;
`,
  },
];

export const LATEST_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;

/** Apply pending migrations on `client` (the schema is created if missing). Returns the versions applied. */
export async function migrate(client: PgClient, schema: string, now: number): Promise<number[]> {
  const applied: number[] = [];
  await client.query('BEGIN');
  try {
    // One lock per schema: concurrent openers wait here, then find the schema current.
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`spool:migrate:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quote(schema)}`);
    await client.query(`CREATE TABLE IF NOT EXISTS spool_migrations (
      version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`);
    const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM spool_migrations');
    const current = Number(rows[0]?.v ?? 0);
    if (current > LATEST_SCHEMA_VERSION) {
      throw new Error(`database schema is at version ${current}, newer than this Spool knows (${LATEST_SCHEMA_VERSION}); upgrade Spool`);
    }
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      await client.query(m.sql);
      await client.query('INSERT INTO spool_migrations (version, name, applied_at) VALUES ($1, $2, $3)', [m.version, m.name, now]);
      applied.push(m.version);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
  return applied;
}

export async function schemaVersion(client: PgClient): Promise<number> {
  try {
    const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM spool_migrations');
    return Number(rows[0]?.v ?? 0);
  } catch {
    return 0;
  }
}

function quote(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
