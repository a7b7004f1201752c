/**
 * The storage seam. Internal API: not stable, not exported to users.
 *
 * One method per database operation, named <entity><Verb>[Many] with one params object each. The `...Many`
 * call is the primitive; engine code batches single calls into it (group commit). All SQL lives in the
 * drivers behind this interface (`sqlite/`, `postgres/`); everything above sees only this file.
 *
 * Rules every driver follows (and the conformance suite checks):
 *  - Every state change is a compare-and-set on the expected state and, for a leased job, its lease token.
 *    A stale token changes nothing and is reported per item, never thrown for the whole batch.
 *  - Per-item outcomes: one bad item in a batch (a reused idempotency key, an unknown queue) fails alone.
 *  - The store owns the clock: timestamps are taken from `clockNow()` (the database's now() on PostgreSQL).
 *  - Queue counts are maintained counters changed with each transition, never a scan of the job table.
 *  - Payloads, results and progress cross the seam as JSON text; the engine (de)serialises.
 *  - A payload inserted with `blob: true` is stored once outside the job row (PostgreSQL: a table written in
 *    the job's transaction; SQLite: a file beside the database, durable before the job commits). Claims hand
 *    out the full payload (blob reads batched per claim); `jobGetMany` and `jobList` answer `payload: null`
 *    with `payloadBytes`; `jobPayloadGet` reads it. Deleting a job deletes its blob.
 *  - Webhook deliveries are jobs in the internal queue `spool.webhooks`, inserted in the transaction of the
 *    transition they report: `jobCompleteMany` (→ completed), `jobFailMany` (→ dead) and `jobCancelMany`
 *    (→ cancelled) add one for the queue's `webhook` when its events include the new state, and one for a job's
 *    `meta.callbackUrl` (completed and dead). A stale or rolled-back transition leaves none
 *    (storage/webhook-deliveries.ts builds them; core/webhooks.ts has their shape).
 */
import type { HistoryEntry, Job, JobError } from '../core/job.js';
import type { QueueLatency } from '../core/latency.js';
import type { Priority } from '../core/priority.js';
import type { QueueConfig } from '../core/queue-config.js';
import type { JobState } from '../core/states.js';
import type { SpoolError } from '../core/errors.js';
import type { WebhookState } from '../core/webhooks.js';

/** What a driver can do; tests skip a case only for a capability a driver reports missing. */
export interface StoreCapabilities {
  /** The clock can be set (ManualClock) so tests can travel in time. */
  readonly settableClock: boolean;
  /** `jobInsertMany` accepts the caller's own transaction handle (`tx`). */
  readonly transactionalEnqueue: boolean;
  /** Several processes may share the store. */
  readonly multiProcess: boolean;
}

/**
 * The caller's transaction handle for enqueue-in-your-transaction. SQLite: a better-sqlite3 Database open
 * on the same file, inside BEGIN. PostgreSQL: a `pg` client inside BEGIN. Opaque above the seam.
 */
export type StoreTx = unknown;

export interface JobInsertParams {
  readonly id: string;
  readonly queue: string;
  readonly type: string | null;
  readonly version: number;
  readonly payloadJson: string;
  /**
   * Store the payload once as a blob, outside the job row (the engine sets it for payloads over 256 KiB):
   * reads of the job then answer `payload: null` and `payloadBytes`, claims the full payload.
   */
  readonly blob?: boolean;
  readonly priority: Priority;
  /** Absolute start time (ms since epoch). Null with `delayMs` null = now. */
  readonly runAt: number | null;
  /** Relative start delay, resolved against the store's clock. */
  readonly delayMs: number | null;
  readonly orderingKey: string | null;
  readonly groupKey: string | null;
  readonly correlationId: string | null;
  /** Job or job-type override; null = the queue's setting (resolved by the store, in the transaction). */
  readonly maxAttempts: number | null;
  /** Per-job lease duration override (job > type), else the claim's. */
  readonly leaseMs: number | null;
  /** Other per-job settings the engine reads back at run time (backoff, timeout, callbackUrl, ...). */
  readonly optionsJson: string | null;
  readonly idempotency: { readonly key: string; readonly fingerprint: string } | null;
}

