/**
 * Remote workers' side of the engine (the pull API): lease jobs of a queue, with a long poll, and settle them
 * with ack / nack / extend / progress / release, each fenced by the lease token — a stale token (the lease
 * expired and the job moved on, or it belongs to someone else) is a LeaseLostError, an unknown job a
 * JobNotFoundError. The HTTP routes call this through the facade (`spool.leases`) and nothing else.
 *
 * A nack goes through the same failure decision as an in-process attempt (`failureOutcome`: the attempt
 * budget, backoff from job > job type > queue > default; `retryable: false` → dead; `retryAfterSeconds`
 * overrides the delay, never the budget). Leases that run out are the lease reaper's (the maintainer's):
 * they count as a failed attempt exactly like an in-process worker's.
 *
 * Leases are judged by the store's clock. A lease that ran out but whose job nobody has touched since (the
 * reaper has not come round, no one else claimed it) still matches its token, so a late ack lands — as with
 * an SQS receipt handle; once the job moved on, the old token answers 409.
 *
 * Job events are logged here, on the server, in the shape of observability/job-log.ts: leased and acked at
 * debug, released at info, a nack at warn (or `job.dead` at error).
 */
import { InvalidArgumentError, JobNotFoundError, LeaseLostError, QueueNotFoundError, ShuttingDownError } from '../core/errors.js';
import type { Job, JobError } from '../core/job.js';
import type { Priority } from '../core/priority.js';
import { DEFAULTS, resolveRunSettings, type QueueConfig, type RunSettings } from '../core/queue-config.js';
import { failureOutcome } from '../core/retry.js';
import type { JobState } from '../core/states.js';
import type { Logger } from '../logger.js';
import { logJobEvent, logJobFailure, traceparentOf, traceparentOfJson, type JobRef } from '../observability/job-log.js';
import type { ClaimedJob, FencedResult, Store } from '../storage/store.js';
import type { JobTypeDefinition } from './job-types.js';
import { LeaseWaiters } from './lease-waiters.js';
import { resultJsonOf } from '../core/job-result.js';

export const MAX_LEASE_BATCH = 100;
export const MAX_WAIT_SECONDS = 30;
export const MAX_LEASE_SECONDS = 86_400;

export interface LeaseOptions {
  /** How many jobs at most (1–100). */
  readonly max: number;
  /** Lease length for jobs without their own (default: the queue's `leaseSeconds`, else 30). */
  readonly leaseSeconds?: number | undefined;
  /** Long poll: wait up to this long (≤ 30 s) for claimable jobs when there are none. Default 0. */
  readonly waitSeconds?: number | undefined;
  /** Aborts when the caller went away: the wait ends and nothing stays leased for it. */
  readonly signal?: AbortSignal | undefined;
}

/** A leased job as a remote worker receives it. */
export interface LeasedJob {
  readonly id: string;
  readonly queue: string;
  readonly type: string | null;
  readonly version: number;
  readonly payload: unknown;
  /** 1-based number of this attempt. */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly priority: Priority;
  readonly orderingKey: string | null;
  readonly groupKey: string | null;
  readonly correlationId: string | null;
  readonly createdAt: Date;
  readonly runAt: Date;
  readonly leaseToken: string;
  readonly leaseExpiresAt: Date;
  /** W3C traceparent kept with the job (null: none); a remote handler gets it as `ctx.traceparent`. */
  readonly traceparent: string | null;
  /** The lease granted (the job's own, else the request's, else the queue's); extend with it. */
  readonly leaseSeconds: number;
  /** Longest run of this attempt (job > job type > queue > default); the worker aborts the handler after it. */
  readonly timeoutSeconds: number;
}

export interface NackOptions {
  readonly leaseToken: string;
  readonly error: JobError;
  /** Delay before the next attempt, instead of the backoff (the attempt budget still applies). */
  readonly retryAfterSeconds?: number | undefined;
}

export interface NackResult {
  readonly id: string;
  readonly state: Extract<JobState, 'retrying' | 'dead'>;
  /** When the next attempt may start (null when dead). */
  readonly runAt: Date | null;
}

export interface RemoteLeasesDeps {
  readonly store: Store;
  readonly log: Logger;
  readonly jobType: (type: string) => JobTypeDefinition | undefined;
  /** A job went to `retrying`: the scheduler should aim at its due time. */
  readonly nudgeScheduler: () => void;
}

/** What a nack needs to decide, kept from the claim (a nack on another node reads the job instead). */
interface LeaseInfo extends JobRef {
  readonly token: string;
  readonly type: string | null;
  readonly maxAttempts: number;
  readonly optionsJson: string | null;
}

