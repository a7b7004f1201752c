/**
 * The engine facade — the library itself. Opens a store by URL, declares queues and job types, enqueues
 * (alone, in batches, inside the caller's transaction), runs workers in-process and reads status. The CLI
 * and the server are thin adapters over this class; none of them reaches past it into the store.
 *
 * Group commit: concurrent `enqueue` calls are gathered by a Batcher into one `jobInsertMany`, and the
 * SQLite store commits everything written in one event-loop turn together, so each caller's promise
 * resolves after a shared fsync.
 *
 * Transactional enqueue (`tx`, the caller's open transaction): every enqueue call takes it and goes through
 * one path (#enqueueInTx), which bypasses group commit. There `enqueue` and `enqueueMany` are all-or-nothing:
 * a failing item rejects the call and leaves none of its rows in the caller's transaction. With a SQLite `tx`
 * the whole call is synchronous and failures are thrown, not rejected, so better-sqlite3's
 * `db.transaction(fn)` rolls back when an enqueue inside it fails.
 *
 * Observability: admin actions on jobs (cancel, replay, purge) are logged as job events
 * (observability/job-log.ts); with `openTelemetry` each enqueue call runs in a PRODUCER span
 * (observability/otel.ts) and workers started here get the hook for their CONSUMER spans.
 */
import type { Registry } from 'prom-client';
import type { Static, TSchema } from 'typebox';
import { Batcher } from './core/batcher.js';
import type { Clock } from './core/clock.js';
import {
  InvalidArgumentError,
  InvalidTransitionError,
  JobNotFoundError,
  QueueNotFoundError,
  SpoolError,
  ValidationError,
} from './core/errors.js';
import type { Job } from './core/job.js';
import { INTERNAL_QUEUE_PREFIX, isInternalQueueName, isValidQueueName, QueueConfigSchema, webhookEventErrors, type QueueConfig } from './core/queue-config.js';
import type { JobState } from './core/states.js';
import { assertValid } from './core/validation.js';
import { prepareInsert, type EnqueueItem, type EnqueueOptions } from './engine/enqueue.js';
import { JobTypeRegistry, type JobTypeDefinition } from './engine/job-types.js';
import { JobWatcher, type JobWatchListener } from './engine/job-watch.js';
import { queueMetricsRegistry, type MetricsSnapshot } from './engine/metrics.js';
import { queueSeries, type QueueSeries, type SeriesOptions } from './engine/queue-series.js';
import { RemoteLeases } from './engine/remote-leases.js';
import * as schedules from './engine/schedules.js';
import * as topics from './engine/topics.js';
import { silentLogger, type Logger } from './logger.js';
import { logJobEvent, logReplayed } from './observability/job-log.js';
import { loadOpenTelemetry, openTelemetryWanted, type JobTracing } from './observability/otel.js';
import { queueTargetErrors } from './net/target-guard.js';
import { DEFAULT_STORE_URL, openStore } from './storage/open-store.js';
import type { JobInsertParams, JobInsertResult, JobReceipt, QueueRecord, QueueStats, Store, StoreTx } from './storage/store.js';
import type { ResolvedHandler } from './worker/executor.js';
import type { Handler } from './worker/handler.js';
import { Maintainer, type MaintainerOptions } from './worker/maintenance/maintainer.js';
import { Worker, type WorkerOptions } from './worker/runtime.js';
import { WebhookDispatcher, type WebhookDispatcherOptions } from './webhooks/webhook-dispatcher.js';

export interface SpoolOptions {
  /** Store URL (`sqlite:PATH`, default `sqlite:./.spool/spool.db`). Ignored when `store` is given. */
  readonly url?: string;
  /** An already-open store (tests, or sharing one store between facades). */
  readonly store?: Store;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /**
   * The OpenTelemetry hook: spans for enqueue (PRODUCER) and each attempt (CONSUMER) through
   * `@opentelemetry/api`, an optional peer dependency loaded only then. Default: `SPOOL_OTEL=1`, else off.
   */
  readonly openTelemetry?: boolean;
}

