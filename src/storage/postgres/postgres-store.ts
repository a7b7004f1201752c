/**
 * The PostgreSQL store: several Spool processes over one database.
 *
 * Writes go through the write coalescer (group commit: everything queued while the previous transaction
 * ran shares the next one); reads run on the pool. Deadlocks and serialization failures rerun a
 * transaction; connection failures
 * surface as StoreUnavailableError and never crash the process (error listeners on the pool, every client
 * and the LISTEN connection). Wake-ups: local listeners hear this process's commits at once; other
 * processes hear them through LISTEN/NOTIFY (one NOTIFY per committed transaction, see WakeListener).
 *
 * Payloads over 256 KiB are blobs in `job_blobs` (blobs.ts), written and deleted in their jobs' transactions;
 * a claim reads the blobs of the jobs it leased in one statement after it commits.
 *
 * Clock: with a `clock` option (tests) every timestamp comes from it; without, from the database's
 * clock_timestamp(), so all nodes judge leases by one clock.
 */
import type pg from 'pg';
import { QueueNotFoundError, StoreClosedError, StoreUnavailableError } from '../../core/errors.js';
import type { Clock } from '../../core/clock.js';
import type { Job } from '../../core/job.js';
import type { QueueConfig } from '../../core/queue-config.js';
import type {
  AuditEntryInput,
  AuditPage,
  ClaimedJob,
  ExpiredLease,
  FencedResult,
  JobCancelResult,
  JobClaimManyParams,
  JobCompleteParams,
  JobExtendParams,
  JobExtendResult,
  JobFailParams,
  JobHistory,
  JobInsertManyParams,
  JobInsertResult,
  JobLeaseParams,
  JobListParams,
  JobPage,
  JobReplayParams,
  QueueRecord,
  QueueSample,
  QueueStats,
  RecordKind,
  RecordPutParams,
  RecordPutResult,
  Store,
  StoreCapabilities,
  StoreDurability,
  StoreEvent,
  StoredRecord,
  SubscribeOptions,
} from '../store.js';
import { blobRefBytes, blobsOf, resolveClaimedBlobs, withBlobRefs } from '../blob-refs.js';
import { insertBlobs, readBlobs } from './blobs.js';
import { auditBefore, auditPage, RECORD_SQL, rowToRecord, type AuditRow, type RecordRow } from '../record-rows.js';
import { asStoreError, clientConfig, createPool, isConnectFailure, isConnectionError, splitSchema } from './connection.js';
import * as records from './records.js';
import { takeOverExpiredLeases } from './lease-takeover.js';
import { cancelJobs, deleteDead, deleteExpired, deleteExpiredIdempotencyKeys, foldCounters, promoteDue, replayDead } from './job-admin.js';
import { atomicFailure, AtomicInsertError, decodeCursor, encodeCursor } from '../driver-common.js';
import { decodeHistory, rowToJob, type JobRow } from '../job-rows.js';
import { rateLimitsOf } from '../rate-limits.js';
import { QUEUE_COLUMNS, rowToQueue, type QueueRow } from './queue-rows.js';
import { encodeWebhookState, webhookStateAfterDeclare } from '../../core/webhooks.js';
import { webhookColumn } from '../webhook-deliveries.js';
import {
  claimJobs,
  completeJobs,
  extendLeases,
  failJobs,
  insertJobs,
  nowSql,
  releaseJobs,
  setProgress,
} from './job-writes.js';
import { deadOrderingKeys, ensureOrderingHead, fillGroupSlots, heldGroups } from './gates.js';
import { LATEST_SCHEMA_VERSION, migrate } from './migrations.js';
import type { TxContext } from './tx-context.js';
import { insertInCallerTx } from './caller-tx.js';
import { readQueueStats } from './queue-stats.js';
import { deleteExpiredSamples, insertSamples, samplesAt } from './queue-samples.js';
import { WakeListener } from './wake-listener.js';
import { PgWriteCoalescer } from './write-coalescer.js';

