/**
 * The remote worker (`spool work --url`): the in-process worker's executor — handlers, upcasting, the
 * AbortSignal, timeouts, progress — fed by leases from a Spool server instead of claims from a store.
 * One RemoteFetcher per queue (long polls sized by free slots), the shared executor, a RemoteCompleter for
 * acks and nacks, and one tick that enforces attempt timeouts and extends the leases of running jobs
 * (no per-job timers, like the in-process runtime).
 *
 * Graceful shutdown (`stop`): stop leasing (the long polls in flight are aborted; the server leases
 * nothing for them); give running handlers `shutdownGraceMs` to finish and send their outcomes; then
 * abort what still runs and *release* those jobs (`POST /v1/jobs/{id}/release`: queued again at once,
 * the attempt not spent) rather than leaving their leases to expire, which would cost an attempt and a
 * lease's wait. A worker killed outright leaves its leases to expire: the server's lease reaper counts
 * each as a failed attempt.
 *
 * `ctx.step` is not available: durable step memos live in the store, and the pull API has no call for
 * them yet; a handler that uses it fails its attempt with a clear error instead of repeating an effect.
 */
import { randomUUID } from 'node:crypto';
import { SpoolError } from '../core/errors.js';
import type { LeasedJobJson, SpoolClient } from '../client/index.js';
import type { Logger } from '../logger.js';
import type { ClaimedJob } from '../storage/store.js';
import { Executor, type ExecutorStore, type InFlight, type ResolvedHandler } from './executor.js';
import { idleWithinGrace, LeaseTick } from './lease-tick.js';
import { LeaseLostError, SpoolHttpError } from '../client/index.js';
import { RemoteCompleter } from './remote-completer.js';
import { RemoteFetcher } from './remote-fetcher.js';

export interface RemoteWorkerOptions {
  readonly queues: readonly string[];
  /** Handlers in flight per queue. Default 10. */
  readonly concurrency?: number;
  /** How long `stop()` waits for running handlers. Default 25 s. */
  readonly shutdownGraceMs?: number;
  /** Long-poll wait of each lease request (≤ 30). Default 20 s. */
  readonly waitSeconds?: number;
  /** Lease length to ask for (default: each queue's `leaseSeconds`). */
  readonly leaseSeconds?: number;
  readonly workerId?: string;
}

export interface RemoteWorkerDeps {
  readonly client: SpoolClient;
  readonly log: Logger;
  readonly resolve: (job: { type: string | null; queue: string }) => ResolvedHandler | undefined;
}

export class RemoteWorker {
  readonly id: string;
  readonly #deps: RemoteWorkerDeps;
  readonly #opts: RemoteWorkerOptions;
  readonly #completer: RemoteCompleter;
  readonly #executor: Executor;
  readonly #fetchers: RemoteFetcher[] = [];
  readonly #tick = new LeaseTick(() => this.#onTick());
  #extending = false;
  #state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  #stopPromise: Promise<void> | null = null;
  readonly stats = { released: 0, leaseLost: 0 };