/** What an accepted enqueue answers (also what an idempotent replay answers). */
export interface JobReceipt {
  readonly id: string;
  readonly queue: string;
  readonly state: JobState;
  readonly createdAt: Date;
  readonly runAt: Date;
}

export type JobInsertResult =
  | { readonly ok: true; readonly replayed: boolean; readonly receipt: JobReceipt }
  | { readonly ok: false; readonly error: SpoolError };

export interface JobInsertManyParams {
  readonly jobs: readonly JobInsertParams[];
  /** All-or-nothing: any item failing fails the whole batch (HTTP batch endpoint, topics). */
  readonly atomic?: boolean;
  readonly tx?: StoreTx;
}

export interface JobClaimManyParams {
  readonly queue: string;
  readonly max: number;
  /** Lease for jobs without their own `leaseMs`. */
  readonly leaseMs: number;
  readonly workerId: string;
}

/** A leased job handed to a worker. */
export interface ClaimedJob {
  readonly id: string;
  readonly queue: string;
  readonly type: string | null;
  readonly version: number;
  /** The full payload, also for one stored as a blob (the driver resolves it while claiming). */
  readonly payloadJson: string;
  readonly priority: Priority;
  readonly orderingKey: string | null;
  readonly groupKey: string | null;
  readonly correlationId: string | null;
  /** 1-based number of this attempt. */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly leaseToken: string;
  readonly leaseExpiresAt: number;
  /** The lease length granted (the job's own `leaseMs`, else the claim's); extensions use it. */
  readonly leaseMs: number;
  readonly createdAt: number;
  readonly runAt: number;
  readonly optionsJson: string | null;
}

export interface JobCompleteParams {
  readonly id: string;
  readonly leaseToken: string;
  readonly resultJson: string | null;
}

export interface JobFailParams {
  readonly id: string;
  readonly leaseToken: string;
  readonly to: 'retrying' | 'dead';
  /** For `retrying`: when the next attempt may start, relative to the store's clock. */
  readonly retryDelayMs: number;
  readonly error: JobError;
  readonly reason: 'fail' | 'timeout' | 'lease-expired';
}

export interface JobLeaseParams {
  readonly id: string;
  readonly leaseToken: string;
}

export interface JobExtendParams extends JobLeaseParams {
  readonly leaseMs: number;
}

/** Per-item outcome of a fenced write: `false` means the token was stale (the job moved on). */
export type FencedResult = { readonly ok: true } | { readonly ok: false; readonly state: JobState | null };

export interface JobExtendResult {
  readonly ok: boolean;
  readonly leaseExpiresAt: number | null;
}

export interface ExpiredLease {
  readonly id: string;
  readonly queue: string;
  readonly type: string | null;
  /** For the reaper's log line. */
  readonly correlationId: string | null;
  readonly leaseToken: string;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly optionsJson: string | null;
}

export interface JobCancelResult {
  readonly id: string;
  readonly ok: boolean;
  /** The state the job is in after the call (null: no such job). */
  readonly state: JobState | null;
}

export interface JobReplayParams {
  readonly queue: string;
  readonly ids?: readonly string[];
  readonly all?: boolean;
  readonly dryRun?: boolean;
  /** Upper bound per call for `all` (callers loop for bulk replays). */
  readonly limit?: number;
}

export interface JobListParams {
  readonly queue?: string;
  readonly state?: JobState;
  readonly type?: string;
  readonly correlationId?: string;
  readonly limit: number;
  /** Opaque cursor from a previous page. */
  readonly cursor?: string | null;
}

