/**
 * The executor runs one claimed job: decode and upcast the payload, build the handler's context (signal,
 * progress, durable steps), call the handler and hand the outcome to the completer.
 *
 * It owns the in-flight table. There are no per-job timers: the runtime's single tick calls `sweep()`,
 * which fails attempts past their `timeoutSeconds` and collects the leases that need extending. An attempt
 * that timed out or lost its lease is "settled" at once (its slot frees, its later result is ignored);
 * JavaScript cannot kill the handler, so its signal is aborted and it is expected to stop.
 *
 * Every job event here is logged through observability/job-log.ts (started and completed at debug, failed
 * attempts at warn, dead at error), and with the OpenTelemetry hook each attempt runs inside a CONSUMER span.
 */
import { toJobError, isNonRetryable, retryAfterMsOf, type JobError } from '../core/job.js';
import { resolveRunSettings, type QueueConfig } from '../core/queue-config.js';
import { failureOutcome } from '../core/retry.js';
import { SpoolError } from '../core/errors.js';
import type { ClaimedJob, FencedResult, JobFailParams, Store } from '../storage/store.js';
import { upcast, currentVersion, type JobTypeDefinition } from '../engine/job-types.js';
import type { Logger } from '../logger.js';
import { logJobEvent, logJobFailure, traceparentOf, type FailureReason } from '../observability/job-log.js';
import type { JobTracing } from '../observability/otel.js';
import { traceIdOf } from '../observability/trace-context.js';
import type { Completer } from './completer.js';
import type { Handler, JobContext, JobInfo } from './handler.js';
import { resultJsonOf } from '../core/job-result.js';

/** What the executor needs of a store: progress and durable steps (a remote worker maps these to HTTP). */
export type ExecutorStore = Pick<Store, 'jobProgressSet' | 'jobStepList' | 'jobStepSet'>;

/** Where outcomes go: the completer (in-process), or acks / nacks over HTTP (remote worker). */
export interface OutcomeSink {
  complete: Completer['complete'];
  /**
   * `retryAfterMs`: the delay the handler chose (RetryAfterError), already decided into `params`; the remote
   * completer forwards it, since there the server decides the retry.
   */
  fail(params: JobFailParams, giveUpAt: number, retryAfterMs?: number | null): Promise<FencedResult>;
}

export interface ResolvedHandler {
  readonly handler: Handler;
  readonly def?: JobTypeDefinition;
}

export interface InFlight {
  readonly job: ClaimedJob;
  /** The job's stored W3C traceparent (null: none). */
  readonly traceparent: string | null;
  /** Created on first use of `ctx.signal` (most handlers never read it; one allocation less per job). */
  controller: AbortController | null;
  /** Why the attempt was stopped, if it was (kept until someone asks for the signal). */
  abortReason: unknown;
  readonly deadline: number;
  /** Local time at which the lease runs out (renewed by extensions). */
  leaseExpiresLocal: number;
  settled: boolean;
  /** Frees the job's slot (once). */
  free: () => void;
}

interface JobOptions {
  backoff?: Record<string, number>;
  timeoutSeconds?: number;
  meta?: Record<string, string>;
}

export class Executor {
  readonly #store: ExecutorStore;
  readonly #completer: OutcomeSink;
  readonly #log: Logger;
  readonly #resolve: (job: ClaimedJob) => ResolvedHandler | undefined;
  readonly #timeoutSeen: (timeoutMs: number) => void;
  readonly #queueConfig: (queue: string) => QueueConfig;
  readonly #tracing: JobTracing | null;
  readonly #inFlight = new Map<string, InFlight>();

  constructor(deps: {
    store: ExecutorStore;
    completer: OutcomeSink;
    log: Logger;
    resolve: (job: ClaimedJob) => ResolvedHandler | undefined;
    queueConfig: (queue: string) => QueueConfig;
    /** Called with each attempt's time limit, so the runtime's tick can enforce a short per-job timeout. */
    timeoutSeen?: (timeoutMs: number) => void;
    /** The OpenTelemetry hook (observability/otel.ts), when on. */
    tracing?: JobTracing | null;
  }) {
    this.#store = deps.store;
    this.#completer = deps.completer;
    this.#log = deps.log;
    this.#resolve = deps.resolve;
    this.#timeoutSeen = deps.timeoutSeen ?? (() => {});
    this.#queueConfig = deps.queueConfig;
    this.#tracing = deps.tracing ?? null;
  }

  get inFlight(): ReadonlyMap<string, InFlight> {
    return this.#inFlight;
  }