  constructor(deps: RemoteWorkerDeps, opts: RemoteWorkerOptions) {
    this.#deps = deps;
    this.#opts = opts;
    this.id = opts.workerId ?? `remote-${randomUUID().slice(0, 8)}`;
    this.#completer = new RemoteCompleter(deps.client, deps.log);
    this.#executor = new Executor({
      store: remoteStore(deps.client),
      completer: this.#completer,
      log: deps.log,
      resolve: (job) => deps.resolve(job),
      // Every leased job carries its effective timeoutSeconds as a job-level setting (see #toClaimed).
      queueConfig: () => ({}),
      timeoutSeen: (ms) => this.#tick.atMost(ms),
    });
  }

  get running(): boolean {
    return this.#state === 'running';
  }

  get activeCount(): number {
    return this.#executor.inFlight.size;
  }

  get outcomes(): { completed: number; failed: number; stale: number } {
    return { ...this.#completer.stats };
  }

  start(): void {
    if (this.#state !== 'new') return;
    this.#state = 'running';
    for (const queue of this.#opts.queues) {
      const fetcher = new RemoteFetcher(
        this.#deps.client,
        this.#deps.log,
        { queue, concurrency: this.#opts.concurrency ?? 10, waitSeconds: this.#opts.waitSeconds ?? 20, leaseSeconds: this.#opts.leaseSeconds },
        (job, requestedAt) => {
          this.#tick.atMost(job.leaseSeconds * 1000);
          return this.#executor.run(this.#toClaimed(job, requestedAt));
        },
      );
      this.#fetchers.push(fetcher);
      fetcher.start();
    }
    this.#tick.start();
    this.#deps.log.info({ workerId: this.id, queues: this.#opts.queues, server: this.#deps.client.url }, 'remote worker started');
  }

  /** Graceful shutdown; safe to call more than once. */
  stop(options: { graceMs?: number } = {}): Promise<void> {
    this.#stopPromise ??= this.#stop(options.graceMs ?? this.#opts.shutdownGraceMs ?? 25_000);
    return this.#stopPromise;
  }

  async #stop(graceMs: number): Promise<void> {
    if (this.#state === 'new') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopping';
    await Promise.all(this.#fetchers.map((f) => f.stop()));
    const outcome = await idleWithinGrace(Promise.all(this.#fetchers.map((f) => f.whenIdle())), graceMs);
    const release: ClaimedJob[] = [];
    if (outcome === 'grace') {
      release.push(...this.#executor.abandonAll());
      this.#deps.log.warn({ count: release.length }, 'shutdown grace period over; releasing running jobs');
    }
    this.#tick.stop();
    await this.#completer.drain();
    await Promise.all(
      release.map((job) =>
        this.#deps.client.release(job).then(
          () => void this.stats.released++,
          (error: unknown) => this.#deps.log.warn({ jobId: job.id, err: (error as Error).message }, 'release failed; the lease will expire'),
        ),
      ),
    );
    this.#state = 'stopped';
    this.#deps.log.info({ workerId: this.id, released: release.length, ...this.#completer.stats }, 'remote worker stopped');
  }

  /**
   * The executor's view of a leased job. Lease times are kept on the local clock, measured from when the
   * lease request was sent (the lease began at or after that), so clock skew with the server cannot make a
   * lease look longer than it is.
   */
  #toClaimed(job: LeasedJobJson, requestedAt: number): ClaimedJob {
    const leaseMs = job.leaseSeconds * 1000;
    return {
      id: job.id,
      queue: job.queue,
      type: job.type,
      version: job.version,
      payloadJson: JSON.stringify(job.payload ?? null),
      priority: job.priority,
      orderingKey: job.orderingKey,
      groupKey: job.groupKey,
      correlationId: job.correlationId,
      attempt: job.attempt,
      maxAttempts: job.maxAttempts,
      leaseToken: job.leaseToken,
      leaseExpiresAt: requestedAt + leaseMs,
      leaseMs,
      createdAt: Date.parse(job.createdAt),
      runAt: Date.parse(job.runAt),
      optionsJson: JSON.stringify({ timeoutSeconds: job.timeoutSeconds, ...(job.traceparent ? { meta: { traceparent: job.traceparent } } : {}) }),
    };
  }

  /** Timeouts, then one round of extensions for every running job with less than half its lease left. */
  #onTick(): void {
    const now = Date.now();
    const due: InFlight[] = this.#executor.sweep(now);
    if (due.length === 0 || this.#extending) return;
    this.#extending = true;
    void Promise.all(
      due.map(async (entry) => {
        const sentAt = Date.now();
        try {
          await this.#deps.client.extend(entry.job, entry.job.leaseMs / 1000);
          entry.leaseExpiresLocal = sentAt + entry.job.leaseMs;
        } catch (error) {
          if (error instanceof LeaseLostError || (error instanceof SpoolHttpError && error.status === 404)) {
            this.stats.leaseLost++;
            this.#executor.leaseLost(entry);
          } else {
            this.#deps.log.warn({ jobId: entry.job.id, err: (error as Error).message }, 'extending a lease failed; will retry next tick');
          }
        }
      }),
    ).finally(() => (this.#extending = false));
  }
}

/** Progress over HTTP; durable steps are not available to remote workers (see the module comment). */
function remoteStore(client: SpoolClient): ExecutorStore {
  const noSteps = (): never => {
    // Not retryable: another attempt would fail the same way (the job goes to the DLQ with this message).
    throw Object.assign(
      new SpoolError('invalid_argument', 'ctx.step is not available in a remote worker (spool work --url): durable steps need the store; run this handler in-process'),
      { retryable: false },
    );
  };
  return {
    async jobProgressSet(params) {
      try {
        await client.progress(params, JSON.parse(params.progressJson) as unknown);
        return { ok: true };
      } catch (error) {
        if (error instanceof LeaseLostError || (error instanceof SpoolHttpError && error.status === 404)) return { ok: false, state: null };
        throw error;
      }
    },
    jobStepList: async () => noSteps(),
    jobStepSet: async () => noSteps(),
  };
}