/** A job's state and transitions, without its payload or result (job event streams read these often). */
export interface JobHistory {
  readonly id: string;
  readonly queue: string;
  readonly state: JobState;
  readonly history: readonly HistoryEntry[];
}

export interface JobPage {
  readonly jobs: Job[];
  readonly nextCursor: string | null;
}

export interface QueueRecord {
  readonly name: string;
  readonly config: QueueConfig;
  readonly paused: boolean;
  /** The webhook's rotation and disabled state (null: no webhook, or nothing to say). */
  readonly webhookState: WebhookState | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export type StateCounts = Record<JobState, number>;

export interface QueueStats {
  readonly queue: string;
  readonly counts: StateCounts;
  /** How long the oldest due job has waited since it became runnable (0 when none). */
  readonly oldestAgeSeconds: number;
  /** Monotonic totals since the queue was created. */
  readonly totals: {
    readonly enqueued: number;
    readonly completed: number;
    readonly failed: number;
    readonly dead: number;
    readonly cancelled: number;
    readonly replayed: number;
  };
  /** Latency histograms (core/latency.ts), maintained counters like the rest: cluster-wide, since the queue was created. */
  readonly latency: QueueLatency;
}

/** A queue's stats as the leader's stats sampler recorded them at `at` (ms, the store's clock). */
export interface QueueSample extends QueueStats {
  readonly at: number;
}

/** What a store really runs with, read back from the database (the benchmark reports it). */
export interface StoreDurability {
  /** SQLite: `PRAGMA synchronous` (OFF/NORMAL/FULL/EXTRA). */
  readonly synchronous?: string;
  /** SQLite: `PRAGMA journal_mode`. */
  readonly journalMode?: string;
  /** PostgreSQL: `SHOW synchronous_commit`. */
  readonly synchronousCommit?: string;
  /** PostgreSQL: `SHOW fsync`. */
  readonly fsync?: string;
  /** The database file (SQLite), or null. */
  readonly path: string | null;
}

export interface StoreEvent {
  /** Some jobs may have become claimable in these queues (null: unknown which; another process wrote). */
  readonly queues: readonly string[] | null;
  /**
   * True on an event that only says this process committed job state changes (a claim, a completion, …) that
   * made nothing claimable: `queues` is then empty. Heard only by subscribers that asked for `transitions`.
   */
  readonly transitions?: boolean;
}

export interface SubscribeOptions {
  /**
   * Also hear `{queues: [], transitions: true}` after each of this process's commits that changed job states
   * (job event streams). Other processes' commits arrive as ordinary events: SQLite reports every foreign
   * commit (`queues: null`); PostgreSQL notifies only commits that made jobs claimable.
   */
  readonly transitions?: boolean;
}

/**
 * Small configuration records kept by the gateway (API keys, topics, schedules), one table for all kinds.
 * `version` starts at 1 and grows by one per write: `recordPut` with `expectVersion` is a compare-and-set.
 */
export type RecordKind = 'key' | 'topic' | 'schedule';

export interface StoredRecord {
  readonly kind: RecordKind;
  readonly name: string;
  readonly valueJson: string;
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface RecordPutParams {
  readonly kind: RecordKind;
  readonly name: string;
  readonly valueJson: string;
  /** Absent: write whatever is there. `null`: create only (fails if it exists). A number: only over that version. */
  readonly expectVersion?: number | null;
}

/** `ok: false` when `expectVersion` did not match; `record` is then what is stored (null: nothing). */
export interface RecordPutResult {
  readonly ok: boolean;
  readonly created: boolean;
  readonly record: StoredRecord | null;
}

export interface AuditEntryInput {
  /** Who acted: a key id, `admin-token`, `open` (no auth), or a process (`cli`, `library`). */
  readonly actor: string;
  /** What was done, dotted: `queue.put`, `dead.replay`, `key.create`, … */
  readonly action: string;
  /** What it was done to: a queue, job id, key id, … */
  readonly target: string;
  readonly detailJson: string | null;
}

export interface AuditEntry extends AuditEntryInput {
  readonly seq: number;
  readonly at: Date;
}

export interface AuditPage {
  /** Newest first. */
  readonly entries: AuditEntry[];
  readonly nextCursor: string | null;
}

export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  readonly capabilities: StoreCapabilities;
  /** A short, credential-free description (`sqlite:/path/spool.db`). */
  readonly description: string;