const LEASE_INFO_LIMIT = 100_000;
const CONFIG_TTL_MS = 1000;
const MAX_ERROR_MESSAGE = 2000;
const MAX_ERROR_STACK = 4000;

export class RemoteLeases {
  readonly #deps: RemoteLeasesDeps;
  readonly #waiters: LeaseWaiters;
  readonly #leases = new Map<string, LeaseInfo>();
  readonly #configs = new Map<string, { config: QueueConfig; at: number }>();
  #closed = false;

  constructor(deps: RemoteLeasesDeps) {
    this.#deps = deps;
    this.#waiters = new LeaseWaiters({
      subscribe: (listener) => deps.store.subscribe(listener),
      claim: (queue, max, leaseMs) => this.#claim(queue, max, leaseMs),
      release: (jobs) => this.#release(jobs),
      nextLeaseExpiryMs: (queue) => deps.store.jobLeaseNextExpiryMs({ queue }),
      log: deps.log,
    });
  }

  /** True once `close()` ran (the server is shutting down). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Long polls waiting right now. */
  get waiting(): number {
    return this.#waiters.waiting;
  }

  /**
   * Lease up to `max` claimable jobs of `queue`; with `waitSeconds`, wait that long for some when there are
   * none (a commit that makes jobs claimable answers at once). A paused queue leases nothing.
   */
  async lease(queue: string, options: LeaseOptions): Promise<LeasedJob[]> {
    if (this.#closed) throw new ShuttingDownError('not leasing: the server is shutting down');
    const { max, leaseSeconds, waitSeconds = 0 } = options;
    if (!Number.isInteger(max) || max < 1 || max > MAX_LEASE_BATCH) throw new InvalidArgumentError(`max must be an integer from 1 to ${MAX_LEASE_BATCH}`);
    if (leaseSeconds !== undefined && !(leaseSeconds >= 1 && leaseSeconds <= MAX_LEASE_SECONDS)) {
      throw new InvalidArgumentError(`leaseSeconds must be from 1 to ${MAX_LEASE_SECONDS}`);
    }
    if (!(waitSeconds >= 0 && waitSeconds <= MAX_WAIT_SECONDS)) throw new InvalidArgumentError(`waitSeconds must be from 0 to ${MAX_WAIT_SECONDS}`);
    const config = await this.#queueConfig(queue, true);
    const leaseMs = Math.round((leaseSeconds ?? config.leaseSeconds ?? DEFAULTS.leaseSeconds) * 1000);
    const claimed =
      waitSeconds > 0
        ? await this.#waiters.wait({ queue, max, leaseMs, waitMs: Math.round(waitSeconds * 1000), signal: options.signal })
        : await this.#claim(queue, max, leaseMs);
    if (options.signal?.aborted && claimed.length > 0) {
      // The caller left while the claim ran: nobody will work these, so they go back at once.
      await this.#release(claimed);
      return [];
    }
    return claimed.map((job) => {
      const leased = this.#toLeased(job, config);
      logJobEvent(this.#deps.log, 'debug', 'job.leased', job, leased.traceparent);
      return leased;
    });
  }

  /** Complete a leased job. */
  async ack(id: string, params: { leaseToken: string; result?: unknown }): Promise<{ id: string; state: 'completed' }> {
    const resultJson = resultJsonOf(params.result); // over 64 KiB: ResultTooLargeError, the lease kept
    const known = this.#known(id, params.leaseToken);
    const [r] = await this.#deps.store.jobCompleteMany({ jobs: [{ id, leaseToken: params.leaseToken, resultJson }] });
    this.#settled(id, r!);
    await this.#logSettled('debug', 'job.completed', id, known);
    return { id, state: 'completed' };
  }

  /** Fail the attempt: retrying with backoff, or dead when attempts are spent or the error is not retryable. */
  async nack(id: string, params: NackOptions): Promise<NackResult> {
    const info = await this.#leaseInfo(id, params.leaseToken);
    const options = info.optionsJson ? (JSON.parse(info.optionsJson) as RunSettings) : {};
    const def = info.type ? this.#deps.jobType(info.type) : undefined;
    const settings = resolveRunSettings(options, def, await this.#queueConfig(info.queue, false));
    const decision = failureOutcome({ maxAttempts: info.maxAttempts, backoff: settings.retry.backoff }, info.attempt, {
      retryable: params.error.retryable !== false,
      retryAfterMs: params.retryAfterSeconds != null ? params.retryAfterSeconds * 1000 : null,
    });
    const error = boundedError(params.error, decision.to === 'dead' && params.error.retryable === false);
    const retryDelayMs = decision.to === 'retrying' ? decision.delayMs : 0;
    const [r] = await this.#deps.store.jobFailMany({ jobs: [{ id, leaseToken: params.leaseToken, to: decision.to, retryDelayMs, error, reason: 'fail' }] });
    this.#settled(id, r!);
    logJobFailure(this.#deps.log, info, traceparentOfJson(info.optionsJson), { reason: 'nack', error, to: decision.to, retryDelayMs });
    if (decision.to === 'retrying') this.#deps.nudgeScheduler();
    const [job] = await this.#deps.store.jobGetMany({ ids: [id] });
    return { id, state: decision.to, runAt: decision.to === 'retrying' ? (job?.runAt ?? null) : null };
  }

  /** Extend the lease to `leaseSeconds` from now (store clock), never earlier than it already expires. */
  async extend(id: string, params: { leaseToken: string; leaseSeconds: number }): Promise<{ id: string; leaseExpiresAt: Date }> {
    if (!(params.leaseSeconds >= 1 && params.leaseSeconds <= MAX_LEASE_SECONDS)) {
      throw new InvalidArgumentError(`leaseSeconds must be from 1 to ${MAX_LEASE_SECONDS}`);
    }
    const [r] = await this.#deps.store.jobExtendMany({ jobs: [{ id, leaseToken: params.leaseToken, leaseMs: Math.round(params.leaseSeconds * 1000) }] });
    if (!r?.ok || r.leaseExpiresAt === null) {
      const [job] = await this.#deps.store.jobGetMany({ ids: [id] });
      this.#settled(id, { ok: false, state: job?.state ?? null });
    }
    return { id, leaseExpiresAt: new Date(r!.leaseExpiresAt!) };
  }

  /** Record progress (any JSON value) on a leased job. */
  async progress(id: string, params: { leaseToken: string; progress: unknown }): Promise<{ id: string; progress: unknown }> {
    const r = await this.#deps.store.jobProgressSet({ id, leaseToken: params.leaseToken, progressJson: JSON.stringify(params.progress ?? null) });
    if (!r.ok) this.#settled(id, r);
    return { id, progress: params.progress ?? null };
  }

  /** Give a leased job back at once, the attempt not spent (a worker shutting down). */
  async release(id: string, params: { leaseToken: string }): Promise<{ id: string; state: 'queued' }> {
    const known = this.#known(id, params.leaseToken);
    const [r] = await this.#deps.store.jobReleaseMany({ jobs: [{ id, leaseToken: params.leaseToken }] });
    this.#settled(id, r!);
    await this.#logSettled('info', 'job.released', id, known);
    return { id, state: 'queued' };
  }

  /** End every long poll now (answered with no jobs) and refuse new leases: the server is shutting down. */
  close(): void {
    this.#closed = true;
    this.#waiters.close();
  }

  async #claim(queue: string, max: number, leaseMs: number): Promise<ClaimedJob[]> {
    const jobs = await this.#deps.store.jobClaimMany({ queue, max, leaseMs, workerId: 'remote' });
    if (this.#leases.size + jobs.length > LEASE_INFO_LIMIT) {
      // Leases whose workers vanished are never acked: drop the oldest tenth (a nack then reads the job).
      let drop = Math.ceil(LEASE_INFO_LIMIT / 10);
      for (const key of this.#leases.keys()) {
        if (drop-- <= 0) break;
        this.#leases.delete(key);
      }
    }
    for (const j of jobs) {
      this.#leases.set(j.id, {
        id: j.id,
        token: j.leaseToken,
        queue: j.queue,
        type: j.type,
        attempt: j.attempt,
        maxAttempts: j.maxAttempts,
        correlationId: j.correlationId,
        optionsJson: j.optionsJson,
      });
    }
    return jobs;
  }

  async #release(jobs: readonly ClaimedJob[]): Promise<void> {
    await this.#deps.store.jobReleaseMany({ jobs: jobs.map((j) => ({ id: j.id, leaseToken: j.leaseToken })) });
    for (const j of jobs) this.#leases.delete(j.id);
  }

  #toLeased(job: ClaimedJob, config: QueueConfig): LeasedJob {
    const options = job.optionsJson ? (JSON.parse(job.optionsJson) as RunSettings & { meta?: Record<string, string> }) : {};
    const def = job.type ? this.#deps.jobType(job.type) : undefined;
    return {
      id: job.id,
      queue: job.queue,
      type: job.type,
      version: job.version,
      payload: this.#payloadOf(job),
      attempt: job.attempt,
      maxAttempts: job.maxAttempts,
      priority: job.priority,
      orderingKey: job.orderingKey,
      groupKey: job.groupKey,
      correlationId: job.correlationId,
      createdAt: new Date(job.createdAt),
      runAt: new Date(job.runAt),
      leaseToken: job.leaseToken,
      leaseExpiresAt: new Date(job.leaseExpiresAt),
      traceparent: traceparentOf(options),
      leaseSeconds: job.leaseMs / 1000,
      timeoutSeconds: resolveRunSettings(options, def, config).timeoutSeconds,
    };
  }

  /**
   * The job's full payload: a payload stored as a blob (over 256 KiB) was already read back by the store's
   * claim (storage/blob-refs.ts), so leases always carry the full payload.
   */
  #payloadOf(job: ClaimedJob): unknown {
    return JSON.parse(job.payloadJson);
  }

  /** A fenced write's answer: forget the lease when it is over; 404 / 409 when it failed. */
  #settled(id: string, r: FencedResult): void {
    if (r.ok) {
      this.#leases.delete(id);
      return;
    }
    if (r.state !== 'active') this.#leases.delete(id);
    if (r.state === null) throw new JobNotFoundError(id);
    throw new LeaseLostError(id);
  }

  async #leaseInfo(id: string, leaseToken: string): Promise<LeaseInfo> {
    const known = this.#known(id, leaseToken);
    if (known) return known;
    // Leased through another node (or before a restart): the job row has what the decision needs.
    const [job] = await this.#deps.store.jobGetMany({ ids: [id] });
    if (!job) throw new JobNotFoundError(id);
    if (job.state !== 'active') throw new LeaseLostError(id);
    return leaseInfoOf(job, leaseToken);
  }

  /** What this node knows of a lease (claimed here, token matching), without a store read. */
  #known(id: string, leaseToken: string): LeaseInfo | undefined {
    const known = this.#leases.get(id);
    return known && known.token === leaseToken ? known : undefined;
  }

  /**
   * Log an ack or release that landed. A lease taken through another node (or before a restart) is not known
   * here: its job is read for the line, only when the level is on.
   */
  async #logSettled(level: 'debug' | 'info', event: 'job.completed' | 'job.released', id: string, known: LeaseInfo | undefined): Promise<void> {
    if (!this.#deps.log.isLevelEnabled(level)) return;
    let info = known;
    if (!info) {
      const [job] = await this.#deps.store.jobGetMany({ ids: [id] }).catch(() => []);
      info = job ? leaseInfoOf(job, '') : { ...UNKNOWN_LEASE, id };
    }
    logJobEvent(this.#deps.log, level, event, info, traceparentOfJson(info.optionsJson), () => ({ remote: true }));
  }

  /** The queue's config; `must` → QueueNotFoundError when it is not declared. Positive answers live 1 s. */
  async #queueConfig(queue: string, must: boolean): Promise<QueueConfig> {
    const cached = this.#configs.get(queue);
    const now = Date.now();
    if (cached && now - cached.at < CONFIG_TTL_MS) return cached.config;
    const record = await this.#deps.store.queueGet(queue);
    if (!record) {
      this.#configs.delete(queue);
      if (must) throw new QueueNotFoundError(queue);
      return {};
    }
    if (this.#configs.size > 10_000) this.#configs.clear();
    this.#configs.set(queue, { config: record.config, at: now });
    return record.config;
  }
}