export interface EnqueueResult extends JobReceipt {
  /** True when an idempotency key matched an earlier, identical request: no new job was created. */
  readonly replayed: boolean;
}

export interface TransactionOption {
  /**
   * The caller's open transaction: the jobs commit or roll back with it (README, "Transactional enqueue").
   * PostgreSQL: a `pg` Client or PoolClient inside BEGIN, on Spool's database. SQLite: a better-sqlite3
   * Database on Spool's file, inside BEGIN IMMEDIATE (the call is then synchronous: failures are thrown).
   */
  readonly tx?: StoreTx;
}

export interface EnqueueManyOptions extends TransactionOption {
  /** All-or-nothing: one invalid item rejects the whole batch and nothing is written. Implied by `tx`. */
  readonly atomic?: boolean;
}

export interface QueueInfo extends QueueRecord {
  readonly stats: QueueStats;
}

/** A defined job type, with typed shortcuts. */
export interface JobType<P, R = unknown> {
  readonly definition: JobTypeDefinition<P, R>;
  enqueue(payload: P, options?: Omit<EnqueueOptions, 'type'> & TransactionOption): Promise<EnqueueResult>;
}

export interface WorkOptions extends Partial<WorkerOptions> {
  /** Handlers by job type or by queue name (used for jobs whose type has no defined handler). */
  readonly handlers?: Readonly<Record<string, Handler>>;
  /**
   * Also deliver webhook notifications in this process (the dispatcher over `spool.webhooks`, once per Spool;
   * see `startWebhooks`). Default true; `false` leaves them to other processes (a `spool serve`, another
   * worker); an object starts it with those options.
   */
  readonly webhooks?: boolean | WebhookDispatcherOptions;
}

export class Spool {
  readonly store: Store;
  readonly log: Logger;
  readonly #types = new JobTypeRegistry();
  readonly #queueHandlers = new Map<string, Handler>();
  readonly #workers = new Set<Worker>();
  readonly #ownsStore: boolean;
  readonly #inserts: Batcher<JobInsertParams, EnqueueResult>;
  /** The webhook dispatcher of this facade, once started (`startWebhooks`, or the first `work()`). */
  #webhooks: Promise<WebhookDispatcher> | null = null;
  /** Maintenance without a worker (`maintain()`: a server whose handlers run in remote workers). */
  #maintainer: Maintainer | null = null;
  #metricsRegistry: Registry | null = null;
  #closed = false;
  /**
   * Remote workers' leases (the pull API behind `POST /v1/queues/{queue}/leases` and `/v1/jobs/{id}/ack|nack|…`):
   * long-poll claims and fenced ack / nack / extend / progress / release.
   */
  readonly leases: RemoteLeases;
  /** Follows jobs as they change, for every watcher at once (engine/job-watch.ts; the HTTP event streams). */
  readonly #watcher: JobWatcher;
  readonly #tracing: JobTracing | null;