  migrate(): Promise<{ applied: number[] }>;
  close(): Promise<void>;
  /** Throws StoreUnavailableError when the store cannot be reached. */
  ping(): Promise<void>;
  clockNow(): Promise<number>;
  /** Read the durability settings back from the database itself (not from configuration). */
  durability(): Promise<StoreDurability>;

  queueUpsert(params: { name: string; config: QueueConfig }): Promise<{ created: boolean; queue: QueueRecord }>;
  queueGet(name: string): Promise<QueueRecord | null>;
  queueList(): Promise<QueueRecord[]>;
  queueSetPaused(params: { name: string; paused: boolean }): Promise<QueueRecord | null>;
  /**
   * The queue's webhook endpoint answered `410 Gone`: mark it disabled (until the queue is declared with a
   * webhook again), if its webhook is still `url`. True when this call disabled it.
   */
  queueWebhookDisable(params: { name: string; url: string; reason: string }): Promise<boolean>;
  queueStatsGet(params: { queues?: readonly string[] }): Promise<QueueStats[]>;
  /**
   * Record these stats as samples taken now (the store's clock; one row per queue, a sample at the same
   * instant replaces the earlier one). The leader's stats sampler calls it every 10 s; the series read them.
   */
  queueSampleInsertMany(params: { samples: readonly QueueStats[] }): Promise<{ at: number }>;
  /**
   * For each instant of `at` (ms), the queue's latest sample taken in `(t − lookbackMs, t]`, or null: one
   * indexed lookup per instant, never a scan of the samples in between.
   */
  queueSampleListAt(params: { queue: string; at: readonly number[]; lookbackMs: number }): Promise<Array<QueueSample | null>>;
  /** Delete samples older than `olderThanMs` (by the store's clock), at most `limit`; returns how many. */
  queueSampleDeleteExpired(params: { olderThanMs: number; limit: number }): Promise<number>;

  jobInsertMany(params: JobInsertManyParams): Promise<JobInsertResult[]>;
  /**
   * Lease up to `max` claimable jobs in claim order. First, in the same transaction, the queue's leases that
   * ran out (a bounded batch, oldest first) are taken over exactly as the lease reaper fails them: a failed
   * attempt (`lease-expired` in history, `dead` when attempts are spent), due again at once — so any claimer
   * recovers a crashed worker's jobs from their expiry, without a maintenance leader; the old token is fenced. A queue's `rateLimit` and `groups.rateLimit` are enforced
   * here, in the claim's transaction (token buckets on the store's clock, docs/design.md "Rate limits"), so they
   * hold across every claimer sharing the store; a limited claim may answer fewer than `max` with jobs waiting.
   */
  jobClaimMany(params: JobClaimManyParams): Promise<ClaimedJob[]>;
  jobCompleteMany(params: { jobs: readonly JobCompleteParams[] }): Promise<FencedResult[]>;
  jobFailMany(params: { jobs: readonly JobFailParams[] }): Promise<FencedResult[]>;
  /** Put leased jobs back to `queued` at once without spending an attempt (graceful shutdown). */
  jobReleaseMany(params: { jobs: readonly JobLeaseParams[] }): Promise<FencedResult[]>;
  /** Make leases expire `leaseMs` from now, never earlier than they already do (a shorter one is ok, unchanged). */
  jobExtendMany(params: { jobs: readonly JobExtendParams[] }): Promise<JobExtendResult[]>;
  jobProgressSet(params: JobLeaseParams & { progressJson: string }): Promise<FencedResult>;
  jobCancelMany(params: { ids: readonly string[] }): Promise<JobCancelResult[]>;
  jobReplayDead(params: JobReplayParams): Promise<{ count: number; ids: string[] }>;
  jobDeleteDead(params: { queue: string; id: string }): Promise<boolean>;
  jobGetMany(params: { ids: readonly string[] }): Promise<Job[]>;
  jobList(params: JobListParams): Promise<JobPage>;
  /** The state and history of each job found (any order; missing ids are left out), in one read. */
  jobHistoryGetMany(params: { ids: readonly string[] }): Promise<JobHistory[]>;
  /** A job's payload as UTF-8 JSON bytes, inline or blob; null when there is no such job. */
  jobPayloadGet(params: { id: string }): Promise<Buffer | null>;