const UNKNOWN_LEASE: LeaseInfo = { id: '', token: '', queue: '', type: null, attempt: 0, maxAttempts: 0, correlationId: null, optionsJson: null };

/**
 * A lease's facts from the job row (leased through another node): no per-job run settings nor traceparent,
 * which only the claim carries (queue and job-type settings still apply to a nack's decision).
 */
function leaseInfoOf(job: Job, leaseToken: string): LeaseInfo {
  return {
    id: job.id,
    token: leaseToken,
    queue: job.queue,
    type: job.type,
    attempt: job.attempts,
    maxAttempts: job.maxAttempts,
    correlationId: job.correlationId,
    optionsJson: null,
  };
}

function boundedError(error: JobError, nonRetryable: boolean): JobError {
  const clip = (s: string, n: number): string => (s.length <= n ? s : `${s.slice(0, n - 1)}…`);
  return {
    message: clip(error.message, MAX_ERROR_MESSAGE),
    ...(error.name !== undefined ? { name: clip(error.name, 200) } : {}),
    ...(error.code !== undefined ? { code: clip(error.code, 200) } : {}),
    ...(error.stack !== undefined ? { stack: clip(error.stack, MAX_ERROR_STACK) } : {}),
    ...(nonRetryable ? { retryable: false } : {}),
  };
}
