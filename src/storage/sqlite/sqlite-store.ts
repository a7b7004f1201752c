/**
 * The SQLite store: embedded, zero set-up, durable (WAL + synchronous=FULL).
 *
 * Writes go through the WriteCoalescer (one transaction and one fsync per event-loop turn, per-operation
 * savepoints); reads run directly on the same connection and see committed data. A second process may open
 * the same file: writers take turns on SQLite's write lock (BUSY is retried asynchronously) and each process
 * notices the other's commits through PRAGMA data_version, polled cheaply while anyone is subscribed.
 *
 * Payloads over 256 KiB live in files beside the database (blob-files.ts), written durably before their
 * jobs' transaction; claims read them back in one batch per claim.
 */
import { QueueNotFoundError, StoreClosedError, StoreUnavailableError } from '../../core/errors.js';
import type { Job } from '../../core/job.js';
import type { QueueConfig } from '../../core/queue-config.js';
import { systemClock, type Clock } from '../../core/clock.js';
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
import { BlobFiles } from './blob-files.js';
import { CallerTxInserter } from './caller-tx.js';
import { Conn, configureConnection, isBusyError, openDatabase, readDurability, type SqliteDatabase } from './connection.js';
import { deleteDead, deleteExpired, deleteExpiredIdempotencyKeys, cancelJobs, promoteDue, replayDead } from './job-admin.js';
import { atomicFailure, AtomicInsertError, decodeCursor, encodeCursor } from '../driver-common.js';
import { decodeHistory, rowToJob, type JobRow } from '../job-rows.js';
import {
  claimJobs,
  completeJobs,
  extendLeases,
  failJobs,
  hasClaimable,
  insertJobs,
  releaseJobs,
  setProgress,
} from './job-writes.js';
import { deadOrderingKeys, ensureOrderingHead, fillGroupSlots, heldGroups } from './gates.js';
import { hasExpiredLease, nextLeaseExpiryMs, takeOverExpiredLeases } from './lease-takeover.js';
import { migrate, schemaVersion, LATEST_SCHEMA_VERSION } from './migrations.js';
import * as records from './records.js';
import { QUEUE_COLUMNS, queueRow, rowToQueue, type QueueRow } from './queue-rows.js';
import { encodeWebhookState, webhookStateAfterDeclare } from '../../core/webhooks.js';
import { webhookColumn } from '../webhook-deliveries.js';
import { type TxContext, WriteCoalescer } from './write-coalescer.js';
import { rateLimitsOf } from '../rate-limits.js';
import { statsFromCounters } from '../stats-rows.js';
import { deleteExpiredSamples, insertSamples, samplesAt } from './queue-samples.js';

export interface SqliteStoreOptions {
  /** File path (or ':memory:' for throwaway tests only; not durable). */
  readonly path: string;
  readonly clock?: Clock;
  /** How often to look for commits by other connections while subscribed. */
  readonly watchIntervalMs?: number;
}