  /**
   * Milliseconds until the queue's earliest lease expires (0 when one already has; store clock), or null when
   * none is held: idle claimers (long polls, fetchers) wake then, since no insert event announces an expiry.
   */
  jobLeaseNextExpiryMs(params: { queue: string }): Promise<number | null>;
  /** Leases that ran out; the lease reaper fails each through `jobFailMany` (fenced by the same token). */
  jobExpiredLeaseList(params: { limit: number }): Promise<ExpiredLease[]>;
  /** Move due `scheduled` and `retrying` jobs to `queued`. */
  jobPromoteDue(params: { limit: number }): Promise<{ count: number; queues: string[] }>;
  /** Earliest `runAt` among scheduled and retrying jobs, or null. */
  jobNextDueAt(): Promise<number | null>;
  /** Retention: delete finished jobs past their queue's retention, at most `limit` per call. */
  jobDeleteExpired(params: { limit: number }): Promise<number>;
  idempotencyDeleteExpired(params: { limit: number }): Promise<number>;
  /**
   * Delete blobs no job references that are older than `olderThanMs` (at most `limit`); returns how many.
   * SQLite: files left by a crash between writing a blob and committing its job, or by a rolled-back caller
   * transaction, and files whose job's deletion committed but whose unlink did not happen. PostgreSQL writes
   * and deletes a blob in its job's transaction, so it has none and answers 0.
   */
  blobDeleteOrphans(params: { olderThanMs: number; limit: number }): Promise<number>;
  /**
   * Fold pending counter deltas into the totals, at most `limit` delta rows; returns how many it folded.
   * The leader's counter folder calls it every second. Stores whose counters need no folding return 0.
   */
  counterFold(params: { limit: number }): Promise<number>;

  /** Durable step memo for `ctx.step`. */
  jobStepList(params: { jobId: string }): Promise<Map<string, string>>;
  jobStepSet(params: { jobId: string; name: string; valueJson: string }): Promise<void>;

  /** Leader election for cluster-wide maintenance. True when `holder` holds `name` until now + ttl. */
  leaderAttempt(params: { name: string; holder: string; ttlMs: number }): Promise<boolean>;
  leaderResign(params: { name: string; holder: string }): Promise<void>;

  recordPut(params: RecordPutParams): Promise<RecordPutResult>;
  recordGet(params: { kind: RecordKind; name: string }): Promise<StoredRecord | null>;
  recordList(params: { kind: RecordKind }): Promise<StoredRecord[]>;
  /** True when a record was removed. */
  recordDelete(params: { kind: RecordKind; name: string }): Promise<boolean>;

  /** Append to the audit log, committed with the store's next group commit. */
  auditAppend(params: { entries: readonly AuditEntryInput[] }): Promise<void>;
  auditList(params: { limit: number; cursor?: string | null }): Promise<AuditPage>;

  /** Wake-ups: jobs may have become available (and, with `transitions`, changed state). Returns an unsubscribe function. */
  subscribe(listener: (event: StoreEvent) => void, options?: SubscribeOptions): () => void;
}