  private constructor(store: Store, log: Logger, ownsStore: boolean, tracing: JobTracing | null) {
    this.store = store;
    this.log = log;
    this.#ownsStore = ownsStore;
    this.#tracing = tracing;
    this.#inserts = new Batcher((items) => this.#insertMany(items));
    this.#watcher = new JobWatcher(store);
    this.leases = new RemoteLeases({ store, log, jobType: (type) => this.#types.get(type), nudgeScheduler: () => this.#nudgeSchedulers() });
  }

  /** Open a store by URL (migrating it) and return the facade. */
  static async open(urlOrOptions: string | SpoolOptions = {}): Promise<Spool> {
    const options: SpoolOptions = typeof urlOrOptions === 'string' ? { url: urlOrOptions } : urlOrOptions;
    const log = options.logger ?? silentLogger;
    const tracing = openTelemetryWanted(options.openTelemetry) ? await loadOpenTelemetry(log) : null;
    if (options.store) return new Spool(options.store, log, false, tracing);
    const store = await openStore(options.url ?? DEFAULT_STORE_URL, options.clock ? { clock: options.clock } : {});
    return new Spool(store, log, true, tracing);
  }

  // ── queues ──────────────────────────────────────────────────────────────────────────────────────────

  /** Create or update a queue (idempotent). Unknown or out-of-range settings are a ValidationError. */
  async declareQueue(name: string, config: QueueConfig = {}): Promise<QueueRecord & { created: boolean }> {
    if (!isValidQueueName(name)) throw new InvalidArgumentError(`invalid queue name "${String(name)}" (allowed: [A-Za-z0-9][A-Za-z0-9._-]{0,63})`);
    if (isInternalQueueName(name)) {
      throw new ValidationError(`queue name "${name}" is reserved: names starting with "${INTERNAL_QUEUE_PREFIX}" belong to Spool's internal queues`, [
        { path: '/name', message: `the "${INTERNAL_QUEUE_PREFIX}" prefix is reserved for internal queues` },
      ]);
    }
    assertValid(QueueConfigSchema, config, 'queue config');
    // SSRF guard at configuration: `target.url` / `webhook.url` must be http(s) and not a literal private address;
    // and `webhook.events` must name known events.
    const targetErrors = [...queueTargetErrors(config), ...webhookEventErrors(config)];
    if (targetErrors.length > 0) throw new ValidationError(`queue config is invalid: ${targetErrors[0]!.path} ${targetErrors[0]!.message}`, targetErrors);
    const { created, queue } = await this.store.queueUpsert({ name, config });
    return { ...queue, created };
  }

  async getQueue(name: string): Promise<QueueInfo> {
    const queue = await this.store.queueGet(name);
    if (!queue) throw new QueueNotFoundError(name);
    const [stats] = await this.store.queueStatsGet({ queues: [name] });
    return { ...queue, stats: stats! };
  }

  async listQueues(): Promise<QueueInfo[]> {
    const queues = await this.store.queueList();
    const stats = await this.store.queueStatsGet({ queues: queues.map((q) => q.name) });
    return queues.map((q, i) => ({ ...q, stats: stats[i]! }));
  }

  async pauseQueue(name: string): Promise<QueueRecord> {
    const q = await this.store.queueSetPaused({ name, paused: true });
    if (!q) throw new QueueNotFoundError(name);
    return q;
  }

  async resumeQueue(name: string): Promise<QueueRecord> {
    const q = await this.store.queueSetPaused({ name, paused: false });
    if (!q) throw new QueueNotFoundError(name);
    return q;
  }

  // ── job types and handlers ──────────────────────────────────────────────────────────────────────────

  defineJob<S extends TSchema, R = unknown>(def: JobTypeDefinition<Static<S>, R> & { schema: S }): JobType<Static<S>, R>;
  defineJob<P = unknown, R = unknown>(def: JobTypeDefinition<P, R>): JobType<P, R>;
  defineJob<P, R>(def: JobTypeDefinition<P, R>): JobType<P, R> {
    if (!isValidQueueName(def.queue)) throw new InvalidArgumentError(`invalid queue name "${String(def.queue)}"`);
    this.#types.define(def as JobTypeDefinition);
    return {
      definition: def,
      enqueue: (payload, options = {}) => this.enqueue(def.queue, payload, { ...options, type: def.type }),
    };
  }

  /** Handle jobs of a queue that have no type, or a type without its own handler. */
  handle(queue: string, handler: Handler): void {
    if (!isValidQueueName(queue)) throw new InvalidArgumentError(`invalid queue name "${String(queue)}"`);
    this.#queueHandlers.set(queue, handler);
  }

  // ── enqueue ─────────────────────────────────────────────────────────────────────────────────────────

  /**
   * Durably enqueue one job; resolves after the commit. With `tx`, the job is written into the caller's
   * transaction instead and commits or rolls back with it (a failure leaves nothing in that transaction).
   */
  enqueue(queue: string, payload: unknown, options: EnqueueOptions & TransactionOption = {}): Promise<EnqueueResult> {
    const { tx, ...rest } = options;
    const item: EnqueueItem = { ...rest, queue, payload };
    if (this.#tracing) return this.#tracing.send([item], ([traced]) => this.#enqueueOne(traced!, tx));
    return this.#enqueueOne(item, tx);
  }

  #enqueueOne(item: EnqueueItem, tx: StoreTx | undefined): Promise<EnqueueResult> {
    if (tx !== undefined) return this.#enqueueInTx(tx, [item], 'one').then((r) => r[0] as EnqueueResult);
    if (this.#closed) return Promise.reject(new SpoolError('store_closed', 'spool is closed'));
    let params: JobInsertParams;
    try {
      params = prepareInsert(item, this.#types);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.#inserts.add(params);
  }

  /**
   * Check an enqueue exactly as `enqueue` would before writing (queue name, options, the job type's payload
   * schema) and write nothing: throws the same error. The HTTP API's dry runs and batch pre-checks use it.
   */
  validateEnqueue(queue: string, payload: unknown, options: EnqueueOptions = {}): void {
    prepareInsert({ ...options, queue, payload }, this.#types);
  }

  /**
   * Enqueue several jobs in one transaction. Without `atomic`, each item succeeds or fails on its own and
   * the first failure rejects the call (the other items are written; `enqueueManySettled` reports each). With
   * `atomic`, or with `tx`, the call is all-or-nothing: a failing item rejects it and nothing is written.
   */
  enqueueMany(items: readonly EnqueueItem[], options: EnqueueManyOptions = {}): Promise<EnqueueResult[]> {
    const { tx } = options;
    if (tx !== undefined) return this.#traced(items, (traced) => this.#enqueueInTx(tx, traced, 'all')) as Promise<EnqueueResult[]>;
    return this.enqueueManySettled(items, options).then((settled) => {
      const failed = settled.find((r): r is Error => r instanceof Error);
      if (failed) throw failed;
      return settled as EnqueueResult[];
    });
  }

  /**
   * Like enqueueMany, but returns each item's result or Error instead of rejecting. With `tx` (and without
   * `atomic`) a failed item leaves nothing in the caller's transaction and the others are written into it.
   */
  enqueueManySettled(items: readonly EnqueueItem[], options: EnqueueManyOptions = {}): Promise<Array<EnqueueResult | Error>> {
    return this.#traced(items, (traced) => this.#enqueueManySettled(traced, options));
  }

  /** Run an enqueue call in a PRODUCER span when the OpenTelemetry hook is on (otel.ts). */
  #traced<R>(items: readonly EnqueueItem[], run: (items: readonly EnqueueItem[]) => Promise<R>): Promise<R> {
    return this.#tracing ? this.#tracing.send(items, run) : run(items);
  }

  #enqueueManySettled(items: readonly EnqueueItem[], options: EnqueueManyOptions): Promise<Array<EnqueueResult | Error>> {
    if (options.tx !== undefined) return this.#enqueueInTx(options.tx, items, options.atomic ? 'all' : 'settled');
    if (this.#closed) return Promise.reject(new SpoolError('store_closed', 'spool is closed'));
    let prepared: Array<JobInsertParams | Error>;
    try {
      prepared = this.#prepareAll(items, options.atomic ?? false);
    } catch (error) {
      return Promise.reject(error);
    }
    const valid = prepared.filter((p): p is JobInsertParams => !(p instanceof Error));
    return this.store.jobInsertMany({ jobs: valid, ...(options.atomic ? { atomic: true } : {}) }).then((results) => {
      if (options.atomic) {
        const culprit = atomicCulprit(results);
        if (culprit) throw culprit;
      }
      return merge(prepared, results);
    });
  }

  /**
   * Enqueue into the caller's transaction. `one` (enqueue) and `all` (enqueueMany) are all-or-nothing: the
   * store runs the batch atomically inside its savepoint, so a failing item leaves none of the call's rows in
   * the caller's transaction; `settled` keeps per-item results (a failed item writes nothing).
   *
   * A SQLite `tx` is synchronous end to end (the store writes during the call and throws its failures): so
   * that an enqueue inside better-sqlite3's `db.transaction(fn)` can roll `fn` back, every failure of the
   * call — closed, invalid, refused by the store — is thrown rather than rejected. On PostgreSQL they reject.
   */
  #enqueueInTx(tx: StoreTx, items: readonly EnqueueItem[], mode: 'one' | 'all' | 'settled'): Promise<Array<EnqueueResult | Error>> {
    const run = (): Promise<Array<EnqueueResult | Error>> => {
      if (this.#closed) throw new SpoolError('store_closed', 'spool is closed');
      const prepared = mode === 'one' ? [prepareInsert(items[0]!, this.#types)] : this.#prepareAll(items, mode === 'all');
      const valid = prepared.filter((p): p is JobInsertParams => !(p instanceof Error));
      const pending = this.store.jobInsertMany({ jobs: valid, tx, ...(mode === 'settled' ? {} : { atomic: true }) });
      return pending.then((results) => {
        const culprit = mode === 'settled' ? undefined : atomicCulprit(results);
        if (culprit) throw culprit;
        return merge(prepared, results);
      });
    };
    if (this.store.kind === 'sqlite') return run();
    try {
      return run();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * Validate and serialise each item: an Error in its place when it is invalid, or — when `atomic` — the first
   * invalid item's error thrown, its field paths under `/jobs/<index>`.
   */
  #prepareAll(items: readonly EnqueueItem[], atomic: boolean): Array<JobInsertParams | Error> {
    return items.map((item, i) => {
      try {
        return prepareInsert(item, this.#types);
      } catch (error) {
        if (!atomic) return error as Error;
        if (error instanceof ValidationError) {
          throw new ValidationError(`item ${i}: ${error.message}`, error.errors.map((e) => ({ ...e, path: `/jobs/${i}${e.path}` })));
        }
        throw error;
      }
    });
  }

  async #insertMany(items: JobInsertParams[]): Promise<Array<EnqueueResult | Error>> {
    const results = await this.store.jobInsertMany({ jobs: items });
    let scheduled = false;
    const out = results.map((r) => {
      const e = toEnqueueResult(r);
      if (!(e instanceof Error) && e.state === 'scheduled') scheduled = true;
      return e;
    });
    if (scheduled) this.#nudgeSchedulers();
    return out;
  }

  // ── topics and schedules (engine/topics.ts, engine/schedules.ts) ─────────────────────────────────────

  /** Create or replace a topic: the declared queues each of its events fans out to. */
  putTopic(name: string, config: topics.TopicConfig): Promise<topics.Topic & { created: boolean }> {
    return topics.putTopic(this.store, name, config);
  }

  getTopic(name: string): Promise<topics.Topic> {
    return topics.getTopic(this.store, name);
  }

  listTopics(): Promise<topics.Topic[]> {
    return topics.listTopics(this.store);
  }

  deleteTopic(name: string): Promise<boolean> {
    return topics.deleteTopic(this.store, name);
  }

  /** One job per queue of the topic, committed together or not at all; `idempotencyKey` is the event's key. */
  publish(topic: string, payload: unknown, options: topics.PublishOptions = {}): Promise<topics.PublishResult> {
    return topics.publish(this, topic, payload, options);
  }

  /** Create or update a recurring job; the maintenance leader enqueues each due time once (schedule runner). */
  async putSchedule(name: string, config: schedules.ScheduleConfig): Promise<schedules.Schedule & { created: boolean }> {
    const schedule = await schedules.putSchedule(this, name, config);
    this.#maintainer?.schedules.nudge();
    for (const w of this.#workers) w.maintainer?.schedules.nudge();
    return schedule;
  }

  getSchedule(name: string): Promise<schedules.Schedule> {
    return schedules.getSchedule(this.store, name);
  }

  listSchedules(): Promise<schedules.Schedule[]> {
    return schedules.listSchedules(this.store);
  }

  deleteSchedule(name: string): Promise<boolean> {
    return schedules.deleteSchedule(this.store, name);
  }

  // ── status and operations ───────────────────────────────────────────────────────────────────────────

  async getJob(id: string): Promise<Job> {
    const [job] = await this.store.jobGetMany({ ids: [id] });
    if (!job) throw new JobNotFoundError(id);
    return job;
  }

  /**
   * A job's payload, also one stored as a blob (over 256 KiB: `getJob` answers `payload: null` and
   * `payloadBytes` for those). JobNotFoundError when there is no such job.
   */
  async getPayload(id: string): Promise<unknown> {
    return JSON.parse((await this.getPayloadBytes(id)).toString('utf8'));
  }

  /** The payload's JSON text as UTF-8 bytes, unparsed (the HTTP payload endpoint sends these as they are). */
  async getPayloadBytes(id: string): Promise<Buffer> {
    const bytes = await this.store.jobPayloadGet({ id });
    if (!bytes) throw new JobNotFoundError(id);
    return bytes;
  }

  /**
   * Follow a job: `listener` hears its state and history after each change this process or the store reports
   * (at the latest every second), and null once the job is gone. Returns the function that stops it.
   * One store subscription and one batched read serve every watched job.
   */
  watchJob(id: string, listener: JobWatchListener): () => void {
    return this.#watcher.watch(id, listener);
  }

  /** How many jobs are being followed now (watchJob, the HTTP event streams): diagnostics. */
  get watchedJobs(): number {
    return this.#watcher.size;
  }

  async listJobs(filter: { queue?: string; state?: JobState; type?: string; correlationId?: string; limit?: number; cursor?: string | null } = {}) {
    return this.store.jobList({ ...filter, limit: filter.limit ?? 50 });
  }

  /** Cancel a waiting job (scheduled, queued, retrying). Active or finished jobs: InvalidTransitionError. */
  async cancel(id: string): Promise<Job> {
    const [r] = await this.store.jobCancelMany({ ids: [id] });
    if (!r || r.state === null) throw new JobNotFoundError(id);
    if (!r.ok) throw new InvalidTransitionError(id, r.state, 'cancel');
    const job = await this.getJob(id);
    logJobEvent(this.log, 'info', 'job.cancelled', { id, queue: job.queue, attempt: job.attempts, correlationId: job.correlationId }, null);
    return job;
  }

  /** Wait until a job is terminal (or the timeout passes); returns the job as last seen. */
  async waitFor(id: string, options: { timeoutMs?: number; pollMs?: number } = {}): Promise<Job> {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    for (;;) {
      const job = await this.getJob(id);
      if (job.state === 'completed' || job.state === 'dead' || job.state === 'cancelled' || Date.now() >= deadline) return job;
      await new Promise((r) => setTimeout(r, options.pollMs ?? 50));
    }
  }

  readonly dlq = {
    list: async (queue: string, options: { limit?: number; cursor?: string | null } = {}) => {
      if (!(await this.store.queueGet(queue))) throw new QueueNotFoundError(queue);
      return this.store.jobList({ queue, state: 'dead', limit: options.limit ?? 50, cursor: options.cursor ?? null });
    },
    /** Replay dead jobs (by id, or all): back to queued with attempts reset; recorded in their history. */
    replay: async (queue: string, options: { ids?: readonly string[]; all?: boolean; dryRun?: boolean }) => {
      if (!options.ids && !options.all) throw new InvalidArgumentError('give ids or all: true');
      if (!options.all) {
        const r = await this.store.jobReplayDead({ queue, ...options });
        if (!options.dryRun) await logReplayed(this.log, this.store, queue, r.ids);
        return r;
      }
      if (options.dryRun) {
        const [stats] = await this.store.queueStatsGet({ queues: [queue] });
        if (!(await this.store.queueGet(queue))) throw new QueueNotFoundError(queue);
        return { count: stats?.counts.dead ?? 0, ids: [] as string[] };
      }
      let count = 0;
      const ids: string[] = [];
      for (;;) {
        const r = await this.store.jobReplayDead({ queue, all: true, limit: 1000 });
        count += r.count;
        if (ids.length < 10_000) ids.push(...r.ids);
        await logReplayed(this.log, this.store, queue, r.ids);
        if (r.count < 1000) return { count, ids };
      }
    },
    purge: async (queue: string, id: string): Promise<boolean> => {
      const purged = await this.store.jobDeleteDead({ queue, id });
      if (purged) logJobEvent(this.log, 'info', 'job.purged', { id, queue, attempt: 0, correlationId: null }, null);
      return purged;
    },
  };

  async stats(queue?: string): Promise<QueueStats[]> {
    return this.store.queueStatsGet(queue ? { queues: [queue] } : {});
  }

  /**
   * Every queue's maintained stats (or those of `queues`) as one typed snapshot: counts by state, oldest
   * waiting age, monotonic totals and latency histograms. One stats read, no job-table scan; the same values
   * on every process sharing the store. `metricsRegistry()` exports them to Prometheus.
   */
  async metrics(options: { queues?: readonly string[] } = {}): Promise<MetricsSnapshot> {
    const queues = await this.store.queueStatsGet(options.queues ? { queues: options.queues } : {});
    return { at: new Date(), queues };
  }

  /**
   * A prom-client Registry with the queue series (README "Metrics"): each collection reads the store once.
   * Serve `await registry.metrics()` yourself, or merge it with your own: `Registry.merge([register, r])`.
   */
  metricsRegistry(): Registry {
    return (this.#metricsRegistry ??= queueMetricsRegistry(() => this.metrics()));
  }

  /** The queue series in Prometheus text format (0.0.4). */
  metricsText(): Promise<string> {
    return this.metricsRegistry().metrics();
  }

  /**
   * A queue's stats over the last `windowSeconds` in points of `stepSeconds` (engine/queue-series.ts): depth,
   * oldest age, throughput, failures, dead and latency percentiles, from the samples the maintenance leader
   * records every 10 s (so a process that runs maintenance must be up for points to appear).
   */
  async queueSeries(name: string, options: SeriesOptions = {}): Promise<QueueSeries> {
    const record = await this.store.queueGet(name);
    if (!record) throw new QueueNotFoundError(name);
    return queueSeries(this.store, record, options);
  }

  // ── workers ─────────────────────────────────────────────────────────────────────────────────────────

  /** Start an in-process worker for the given queues (default: every queue with a defined job type or handler). */
  async work(options: WorkOptions = {}): Promise<Worker> {
    const handlers = options.handlers ?? {};
    const queues = options.queues ?? (await this.#queuesFor(handlers));
    if (queues.length === 0) {
      const keys = Object.keys(handlers);
      throw new InvalidArgumentError(
        keys.length > 0
          ? `no queues to work on: ${keys.map((k) => `"${k}"`).join(', ')} names neither a declared queue nor a defined job type (declare the queue, or name the queues to serve)`
          : 'no queues to work on: define job types, call handle(), or pass queues',
      );
    }
    for (const q of queues) if (!(await this.store.queueGet(q))) throw new QueueNotFoundError(q);
    const worker = new Worker(
      {
        store: this.store,
        log: this.log,
        jobType: (type) => (type ? this.#types.get(type) : undefined),
        nudgeScheduler: () => {
          for (const w of this.#workers) w.maintainer?.nudgeScheduler();
        },
        tracing: this.#tracing,
        resolve: (job): ResolvedHandler | undefined => {
          const def = job.type ? this.#types.get(job.type) : undefined;
          const handler = (job.type ? (handlers[job.type] ?? def?.handler) : undefined) ?? handlers[job.queue] ?? this.#queueHandlers.get(job.queue);
          if (!handler) return undefined;
          return def ? { handler, def } : { handler };
        },
      },
      { ...options, queues },
    );
    this.#workers.add(worker);
    await worker.start();
    if (options.webhooks !== false) await this.startWebhooks(typeof options.webhooks === 'object' ? options.webhooks : {});
    return worker;
  }

  /**
   * Deliver webhook notifications from this process: a worker over the internal queue `spool.webhooks`
   * (README "Webhooks"), with its own concurrency, so slow endpoints never hold up job processing. Started
   * once per Spool (later calls return the running dispatcher and ignore their options); `work()` starts it
   * unless told `webhooks: false`; `close()` stops it.
   */
  startWebhooks(options: WebhookDispatcherOptions = {}): Promise<WebhookDispatcher> {
    if (this.#closed) return Promise.reject(new SpoolError('store_closed', 'spool is closed'));
    this.#webhooks ??= (async () => {
      const dispatcher = new WebhookDispatcher(this, options);
      await dispatcher.start();
      return dispatcher;
    })();
    return this.#webhooks;
  }

  /**
   * Take part in maintenance (lease reaper, scheduler, retention, counter folding; leader-elected across every
   * process on the store) without running handlers: `spool serve` does this, so that remote workers' expired
   * leases come back and their retries come due. A worker started by `work()` maintains too; both are fine
   * (one leader is elected). Idempotent; stopped by `close()`.
   */
  maintain(options: MaintainerOptions = {}): Maintainer {
    if (this.#closed) throw new SpoolError('store_closed', 'spool is closed');
    if (!this.#maintainer) {
      this.#maintainer = new Maintainer(
        this.store,
        this.log,
        {
          queueConfig: async (queue) => (await this.store.queueGet(queue))?.config ?? {},
          jobType: (type) => (type ? this.#types.get(type) : undefined),
        },
        options,
      );
      this.#maintainer.start();
    }
    return this.#maintainer;
  }

  #nudgeSchedulers(): void {
    this.#maintainer?.nudgeScheduler();
    for (const w of this.#workers) w.maintainer?.nudgeScheduler();
  }

  /**
   * The queues to serve when none are named: those of defined job types and of `handle()`, plus each handler
   * key that is a defined job type (its queue) or a declared queue. A key that is neither is a handler for
   * a job type this process did not define; it needs `queues` to say where those jobs live.
   */
  async #queuesFor(handlers: Readonly<Record<string, Handler>>): Promise<string[]> {
    const queues = new Set([...this.#types.all().map((t) => t.queue), ...this.#queueHandlers.keys()]);
    for (const key of Object.keys(handlers)) {
      const def = this.#types.get(key);
      if (def) queues.add(def.queue);
      else if (isValidQueueName(key) && (await this.store.queueGet(key))) queues.add(key);
    }
    return [...queues];
  }

  /** Stop every worker (gracefully) and close the store if this facade opened it. */
  async close(options: { graceMs?: number } = {}): Promise<void> {
    if (this.#closed) return;
    this.leases.close();
    this.#watcher.close();
    const webhooks = await this.#webhooks?.catch(() => null);
    await Promise.all([webhooks?.stop(options), ...[...this.#workers].map((w) => w.stop(options))]);
    await this.#maintainer?.stop();
    this.#closed = true;
    if (this.#ownsStore) await this.store.close();
  }
}

/** The answers of the valid items (`results`, in order) put back in place among the invalid ones. */
function merge(prepared: ReadonlyArray<JobInsertParams | Error>, results: readonly JobInsertResult[]): Array<EnqueueResult | Error> {
  let k = 0;
  return prepared.map((p) => (p instanceof Error ? p : toEnqueueResult(results[k++]!)));
}

/**
 * Why an atomic batch was rejected: the store answers the culprit with its own error and every other item with
 * a generic "batch rejected" (invalid_argument), which only says to look elsewhere.
 */
function atomicCulprit(results: readonly JobInsertResult[]): SpoolError | undefined {
  const errors = results.flatMap((r) => (r.ok ? [] : [r.error]));
  return errors.find((e) => e.code !== 'invalid_argument') ?? errors[0];
}

function toEnqueueResult(r: JobInsertResult): EnqueueResult | Error {
  if (!r.ok) return r.error;
  const { id, queue, state, createdAt, runAt } = r.receipt;
  return { id, queue, state, createdAt, runAt, replayed: r.replayed };
}