export interface PostgresStoreOptions {
  /** `postgres://…`; a `?schema=name` parameter selects the schema (default `public`). */
  readonly url: string;
  /** Overrides the URL's `schema` parameter. */
  readonly schema?: string;
  readonly clock?: Clock;
  /** Pool size (default 10). */
  readonly poolSize?: number;
  /** Polling interval of the wake-up fallback while the LISTEN connection is down (default 1000). */
  readonly pollIntervalMs?: number;
  /** Least time between VACUUMs run by retention when the server's autovacuum is off (default 60 s). */
  readonly vacuumIntervalMs?: number;
}


/** Inserted jobs between the store's own ANALYZEs when the server's autovacuum is off. */
const ANALYZE_EVERY_INSERTS = 10_000;

export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  readonly capabilities: StoreCapabilities = { settableClock: true, transactionalEnqueue: true, multiProcess: true };
  readonly description: string;
  readonly schema: string;
  readonly #pool: pg.Pool;
  readonly #clock: Clock | null;
  readonly #channel: string;
  readonly #listeners = new Set<(e: StoreEvent) => void>();
  /** Listeners that also hear this process's state changes (`subscribe(…, { transitions: true })`). */
  readonly #transitionListeners = new Set<(e: StoreEvent) => void>();
  readonly #wake: WakeListener;
  readonly #clientConfig: pg.ClientConfig;
  readonly #writer: PgWriteCoalescer;
  #closed = false;
  readonly #vacuumIntervalMs: number;
  #lastVacuumAt = 0;
  /** Jobs inserted since this store last ran ANALYZE itself (only when the server's autovacuum is off). */
  #insertedSinceAnalyze = 0;
  #analyzing = false;
  /** ANALYZEs run by this store because the server's autovacuum (and so auto-analyze) is off. */
  analyzes = 0;
  /** VACUUMs run by this store because the server's autovacuum is off (tests, diagnostics). */
  vacuums = 0;
  /** Connection errors seen on idle clients (logged by no one; counted for diagnostics and tests). */
  readonly errors = { idleClient: 0, lastMessage: '' };

  constructor(options: PostgresStoreOptions) {
    const { connectionString, schema } = splitSchema(options.url);
    this.schema = options.schema ?? schema ?? 'public';
    const url = new URL(connectionString);
    this.description = `postgres://${url.host}${url.pathname}?schema=${this.schema}`;
    this.#clock = options.clock ?? null;
    this.#vacuumIntervalMs = options.vacuumIntervalMs ?? 60_000;
    // One channel per schema; identifiers are at most 63 bytes.
    this.#channel = `spool_wake:${this.schema}`.slice(0, 63);
    const onError = (error: Error): void => {
      this.errors.idleClient++;
      this.errors.lastMessage = error.message;
    };
    const connection = { connectionString, schema: this.schema, ...(options.poolSize ? { max: options.poolSize } : {}) };
    this.#pool = createPool(connection, onError);
    this.#clientConfig = clientConfig(connection);
    this.#writer = new PgWriteCoalescer({
      pool: this.#pool,
      nowSql: () => nowSql(this.#clock ? String(Math.trunc(this.#clock.now())) : 'NULL'),
      channel: this.#channel,
      onCommit: (ctx) => this.#afterCommit(ctx),
    });
    this.#wake = new WakeListener({
      clientConfig: this.#clientConfig,
      channel: this.#channel,
      emit: (event) => this.#emit(event),
      onError,
      ...(options.pollIntervalMs ? { pollMs: options.pollIntervalMs } : {}),
    });
  }

  /** Transactions and operations committed by the write coalescer (benchmark and tests). */
  get writerStats(): { transactions: number; operations: number; busyRetries: number } {
    return this.#writer.stats;
  }

  /** The LISTEN connection is up (diagnostics and tests). */
  get listening(): boolean {
    return this.#wake.listening;
  }

  async durability(): Promise<StoreDurability> {
    const rows = await this.#read<{ sc: string; fsync: string }>(
      `SELECT current_setting('synchronous_commit') AS sc, current_setting('fsync') AS fsync`,
    );
    return { synchronousCommit: rows[0]!.sc, fsync: rows[0]!.fsync, path: null };
  }

  async migrate(): Promise<{ applied: number[] }> {
    this.#assertOpen();
    const client = await this.#connect();
    try {
      const now = await this.clockNow();
      return { applied: await migrate(client, this.schema, now) };
    } catch (error) {
      throw asStoreError(error);
    } finally {
      client.release();
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#writer.drain();
    this.#closed = true;
    this.#writer.close();
    this.#listeners.clear();
    this.#transitionListeners.clear();
    await this.#wake.stop();
    await this.#pool.end();
  }

  async ping(): Promise<void> {
    const [table] = await this.#read<{ found: boolean }>(`SELECT to_regclass('spool_migrations') IS NOT NULL AS found`);
    const [row] = table?.found ? await this.#read<{ version: number | null }>('SELECT max(version) AS version FROM spool_migrations') : [];
    if (Number(row?.version ?? 0) < LATEST_SCHEMA_VERSION) throw new StoreUnavailableError('migrations not applied');
  }

  async clockNow(): Promise<number> {
    if (this.#clock) return this.#clock.now();
    const rows = await this.#read<{ now: number }>(`SELECT ${nowSql('NULL')} AS now`);
    return Number(rows[0]!.now);
  }

  // ── records and audit log ─────────────────────────────────────────────────────────────────────────────

  recordPut(params: RecordPutParams): Promise<RecordPutResult> {
    return this.#tx((ctx) => records.recordPut(ctx, params));
  }

  async recordGet(params: { kind: RecordKind; name: string }): Promise<StoredRecord | null> {
    const [row] = await this.#read<RecordRow>(RECORD_SQL.get, [params.kind, params.name]);
    return row ? rowToRecord(row) : null;
  }

  async recordList(params: { kind: RecordKind }): Promise<StoredRecord[]> {
    return (await this.#read<RecordRow>(RECORD_SQL.list, [params.kind])).map(rowToRecord);
  }

  recordDelete(params: { kind: RecordKind; name: string }): Promise<boolean> {
    return this.#tx((ctx) => records.recordDelete(ctx, params.kind, params.name));
  }

  auditAppend(params: { entries: readonly AuditEntryInput[] }): Promise<void> {
    return this.#tx((ctx) => records.auditAppend(ctx, params.entries));
  }

  async auditList(params: { limit: number; cursor?: string | null }): Promise<AuditPage> {
    return auditPage(await this.#read<AuditRow>(RECORD_SQL.auditPage, [auditBefore(params.cursor), params.limit + 1]), params.limit);
  }

  /** Fold counter delta rows into the totals (the leader's counter folder calls this every second). */
  async counterFold(params: { limit: number }): Promise<number> {
    return this.#tx((ctx) => foldCounters(ctx, params.limit));
  }

  // ── queues ────────────────────────────────────────────────────────────────────────────────────────────

  queueUpsert(params: { name: string; config: QueueConfig }): Promise<{ created: boolean; queue: QueueRecord }> {
    return this.#tx(async (ctx) => {
      // The webhook state follows from the row before (a rotated secret keeps signing for its window).
      const before = await ctx.queryOne<QueueRow>(`SELECT ${QUEUE_COLUMNS} FROM queues WHERE name = $1 FOR UPDATE`, [params.name]);
      const hookState = webhookStateAfterDeclare(before ? rowToQueue(before) : null, params.config, ctx.now);
      const row = await ctx.queryOne<QueueRow & { created: boolean }>(
        `INSERT INTO queues (name, config, paused, created_at, updated_at, rate_per_second, group_rate_per_second, webhook, webhook_state)
         VALUES ($1, $2, false, $3, $3, $4, $5, $6, $7)
         ON CONFLICT (name) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at,
           rate_per_second = excluded.rate_per_second, group_rate_per_second = excluded.group_rate_per_second,
           webhook = excluded.webhook, webhook_state = excluded.webhook_state
         RETURNING ${QUEUE_COLUMNS}, (xmax = 0) AS created`,
        [
          params.name,
          JSON.stringify(params.config),
          ctx.now,
          rateLimitsOf(params.config).queue,
          rateLimitsOf(params.config).group,
          webhookColumn(params.config),
          encodeWebhookState(hookState),
        ],
      );
      if (!row!.created) {
        // A raised or removed group limit, or onDead switched to continue, may open gates right away.
        for (const group of await heldGroups(ctx, params.name)) await fillGroupSlots(ctx, params.name, group, params.config);
        for (const key of await deadOrderingKeys(ctx, params.name)) await ensureOrderingHead(ctx, params.name, key, params.config);
        ctx.wake(params.name);
      }
      return { created: row!.created, queue: rowToQueue(row!) };
    });
  }

  async queueGet(name: string): Promise<QueueRecord | null> {
    const rows = await this.#read<QueueRow>(`SELECT ${QUEUE_COLUMNS} FROM queues WHERE name = $1`, [name]);
    return rows[0] ? rowToQueue(rows[0]) : null;
  }

  async queueList(): Promise<QueueRecord[]> {
    return (await this.#read<QueueRow>(`SELECT ${QUEUE_COLUMNS} FROM queues ORDER BY name`)).map(rowToQueue);
  }

  queueWebhookDisable(params: { name: string; url: string; reason: string }): Promise<boolean> {
    return this.#tx(async (ctx) => {
      const row = await ctx.queryOne<QueueRow>(`SELECT ${QUEUE_COLUMNS} FROM queues WHERE name = $1 FOR UPDATE`, [params.name]);
      const queue = row ? rowToQueue(row) : null;
      if (!queue || queue.config.webhook?.url !== params.url || queue.webhookState?.disabledAt) return false;
      const state = { previousSecrets: [], ...queue.webhookState, disabledAt: new Date(ctx.now), disabledReason: params.reason };
      await ctx.query('UPDATE queues SET webhook_state = $1 WHERE name = $2', [encodeWebhookState(state), params.name]);
      return true;
    });
  }

  queueSetPaused(params: { name: string; paused: boolean }): Promise<QueueRecord | null> {
    return this.#tx(async (ctx) => {
      const row = await ctx.queryOne<QueueRow>(`UPDATE queues SET paused = $1, updated_at = $2 WHERE name = $3 RETURNING ${QUEUE_COLUMNS}`, [
        params.paused,
        ctx.now,
        params.name,
      ]);
      if (!row) return null;
      if (!params.paused) ctx.wake(params.name);
      return rowToQueue(row);
    });
  }

  /** Folded totals plus the sum of unfolded delta rows; the oldest waiting job per queue from its index. */
  async queueStatsGet(params: { queues?: readonly string[] }): Promise<QueueStats[]> {
    const names = params.queues ? [...params.queues] : (await this.#read<{ name: string }>('SELECT name FROM queues ORDER BY name')).map((r) => r.name);
    return readQueueStats((sql, args) => this.#read(sql, args), names, this.#clock?.now() ?? null);
  }

  queueSampleInsertMany(params: { samples: readonly QueueStats[] }): Promise<{ at: number }> {
    return this.#tx(async (ctx) => {
      await insertSamples(ctx, params.samples);
      return { at: ctx.now };
    });
  }

  queueSampleListAt(params: { queue: string; at: readonly number[]; lookbackMs: number }): Promise<Array<QueueSample | null>> {
    return samplesAt((sql, args) => this.#read(sql, args), params.queue, params.at, params.lookbackMs);
  }

  queueSampleDeleteExpired(params: { olderThanMs: number; limit: number }): Promise<number> {
    return this.#tx((ctx) => deleteExpiredSamples(ctx, params.olderThanMs, params.limit));
  }

  // ── jobs: hot path ────────────────────────────────────────────────────────────────────────────────────

  async jobInsertMany(params: JobInsertManyParams): Promise<JobInsertResult[]> {
    const atomic = params.atomic ?? false;
    if (params.tx !== undefined) return this.#insertInCallerTx(params.tx, params);
    if (params.jobs.length === 0) return [];
    try {
      const blobs = blobsOf(params.jobs);
      const jobs = withBlobRefs(params.jobs, blobs);
      const results = await this.#tx(async (ctx) => {
        const r = await insertJobs(ctx, jobs, atomic);
        if (blobs.size > 0) await insertBlobs(ctx, jobs, r, blobs); // in the jobs' transaction: no orphan, ever
        return r;
      });
      this.#insertedSinceAnalyze += params.jobs.length;
      if (this.#insertedSinceAnalyze >= ANALYZE_EVERY_INSERTS) void this.#analyzeIfNoAutovacuum();
      return results;
    } catch (error) {
      if (error instanceof AtomicInsertError) return atomicFailure(params, error);
      throw error;
    }
  }

  /**
   * Without autovacuum there is no auto-analyze either: a queue filled from empty keeps "empty table"
   * planner statistics, and the claim and completion plans degrade with the backlog (W3 on a fresh 50k-job
   * schema: 4.4k jobs/s as is, 10.1k after one ANALYZE). So when the server's autovacuum is off, the store
   * analyzes the jobs table itself every ANALYZE_EVERY_INSERTS inserted jobs, in the background.
   */
  async #analyzeIfNoAutovacuum(): Promise<void> {
    if (this.#analyzing || this.#closed) return;
    this.#analyzing = true;
    this.#insertedSinceAnalyze = 0;
    try {
      const [row] = await this.#read<{ on: string }>(`SELECT current_setting('autovacuum') AS on`);
      if (row?.on === 'on') return;
      await this.#read('ANALYZE jobs');
      this.analyzes++;
    } catch (error) {
      this.errors.lastMessage = `ANALYZE: ${(error as Error).message}`;
    } finally {
      this.#analyzing = false;
    }
  }

  /** Transactional enqueue on the caller's `pg` client inside their BEGIN … COMMIT (see caller-tx.ts). */
  #insertInCallerTx(tx: unknown, params: JobInsertManyParams): Promise<JobInsertResult[]> {
    this.#assertOpen();
    return insertInCallerTx(tx, params, { schema: this.schema, clockNow: this.#clock?.now() ?? null, channel: this.#channel });
  }

  /** Through the coalescer: a claim commits with or after the completions issued before it. */
  jobClaimMany(params: JobClaimManyParams): Promise<ClaimedJob[]> {
    if (params.max <= 0) return Promise.resolve([]);
    return this.#tx((ctx) => claimJobs(ctx, params, this, takeOverExpiredLeases)).then((jobs) => {
      // The claim statement writes its counter deltas itself (not through ctx): say so to transition listeners.
      if (jobs.length > 0) this.#emit({ queues: [], transitions: true }, this.#transitionListeners);
      // Blob payloads: one read for the whole claim, after it committed (the jobs are active: nothing deletes them).
      return resolveClaimedBlobs(jobs, (ids) => readBlobs((sql, args) => this.#read(sql, args), ids), (failed) => this.jobFailMany({ jobs: failed }));
    });
  }

  jobCompleteMany(params: { jobs: readonly JobCompleteParams[] }): Promise<FencedResult[]> {
    return this.#tx((ctx) => completeJobs(ctx, params.jobs));
  }

  jobFailMany(params: { jobs: readonly JobFailParams[] }): Promise<FencedResult[]> {
    return this.#tx((ctx) => failJobs(ctx, params.jobs));
  }

  jobReleaseMany(params: { jobs: readonly JobLeaseParams[] }): Promise<FencedResult[]> {
    return this.#tx((ctx) => releaseJobs(ctx, params.jobs));
  }

  jobExtendMany(params: { jobs: readonly JobExtendParams[] }): Promise<JobExtendResult[]> {
    return this.#tx((ctx) => extendLeases(ctx, params.jobs));
  }

  jobProgressSet(params: JobLeaseParams & { progressJson: string }): Promise<FencedResult> {
    return this.#tx((ctx) => setProgress(ctx, params));
  }

  // ── jobs: operators ───────────────────────────────────────────────────────────────────────────────────

  jobCancelMany(params: { ids: readonly string[] }): Promise<JobCancelResult[]> {
    return this.#tx((ctx) => cancelJobs(ctx, params.ids));
  }

  async jobReplayDead(params: JobReplayParams): Promise<{ count: number; ids: string[] }> {
    if (!(await this.queueGet(params.queue))) throw new QueueNotFoundError(params.queue);
    return this.#tx((ctx) => replayDead(ctx, params));
  }

  jobDeleteDead(params: { queue: string; id: string }): Promise<boolean> {
    return this.#tx((ctx) => deleteDead(ctx, params.queue, params.id));
  }

  async jobGetMany(params: { ids: readonly string[] }): Promise<Job[]> {
    if (params.ids.length === 0) return [];
    const rows = await this.#read<JobRow>('SELECT * FROM jobs WHERE id = ANY($1::text[])', [[...params.ids]]);
    const byId = new Map(rows.map((r) => [r.id, r]));
    const jobs: Job[] = [];
    for (const id of params.ids) {
      const row = byId.get(id);
      if (row) jobs.push(rowToJob(row));
    }
    return jobs;
  }

  async jobHistoryGetMany(params: { ids: readonly string[] }): Promise<JobHistory[]> {
    if (params.ids.length === 0) return [];
    const rows = await this.#read<{ id: string; queue: string; state: JobHistory['state']; history: string }>(
      'SELECT id, queue, state, history FROM jobs WHERE id = ANY($1::text[])',
      [[...params.ids]],
    );
    return rows.map((r) => ({ id: r.id, queue: r.queue, state: r.state, history: decodeHistory(r.history) }));
  }

  async jobPayloadGet(params: { id: string }): Promise<Buffer | null> {
    const [row] = await this.#read<{ payload: string; data: Buffer | null }>(
      'SELECT j.payload, b.data FROM jobs j LEFT JOIN job_blobs b ON b.job_id = j.id WHERE j.id = $1',
      [params.id],
    );
    if (!row) return null;
    const bytes = blobRefBytes(row.payload);
    if (bytes === null) return Buffer.from(row.payload, 'utf8');
    if (!row.data || row.data.length !== bytes) throw new Error(`payload blob of job ${params.id} is ${row.data ? 'damaged' : 'missing'}`);
    return row.data;
  }

  async jobList(params: JobListParams): Promise<JobPage> {
    const where: string[] = [];
    const args: unknown[] = [];
    const filters: Array<[string, unknown]> = [
      ['queue', params.queue],
      ['state', params.state],
      ['type', params.type],
      ['correlation_id', params.correlationId],
    ];
    for (const [column, value] of filters) {
      if (value === undefined) continue;
      args.push(value);
      where.push(`${column} = $${args.length}`);
    }
    if (params.cursor) {
      args.push(decodeCursor(params.cursor));
      where.push(`seq < $${args.length}`);
    }
    const limit = Math.max(1, Math.min(1000, params.limit));
    args.push(limit + 1);
    const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT $${args.length}`;
    const rows = await this.#read<JobRow>(sql, args);
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { jobs: page.map(rowToJob), nextCursor: rows.length > limit && last ? encodeCursor(Number(last.seq)) : null };
  }

  // ── maintenance ───────────────────────────────────────────────────────────────────────────────────────

  async jobExpiredLeaseList(params: { limit: number }): Promise<ExpiredLease[]> {
    const rows = await this.#read<{
      id: string;
      queue: string;
      type: string | null;
      correlation_id: string | null;
      lease_token: string;
      attempts: number;
      max_attempts: number;
      options: string | null;
    }>(
      `SELECT id, queue, type, correlation_id, lease_token, attempts, max_attempts, options FROM jobs
       WHERE state = 'active' AND lease_expires_at < ${nowSql('$1')} ORDER BY lease_expires_at LIMIT $2`,
      [this.#clock?.now() ?? null, params.limit],
    );
    return rows.map((r) => ({
      id: r.id,
      queue: r.queue,
      type: r.type,
      correlationId: r.correlation_id,
      leaseToken: r.lease_token,
      attempt: Number(r.attempts),
      maxAttempts: Number(r.max_attempts),
      optionsJson: r.options,
    }));
  }

  async jobLeaseNextExpiryMs(params: { queue: string }): Promise<number | null> {
    const rows = await this.#read<{ ms: number | null }>(
      `SELECT CASE WHEN t IS NOT NULL THEN greatest(0, t - ${nowSql('$2')}) END AS ms
       FROM (SELECT min(lease_expires_at) AS t FROM jobs WHERE queue = $1 AND state = 'active') AS e`,
      [params.queue, this.#clock?.now() ?? null],
    );
    const ms = rows[0]?.ms;
    return ms == null ? null : Number(ms);
  }

  jobPromoteDue(params: { limit: number }): Promise<{ count: number; queues: string[] }> {
    return this.#tx((ctx) => promoteDue(ctx, params.limit));
  }

  async jobNextDueAt(): Promise<number | null> {
    const rows = await this.#read<{ t: number | null }>(`SELECT min(run_at) AS t FROM jobs WHERE state IN ('scheduled', 'retrying')`);
    const t = rows[0]?.t;
    return t == null ? null : Number(t);
  }

  /** Retention (run by the leader's cleaner, every minute by default). */
  async jobDeleteExpired(params: { limit: number }): Promise<number> {
    const deleted = await this.#tx((ctx) => deleteExpired(ctx, params.limit));
    // The last batch of a cleaner run (fewer than asked for): vacuum if the server will not.
    if (deleted < params.limit) await this.#vacuumIfNoAutovacuum();
    return deleted;
  }

  /**
   * Every claim, completion and retention delete leaves a dead tuple; autovacuum reclaims them (eagerly:
   * see the migration). A server running with `autovacuum = off` (this project's shared test server does)
   * would bloat the queue tables without bound, so then the leader's cleaner runs a plain VACUUM itself, at
   * most every `vacuumIntervalMs`. Plain VACUUM takes no lock that blocks reads or writes.
   */
  async #vacuumIfNoAutovacuum(): Promise<void> {
    const now = Date.now();
    if (now - this.#lastVacuumAt < this.#vacuumIntervalMs) return;
    this.#lastVacuumAt = now;
    try {
      const [row] = await this.#read<{ on: string }>(`SELECT current_setting('autovacuum') AS on`);
      if (row?.on === 'on') return;
      await this.#read('VACUUM (ANALYZE) jobs, counter_deltas, idempotency_keys, job_blobs, queue_samples');
      this.vacuums++;
    } catch (error) {
      this.errors.lastMessage = `VACUUM: ${(error as Error).message}`;
    }
  }

  idempotencyDeleteExpired(params: { limit: number }): Promise<number> {
    return this.#tx((ctx) => deleteExpiredIdempotencyKeys(ctx, params.limit));
  }

  /** Blobs are written and deleted in their jobs' transactions: there are no orphans to sweep. */
  blobDeleteOrphans(): Promise<number> {
    return Promise.resolve(0);
  }

  async jobStepList(params: { jobId: string }): Promise<Map<string, string>> {
    const rows = await this.#read<{ name: string; value: string }>('SELECT name, value FROM job_steps WHERE job_id = $1', [params.jobId]);
    return new Map(rows.map((r) => [r.name, r.value]));
  }

  async jobStepSet(params: { jobId: string; name: string; valueJson: string }): Promise<void> {
    await this.#read(
      `INSERT INTO job_steps (job_id, name, value, created_at) VALUES ($1, $2, $3, ${nowSql('$4')}) ON CONFLICT (job_id, name) DO NOTHING`,
      [params.jobId, params.name, params.valueJson, this.#clock?.now() ?? null],
    );
  }

  async leaderAttempt(params: { name: string; holder: string; ttlMs: number }): Promise<boolean> {
    const rows = await this.#read(
      `WITH t AS MATERIALIZED (SELECT ${nowSql('$4')} AS now)
       INSERT INTO leader_leases (name, holder, expires_at) SELECT $1, $2, t.now + $3 FROM t
       ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
       WHERE leader_leases.holder = excluded.holder OR leader_leases.expires_at < excluded.expires_at - $3
       RETURNING 1`,
      [params.name, params.holder, params.ttlMs, this.#clock?.now() ?? null],
    );
    return rows.length === 1;
  }

  async leaderResign(params: { name: string; holder: string }): Promise<void> {
    await this.#read('DELETE FROM leader_leases WHERE name = $1 AND holder = $2', [params.name, params.holder]);
  }

  // ── wake-ups ──────────────────────────────────────────────────────────────────────────────────────────

  subscribe(listener: (event: StoreEvent) => void, options: SubscribeOptions = {}): () => void {
    this.#listeners.add(listener);
    if (options.transitions) this.#transitionListeners.add(listener);
    if (!this.#closed) this.#wake.start();
    return () => {
      this.#listeners.delete(listener);
      this.#transitionListeners.delete(listener);
      if (this.#listeners.size === 0) void this.#wake.stop();
    };
  }

  /**
   * Only commits that made jobs claimable NOTIFY other processes; the rest (claims, completions) are heard in
   * this process alone, by `transitions` listeners: a NOTIFY on every commit would serialise commits on
   * PostgreSQL's notification queue lock.
   */
  #afterCommit(ctx: TxContext): void {
    if (this.#listeners.size === 0) return;
    if (ctx.wakeQueues.size > 0) this.#emit({ queues: [...ctx.wakeQueues] });
    // Every transition moves a state counter; a commit that moved none changed no job's state.
    else if (ctx.deltas.size > 0 && this.#transitionListeners.size > 0) this.#emit({ queues: [], transitions: true }, this.#transitionListeners);
  }

  #emit(event: StoreEvent, listeners: ReadonlySet<(e: StoreEvent) => void> = this.#listeners): void {
    for (const l of listeners) {
      try {
        l(event);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  // ── plumbing ──────────────────────────────────────────────────────────────────────────────────────────

  async #connect(): Promise<pg.PoolClient> {
    this.#assertOpen();
    try {
      return await this.#pool.connect();
    } catch (error) {
      throw asStoreError(error);
    }
  }

  /**
   * One statement outside an explicit transaction. Run once more on a fresh connection when the first
   * one turns out dead (a pooled client killed while idle); every statement sent here is safe to repeat.
   */
  async #read<R extends object>(sql: string, params: unknown[] = []): Promise<R[]> {
    this.#assertOpen();
    for (let attempt = 0; ; attempt++) {
      try {
        return (await this.#pool.query<R>(sql, params)).rows;
      } catch (error) {
        if (attempt < 2 && isConnectionError(error) && !isConnectFailure(error)) continue;
        throw asStoreError(error);
      }
    }
  }

  /** Run `op` in the write coalescer's next transaction (group commit). */
  #tx<T>(op: (ctx: TxContext) => Promise<T>): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreClosedError());
    return this.#writer.run(op);
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreClosedError();
  }
}