  /** Run a job; resolves when its slot is free again (handler done, timed out, or lease lost). */
  run(job: ClaimedJob): Promise<void> {
    const resolved = this.#resolve(job);
    const options = job.optionsJson ? (JSON.parse(job.optionsJson) as JobOptions) : {};
    const settings = resolveRunSettings(options as never, resolved?.def, this.#queueConfig(job.queue));
    const now = Date.now();
    this.#timeoutSeen(settings.timeoutSeconds * 1000);
    const entry: InFlight = {
      job,
      traceparent: traceparentOf(options),
      controller: null,
      abortReason: undefined,
      deadline: now + settings.timeoutSeconds * 1000,
      leaseExpiresLocal: now + Math.max(0, job.leaseExpiresAt - now),
      settled: false,
      free: () => {},
    };
    // Keyed by lease token, not job id: a stalled attempt whose lease was taken over may still run here while
    // this worker runs the job's next attempt; each keeps its own entry (extension, timeout, lease loss).
    this.#inFlight.set(job.leaseToken, entry);
    logJobEvent(this.#log, 'debug', 'job.started', job, entry.traceparent);
    return new Promise<void>((release) => {
      const free = (): void => {
        if (this.#inFlight.get(job.leaseToken) === entry) this.#inFlight.delete(job.leaseToken);
        release();
      };
      entry.free = free;
      void this.#execute(entry, resolved, settings.retry.backoff).finally(free);
    });
  }

  async #execute(entry: InFlight, resolved: ResolvedHandler | undefined, backoff: ReturnType<typeof resolveRunSettings>['retry']['backoff']): Promise<void> {
    const { job } = entry;
    let outcome: { ok: true; resultJson: string | null } | { ok: false; error: JobError; retryable: boolean; retryAfterMs: number | null };
    const attempt = async (traceparent: string | null): Promise<unknown> => {
      if (!resolved) throw new SpoolError('job_type_not_found', `no handler for job type "${job.type ?? '(none)'}" on queue "${job.queue}"`);
      let payload: unknown = JSON.parse(job.payloadJson);
      // A job newer than this worker's type (a rolling deploy) fails the attempt — upcast() refuses it — so a
      // worker that knows the version can take the retry; the handler never sees a payload it cannot read.
      if (resolved.def && job.version !== currentVersion(resolved.def)) payload = upcast(resolved.def, payload, job.version);
      return resolved.handler(payload, this.#context(entry, traceparent));
    };
    try {
      const result = await (this.#tracing ? this.#tracing.process(job, entry.traceparent, attempt, () => entry.abortReason) : attempt(entry.traceparent));
      outcome = { ok: true, resultJson: resultJsonOf(result) }; // over 64 KiB: the attempt fails, not retryable
    } catch (thrown) {
      const retryable = !isNonRetryable(thrown);
      outcome = { ok: false, error: toJobError(thrown, retryable ? undefined : false), retryable, retryAfterMs: retryAfterMsOf(thrown) };
    }
    if (entry.settled) {
      if (this.#log.isLevelEnabled('debug')) {
        this.#log.debug({ jobId: job.id, queue: job.queue, attempt: job.attempt }, 'handler finished after its attempt was settled (timeout or lease lost); result ignored');
      }
      return;
    }
    entry.settled = true;
    // Hand the outcome over without waiting for its commit: the slot frees now, so the fetcher's next claim
    // lands in the same transaction as this completion (one fsync per claim batch in a drain, not two).
    // The completer tracks what is unwritten (backpressure, drain at shutdown); if the process dies first,
    // the lease expires and the job runs again — at-least-once.
    const giveUpAt = entry.leaseExpiresLocal;
    if (outcome.ok) {
      void this.#completer.complete({ id: job.id, leaseToken: job.leaseToken, resultJson: outcome.resultJson }, giveUpAt);
      logJobEvent(this.#log, 'debug', 'job.completed', job, entry.traceparent);
      return;
    }
    // A handler may choose the retry's delay (RetryAfterError); the attempt budget still applies.
    const decision = failureOutcome({ maxAttempts: job.maxAttempts, backoff }, job.attempt, { retryable: outcome.retryable, retryAfterMs: outcome.retryAfterMs });
    this.#fail(entry, decision, outcome.error, 'error', giveUpAt, outcome.retryAfterMs);
  }

  /** Hand a failed attempt to the completer and log it (the executor decides; the completer writes). */
  #fail(
    entry: InFlight,
    decision: ReturnType<typeof failureOutcome>,
    error: JobError,
    reason: FailureReason,
    giveUpAt: number,
    retryAfterMs: number | null = null,
  ): void {
    const { job } = entry;
    const retryDelayMs = decision.to === 'retrying' ? decision.delayMs : 0;
    logJobFailure(this.#log, job, entry.traceparent, { reason, error, to: decision.to, retryDelayMs });
    void this.#completer.fail(
      { id: job.id, leaseToken: job.leaseToken, to: decision.to, retryDelayMs, error, reason: reason === 'timeout' ? 'timeout' : 'fail' },
      giveUpAt,
      retryAfterMs,
    );
  }

  #context(entry: InFlight, traceparent: string | null): JobContext {
    const { job } = entry;
    const info: JobInfo = {
      id: job.id,
      queue: job.queue,
      type: job.type,
      version: job.version,
      attempt: job.attempt,
      maxAttempts: job.maxAttempts,
      priority: job.priority,
      orderingKey: job.orderingKey,
      groupKey: job.groupKey,
      correlationId: job.correlationId,
      createdAt: new Date(job.createdAt),
      runAt: new Date(job.runAt),
    };
    let steps: Promise<Map<string, string>> | null = null;
    const store = this.#store;
    return {
      job: info,
      traceparent,
      traceId: traceIdOf(traceparent),
      get signal(): AbortSignal {
        if (!entry.controller) {
          entry.controller = new AbortController();
          if (entry.abortReason !== undefined) entry.controller.abort(entry.abortReason);
        }
        return entry.controller.signal;
      },
      async progress(value: unknown): Promise<void> {
        const r = await store.jobProgressSet({ id: job.id, leaseToken: job.leaseToken, progressJson: JSON.stringify(value ?? null) });
        if (!r.ok) throw new SpoolError('lease_lost', `lease on job ${job.id} is no longer held`);
      },
      async step<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
        steps ??= store.jobStepList({ jobId: job.id });
        const done = await steps;
        if (done.has(name)) return JSON.parse(done.get(name)!) as T;
        const value = await fn();
        const text = JSON.stringify(value === undefined ? null : value);
        await store.jobStepSet({ jobId: job.id, name, valueJson: text });
        done.set(name, text);
        return value;
      },
    };
  }

  /**
   * Called from the runtime's tick. Fails attempts past their deadline (freeing their slots) and returns
   * the in-flight jobs whose lease should be extended now (less than half of it left).
   */
  sweep(now: number): InFlight[] {
    const toExtend: InFlight[] = [];
    for (const entry of this.#inFlight.values()) {
      if (entry.settled) continue;
      if (now >= entry.deadline) {
        this.#timeout(entry);
        continue;
      }
      if (entry.leaseExpiresLocal - now < entry.job.leaseMs / 2) toExtend.push(entry);
    }
    return toExtend;
  }

  #timeout(entry: InFlight): void {
    const { job } = entry;
    entry.settled = true;
    const error: JobError = { message: `attempt timed out (timeoutSeconds)`, name: 'TimeoutError' };
    abort(entry, new SpoolError('timeout', error.message));
    const settings = resolveRunSettings(
      (job.optionsJson ? JSON.parse(job.optionsJson) : {}) as never,
      this.#resolve(job)?.def,
      this.#queueConfig(job.queue),
    );
    const decision = failureOutcome({ maxAttempts: job.maxAttempts, backoff: settings.retry.backoff }, job.attempt);
    this.#fail(entry, decision, error, 'timeout', entry.leaseExpiresLocal);
    entry.free();
  }

  /** The lease could not be extended: someone else may own the job now. Stop and free the slot. */
  leaseLost(entry: InFlight): void {
    if (entry.settled) return;
    entry.settled = true;
    logJobEvent(this.#log, 'warn', 'job.lease_lost', entry.job, entry.traceparent);
    abort(entry, new SpoolError('lease_lost', `lease on job ${entry.job.id} lost`));
    entry.free();
  }

  /** Shutdown past the grace period: abort what still runs and return the jobs to release. */
  abandonAll(): ClaimedJob[] {
    const jobs: ClaimedJob[] = [];
    for (const entry of this.#inFlight.values()) {
      if (entry.settled) continue;
      entry.settled = true;
      abort(entry, new SpoolError('shutting_down', 'worker is shutting down'));
      jobs.push(entry.job);
      entry.free();
    }
    return jobs;
  }
}

function abort(entry: InFlight, reason: unknown): void {
  entry.abortReason = reason;
  entry.controller?.abort(reason);
}