export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  readonly capabilities: StoreCapabilities;
  readonly description: string;
  readonly path: string;
  readonly #db: SqliteDatabase;
  readonly #conn: Conn;
  readonly #clock: Clock;
  readonly #writer: WriteCoalescer;
  readonly #listeners = new Set<(e: StoreEvent) => void>();
  /** Listeners that also hear this process's state changes (`subscribe(…, { transitions: true })`). */
  readonly #transitionListeners = new Set<(e: StoreEvent) => void>();
  readonly #blobs: BlobFiles;
  readonly #callerTx: CallerTxInserter;
  readonly #watchIntervalMs: number;
  #watchTimer: NodeJS.Timeout | null = null;
  #dataVersion = 0;
  #closed = false;

  constructor(options: SqliteStoreOptions) {
    this.path = options.path;
    this.description = `sqlite:${options.path}`;
    this.#clock = options.clock ?? systemClock;
    this.capabilities = { settableClock: true, transactionalEnqueue: true, multiProcess: options.path !== ':memory:' };
    this.#watchIntervalMs = options.watchIntervalMs ?? 25;
    this.#db = openDatabase(options.path);
    this.#conn = new Conn(this.#db);
    this.#writer = new WriteCoalescer(this.#conn, () => this.#clock.now(), (ctx) => this.#afterCommit(ctx));
    this.#callerTx = new CallerTxInserter(this.#db, () => this.#clock.now());
    this.#blobs = new BlobFiles(options.path);
  }

  /** The folder holding payload blobs (`<db>.blobs`; null for an in-memory store). */
  get blobDir(): string | null {
    return this.#blobs.dir;
  }

  /** The underlying connection, for the benchmark's durability read-back and tests. */
  get database(): SqliteDatabase {
    return this.#db;
  }

  get writerStats(): { transactions: number; operations: number; busyRetries: number } {
    return this.#writer.stats;
  }

  async durability(): Promise<StoreDurability> {
    this.#assertOpen();
    return { ...readDurability(this.#db), path: this.path === ':memory:' ? null : this.path };
  }

  async migrate(): Promise<{ applied: number[] }> {
    this.#assertOpen();
    for (let delay = 2; ; delay = Math.min(100, delay * 2)) {
      try {
        return { applied: migrate(this.#db, this.#clock.now()) };
      } catch (error) {
        if (!isBusyError(error)) throw error;
        await sleep(delay);
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#writer.drain();
    this.#closed = true;
    this.#writer.close();
    this.#stopWatch();
    this.#listeners.clear();
    this.#transitionListeners.clear();
    this.#db.close();
  }

  async ping(): Promise<void> {
    this.#assertOpen();
    try {
      this.#conn.stmt('SELECT 1').get();
    } catch (error) {
      throw new StoreUnavailableError(`SQLite: ${(error as Error).message}`, { cause: error });
    }
    if (schemaVersion(this.#db) < LATEST_SCHEMA_VERSION) throw new StoreUnavailableError('migrations not applied');
  }

  async clockNow(): Promise<number> {
    return this.#clock.now();
  }

  // ── queues ────────────────────────────────────────────────────────────────────────────────────────────

  queueUpsert(params: { name: string; config: QueueConfig }): Promise<{ created: boolean; queue: QueueRecord }> {
    return this.#write((ctx) => {
      const before = queueRow(ctx.conn, params.name);
      const text = JSON.stringify(params.config);
      const limits = rateLimitsOf(params.config);
      const hookState = webhookStateAfterDeclare(before ? rowToQueue(before) : null, params.config, ctx.now);
      ctx.conn
        .stmt(
          `INSERT INTO queues (name, config, paused, created_at, updated_at, rate_per_second, group_rate_per_second, webhook, webhook_state)
           VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (name) DO UPDATE SET config = excluded.config, updated_at = excluded.updated_at,
             rate_per_second = excluded.rate_per_second, group_rate_per_second = excluded.group_rate_per_second,
             webhook = excluded.webhook, webhook_state = excluded.webhook_state`,
        )
        .run(params.name, text, ctx.now, ctx.now, limits.queue, limits.group, webhookColumn(params.config), encodeWebhookState(hookState));
      if (before) {
        // A raised or removed group limit, or onDead switched to continue, may open gates right away.
        for (const group of heldGroups(ctx.conn, params.name)) fillGroupSlots(ctx.conn, params.name, group, params.config);
        for (const key of deadOrderingKeys(ctx.conn, params.name)) ensureOrderingHead(ctx.conn, params.name, key, params.config);
        ctx.wake(params.name);
      }
      return { created: !before, queue: rowToQueue(queueRow(ctx.conn, params.name)!) };
    });
  }

  async queueGet(name: string): Promise<QueueRecord | null> {
    this.#assertOpen();
    const row = queueRow(this.#conn, name);
    return row ? rowToQueue(row) : null;
  }

  async queueList(): Promise<QueueRecord[]> {
    this.#assertOpen();
    const rows = this.#conn.stmt(`SELECT ${QUEUE_COLUMNS} FROM queues ORDER BY name`).all();
    return (rows as QueueRow[]).map(rowToQueue);
  }

  queueWebhookDisable(params: { name: string; url: string; reason: string }): Promise<boolean> {
    return this.#write((ctx) => {
      const row = queueRow(ctx.conn, params.name);
      const queue = row ? rowToQueue(row) : null;
      if (!queue || queue.config.webhook?.url !== params.url || queue.webhookState?.disabledAt) return false;
      const state = { previousSecrets: [], ...queue.webhookState, disabledAt: new Date(ctx.now), disabledReason: params.reason };
      ctx.conn.stmt('UPDATE queues SET webhook_state = ? WHERE name = ?').run(encodeWebhookState(state), params.name);
      return true;
    });
  }

  queueSetPaused(params: { name: string; paused: boolean }): Promise<QueueRecord | null> {
    return this.#write((ctx) => {
      const changed = ctx.conn
        .stmt('UPDATE queues SET paused = ?, updated_at = ? WHERE name = ?')
        .run(params.paused ? 1 : 0, ctx.now, params.name).changes;
      if (changed === 0) return null;
      if (!params.paused) ctx.wake(params.name);
      return rowToQueue(queueRow(ctx.conn, params.name)!);
    });
  }

  async queueStatsGet(params: { queues?: readonly string[] }): Promise<QueueStats[]> {
    this.#assertOpen();
    const names =
      params.queues ?? (this.#conn.stmt('SELECT name FROM queues ORDER BY name').all() as Array<{ name: string }>).map((r) => r.name);
    const now = this.#clock.now();
    const counterStmt = this.#conn.stmt('SELECT name, value FROM queue_counters WHERE queue = ?');
    const oldestStmt = this.#conn.stmt(`SELECT min(run_at) AS t FROM jobs WHERE queue = ? AND state = 'queued'`);
    return names.map((queue) => {
      const values = new Map((counterStmt.all(queue) as Array<{ name: string; value: number }>).map((r) => [r.name, r.value]));
      const oldest = (oldestStmt.get(queue) as { t: number | null }).t;
      return statsFromCounters(queue, values, oldest == null ? 0 : Math.max(0, (now - oldest) / 1000));
    });
  }

  queueSampleInsertMany(params: { samples: readonly QueueStats[] }): Promise<{ at: number }> {
    return this.#write((ctx) => {
      insertSamples(ctx.conn, ctx.now, params.samples);
      return { at: ctx.now };
    });
  }

  async queueSampleListAt(params: { queue: string; at: readonly number[]; lookbackMs: number }): Promise<Array<QueueSample | null>> {
    this.#assertOpen();
    return samplesAt(this.#conn, params.queue, params.at, params.lookbackMs);
  }

  queueSampleDeleteExpired(params: { olderThanMs: number; limit: number }): Promise<number> {
    return this.#write((ctx) => deleteExpiredSamples(ctx.conn, ctx.now - params.olderThanMs, params.limit));
  }

  // ── jobs: hot path ────────────────────────────────────────────────────────────────────────────────────

  /**
   * With `tx` (transactional enqueue, caller-tx.ts) the insert runs synchronously on the caller's connection
   * and a failure is thrown, not rejected, so better-sqlite3's `db.transaction(fn)` rolls back on it.
   */
  jobInsertMany(params: JobInsertManyParams): Promise<JobInsertResult[]> {
    if (params.tx === undefined) return this.#insertJobs(params);
    this.#assertOpen();
    const blobs = blobsOf(params.jobs);
    if (blobs.size === 0) return this.#callerTx.insert(params.tx, params);
    // Synchronous like the rest of this path: the blob files are durable before the caller can commit.
    this.#blobs.writeManySync(blobs);
    let results: Promise<JobInsertResult[]>;
    try {
      results = this.#callerTx.insert(params.tx, { ...params, jobs: withBlobRefs(params.jobs, blobs) });
    } catch (error) {
      this.#blobs.deleteManySync([...blobs.keys()]);
      throw error;
    }
    // Already settled (the insert ran during the call): blobs of items that made no job go at once.
    void results.then((r) => this.#blobs.deleteMany(unusedBlobs(params, blobs, r))).catch(() => undefined);
    return results;
  }

  async #insertJobs(params: JobInsertManyParams): Promise<JobInsertResult[]> {
    const blobs = blobsOf(params.jobs);
    // Blob files are written and fsynced before the jobs' transaction (its fsync) can commit.
    if (blobs.size > 0) await this.#blobs.writeMany(blobs);
    const jobs = withBlobRefs(params.jobs, blobs);
    let results: JobInsertResult[];
    try {
      results = await this.#write((ctx) => insertJobs(ctx, jobs, params.atomic ?? false));
    } catch (error) {
      if (!(error instanceof AtomicInsertError)) throw error; // blobs left for the orphan sweep
      results = atomicFailure(params, error);
    }
    // A replayed idempotency key, a refused item: its blob file references no job, delete it now.
    if (blobs.size > 0) await this.#blobs.deleteMany(unusedBlobs(params, blobs, results)).catch(() => undefined);
    return results;
  }

  async jobClaimMany(params: JobClaimManyParams): Promise<ClaimedJob[]> {
    this.#assertOpen();
    // Idle fetchers poll; a read keeps an empty poll from taking the write lock.
    if (params.max <= 0) return [];
    if (!hasClaimable(this.#conn, params.queue) && !hasExpiredLease(this.#conn, params.queue, this.#clock.now())) return [];
    const jobs = await this.#write((ctx) => {
      // A lease that ran out is claimable again from its expiry, by any claimer (lease-takeover.ts).
      takeOverExpiredLeases(ctx, params.queue);
      return claimJobs(ctx, params);
    });
    // Blob payloads are read after the commit (never while holding the write lock), one batch per claim.
    return resolveClaimedBlobs(jobs, (ids) => this.#blobs.readMany(ids), (failed) => this.jobFailMany({ jobs: failed }));
  }

  jobCompleteMany(params: { jobs: readonly JobCompleteParams[] }): Promise<FencedResult[]> {
    return this.#write((ctx) => completeJobs(ctx, params.jobs));
  }

  jobFailMany(params: { jobs: readonly JobFailParams[] }): Promise<FencedResult[]> {
    return this.#write((ctx) => failJobs(ctx, params.jobs));
  }

  jobReleaseMany(params: { jobs: readonly JobLeaseParams[] }): Promise<FencedResult[]> {
    return this.#write((ctx) => releaseJobs(ctx, params.jobs));
  }

  jobExtendMany(params: { jobs: readonly JobExtendParams[] }): Promise<JobExtendResult[]> {
    return this.#write((ctx) => extendLeases(ctx, params.jobs));
  }

  jobProgressSet(params: JobLeaseParams & { progressJson: string }): Promise<FencedResult> {
    return this.#write((ctx) => setProgress(ctx, params));
  }

  // ── jobs: operators ───────────────────────────────────────────────────────────────────────────────────

  jobCancelMany(params: { ids: readonly string[] }): Promise<JobCancelResult[]> {
    return this.#write((ctx) => cancelJobs(ctx, params.ids));
  }

  async jobReplayDead(params: JobReplayParams): Promise<{ count: number; ids: string[] }> {
    if (!queueRow(this.#conn, params.queue)) throw new QueueNotFoundError(params.queue);
    return this.#write((ctx) => replayDead(ctx, params));
  }

  async jobDeleteDead(params: { queue: string; id: string }): Promise<boolean> {
    const deleted = await this.#write((ctx) => deleteDead(ctx, params.queue, params.id));
    if (deleted) await this.#blobs.deleteMany([params.id]);
    return deleted;
  }

  async jobGetMany(params: { ids: readonly string[] }): Promise<Job[]> {
    this.#assertOpen();
    const stmt = this.#conn.stmt('SELECT * FROM jobs WHERE id = ?');
    const jobs: Job[] = [];
    for (const id of params.ids) {
      const row = stmt.get(id) as JobRow | undefined;
      if (row) jobs.push(rowToJob(row));
    }
    return jobs;
  }

  async jobHistoryGetMany(params: { ids: readonly string[] }): Promise<JobHistory[]> {
    this.#assertOpen();
    if (params.ids.length === 0) return [];
    const rows = this.#conn
      .stmt('SELECT id, queue, state, history FROM jobs WHERE id IN (SELECT value FROM json_each(?))')
      .all(JSON.stringify(params.ids)) as Array<{ id: string; queue: string; state: JobHistory['state']; history: string }>;
    return rows.map((r) => ({ id: r.id, queue: r.queue, state: r.state, history: decodeHistory(r.history) }));
  }

  async jobPayloadGet(params: { id: string }): Promise<Buffer | null> {
    this.#assertOpen();
    const row = this.#conn.stmt('SELECT payload FROM jobs WHERE id = ?').get(params.id) as { payload: string } | undefined;
    if (!row) return null;
    const bytes = blobRefBytes(row.payload);
    if (bytes === null) return Buffer.from(row.payload, 'utf8');
    const blob = await this.#blobs.read(params.id);
    if (!blob || blob.length !== bytes) throw new Error(`payload blob of job ${params.id} is ${blob ? 'damaged' : 'missing'} in ${this.#blobs.dir ?? 'memory'}`);
    return blob;
  }

  async jobList(params: JobListParams): Promise<JobPage> {
    this.#assertOpen();
    const where: string[] = [];
    const args: unknown[] = [];
    const filters: Array<[string, unknown]> = [
      ['queue = ?', params.queue],
      ['state = ?', params.state],
      ['type = ?', params.type],
      ['correlation_id = ?', params.correlationId],
    ];
    for (const [cond, value] of filters) {
      if (value === undefined) continue;
      where.push(cond);
      args.push(value);
    }
    if (params.cursor) {
      const seq = decodeCursor(params.cursor);
      where.push('seq < ?');
      args.push(seq);
    }
    const limit = Math.max(1, Math.min(1000, params.limit));
    const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq DESC LIMIT ?`;
    const rows = this.#conn.stmt(sql).all(...args, limit + 1) as JobRow[];
    const page = rows.slice(0, limit);
    const last = page[page.length - 1];
    return { jobs: page.map(rowToJob), nextCursor: rows.length > limit && last ? encodeCursor(last.seq) : null };
  }

  // ── maintenance ───────────────────────────────────────────────────────────────────────────────────────

  async jobExpiredLeaseList(params: { limit: number }): Promise<ExpiredLease[]> {
    this.#assertOpen();
    const rows = this.#conn
      .stmt(
        `SELECT id, queue, type, correlation_id, lease_token, attempts, max_attempts, options FROM jobs
         WHERE state = 'active' AND lease_expires_at < ? ORDER BY lease_expires_at LIMIT ?`,
      )
      .all(this.#clock.now(), params.limit) as Array<{
      id: string;
      queue: string;
      type: string | null;
      correlation_id: string | null;
      lease_token: string;
      attempts: number;
      max_attempts: number;
      options: string | null;
    }>;
    return rows.map((r) => ({
      id: r.id,
      queue: r.queue,
      type: r.type,
      correlationId: r.correlation_id,
      leaseToken: r.lease_token,
      attempt: r.attempts,
      maxAttempts: r.max_attempts,
      optionsJson: r.options,
    }));
  }

  async jobLeaseNextExpiryMs(params: { queue: string }): Promise<number | null> {
    this.#assertOpen();
    return nextLeaseExpiryMs(this.#conn, params.queue, this.#clock.now());
  }

  async jobPromoteDue(params: { limit: number }): Promise<{ count: number; queues: string[] }> {
    const next = await this.jobNextDueAt();
    if (next == null || next > this.#clock.now()) return { count: 0, queues: [] };
    return this.#write((ctx) => promoteDue(ctx, params.limit));
  }

  async jobNextDueAt(): Promise<number | null> {
    this.#assertOpen();
    const row = this.#conn.stmt(`SELECT min(run_at) AS t FROM jobs WHERE state IN ('scheduled', 'retrying')`).get() as { t: number | null };
    return row.t;
  }

  async jobDeleteExpired(params: { limit: number }): Promise<number> {
    const { deleted, blobIds } = await this.#write((ctx) => deleteExpired(ctx, params.limit));
    // After the commit: a crash before these unlinks leaves orphans for blobDeleteOrphans.
    if (blobIds.length > 0) await this.#blobs.deleteMany(blobIds);
    return deleted;
  }

  async blobDeleteOrphans(params: { olderThanMs: number; limit: number }): Promise<number> {
    this.#assertOpen();
    const present = this.#conn.stmt('SELECT id FROM jobs WHERE id IN (SELECT value FROM json_each(?))');
    return this.#blobs.sweep(params.olderThanMs, params.limit, (ids) => {
      this.#assertOpen();
      return new Set((present.all(JSON.stringify(ids)) as Array<{ id: string }>).map((r) => r.id));
    });
  }

  // ── records and audit log ─────────────────────────────────────────────────────────────────────────────

  recordPut(params: RecordPutParams): Promise<RecordPutResult> {
    return this.#write((ctx) => records.recordPut(ctx.conn, ctx.now, params));
  }

  async recordGet(params: { kind: RecordKind; name: string }): Promise<StoredRecord | null> {
    this.#assertOpen();
    return records.recordGet(this.#conn, params.kind, params.name);
  }

  async recordList(params: { kind: RecordKind }): Promise<StoredRecord[]> {
    this.#assertOpen();
    return records.recordList(this.#conn, params.kind);
  }

  recordDelete(params: { kind: RecordKind; name: string }): Promise<boolean> {
    return this.#write((ctx) => records.recordDelete(ctx.conn, params.kind, params.name));
  }

  auditAppend(params: { entries: readonly AuditEntryInput[] }): Promise<void> {
    return this.#write((ctx) => records.auditAppend(ctx.conn, ctx.now, params.entries));
  }

  async auditList(params: { limit: number; cursor?: string | null }): Promise<AuditPage> {
    this.#assertOpen();
    return records.auditList(this.#conn, params.limit, params.cursor);
  }

  /** SQLite's counters are upserted per (queue, name) in each transaction (one writer): nothing to fold. */
  counterFold(): Promise<number> {
    return Promise.resolve(0);
  }

  idempotencyDeleteExpired(params: { limit: number }): Promise<number> {
    return this.#write((ctx) => deleteExpiredIdempotencyKeys(ctx, params.limit));
  }

  async jobStepList(params: { jobId: string }): Promise<Map<string, string>> {
    this.#assertOpen();
    const rows = this.#conn.stmt('SELECT name, value FROM job_steps WHERE job_id = ?').all(params.jobId) as Array<{
      name: string;
      value: string;
    }>;
    return new Map(rows.map((r) => [r.name, r.value]));
  }

  jobStepSet(params: { jobId: string; name: string; valueJson: string }): Promise<void> {
    return this.#write((ctx) => {
      ctx.conn
        .stmt('INSERT OR IGNORE INTO job_steps (job_id, name, value, created_at) VALUES (?, ?, ?, ?)')
        .run(params.jobId, params.name, params.valueJson, ctx.now);
    });
  }

  leaderAttempt(params: { name: string; holder: string; ttlMs: number }): Promise<boolean> {
    return this.#write((ctx) => {
      const changed = ctx.conn
        .stmt(
          `INSERT INTO leader_leases (name, holder, expires_at) VALUES (@name, @holder, @expires)
           ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
           WHERE leader_leases.holder = excluded.holder OR leader_leases.expires_at < @now`,
        )
        .run({ name: params.name, holder: params.holder, expires: ctx.now + params.ttlMs, now: ctx.now }).changes;
      return changed === 1;
    });
  }

  leaderResign(params: { name: string; holder: string }): Promise<void> {
    return this.#write((ctx) => {
      ctx.conn.stmt('DELETE FROM leader_leases WHERE name = ? AND holder = ?').run(params.name, params.holder);
    });
  }

  // ── wake-ups ──────────────────────────────────────────────────────────────────────────────────────────

  subscribe(listener: (event: StoreEvent) => void, options: SubscribeOptions = {}): () => void {
    this.#listeners.add(listener);
    if (options.transitions) this.#transitionListeners.add(listener);
    this.#startWatch();
    return () => {
      this.#listeners.delete(listener);
      this.#transitionListeners.delete(listener);
      if (this.#listeners.size === 0) this.#stopWatch();
    };
  }

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

  /** PRAGMA data_version changes when another connection commits: a cheap cross-process wake-up. */
  #startWatch(): void {
    if (this.#watchTimer || this.#closed) return;
    this.#dataVersion = this.#readDataVersion();
    this.#watchTimer = setInterval(() => {
      if (this.#closed) return;
      const v = this.#readDataVersion();
      if (v !== this.#dataVersion) {
        this.#dataVersion = v;
        this.#emit({ queues: null });
      }
    }, this.#watchIntervalMs);
    this.#watchTimer.unref();
  }

  #stopWatch(): void {
    if (this.#watchTimer) clearInterval(this.#watchTimer);
    this.#watchTimer = null;
  }

  #readDataVersion(): number {
    try {
      return Number(this.#db.pragma('data_version', { simple: true }));
    } catch {
      return this.#dataVersion;
    }
  }

  #write<T>(op: (ctx: TxContext) => T): Promise<T> {
    if (this.#closed) return Promise.reject(new StoreClosedError());
    return this.#writer.run(op);
  }

  #assertOpen(): void {
    if (this.#closed) throw new StoreClosedError();
  }
}

/** Blobs written for items that made no new job (refused, or an idempotent replay of an earlier job). */
function unusedBlobs(params: JobInsertManyParams, blobs: ReadonlyMap<string, Buffer>, results: readonly JobInsertResult[]): string[] {
  return params.jobs.filter((j, i) => blobs.has(j.id) && !(results[i]?.ok && !results[i].replayed)).map((j) => j.id);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export { configureConnection };
