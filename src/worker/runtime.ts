/**
 * The worker runtime: one fetcher per queue, one executor (the in-flight table), one completer, and a
 * single tick that enforces per-attempt timeouts and extends the leases of running jobs in one batched
 * call. Optionally runs the maintainer (leader-elected maintenance).
 *
 * Graceful shutdown (`stop`): stop claiming; give running handlers `shutdownGraceMs` to finish; then abort
 * what still runs and release those jobs (and any prefetched ones) back to `queued` at once, without
 * spending an attempt; write every outcome; stop maintenance.
 */
import { randomUUID } from 'node:crypto';
import { DEFAULTS, type QueueConfig } from '../core/queue-config.js';
import type { ClaimedJob, Store } from '../storage/store.js';
import type { Logger } from '../logger.js';
import { logJobEvent, traceparentOfJson } from '../observability/job-log.js';
import type { JobTracing } from '../observability/otel.js';
import { Completer } from './completer.js';
import { Executor, type ResolvedHandler } from './executor.js';
import { idleWithinGrace, LeaseTick } from './lease-tick.js';
import { Fetcher } from './fetcher.js';
import { Maintainer, type MaintainerOptions } from './maintenance/maintainer.js';
import type { JobTypeDefinition } from '../engine/job-types.js';

export interface WorkerOptions {
  /** Queues to serve. */
  readonly queues: readonly string[];
  /** Handlers in flight per queue in this process (default: the queue's `concurrency`, else 10). */
  readonly concurrency?: number | Readonly<Record<string, number>>;
  /**
   * Extra jobs to claim ahead of free slots (they hold leases while they wait). Default `auto`: one per slot
   * while the queue's handlers are quick (under 20 ms on average), none otherwise.
   */
  readonly prefetch?: number | 'auto';
  /** Upper bound of one claim. Default 100. */
  readonly claimBatch?: number;
  /** Fallback poll when no wake-up arrives. Default 1000 ms. */
  readonly pollIntervalMs?: number;
  /** How long `stop()` waits for running handlers. Default 25 s. */
  readonly shutdownGraceMs?: number;
  /** Run leader-elected maintenance (lease reaper, scheduler, retention) in this worker. Default true. */
  readonly maintenance?: boolean | MaintainerOptions;
  /** Unwritten outcomes above which claiming pauses (backpressure). Default 5000. */
  readonly maxPendingOutcomes?: number;
  readonly workerId?: string;
}

export interface RuntimeDeps {
  readonly store: Store;
  readonly log: Logger;
  readonly resolve: (job: ClaimedJob) => ResolvedHandler | undefined;
  readonly jobType: (type: string | null) => JobTypeDefinition | undefined;
  /**
   * A job went to `retrying`: wake the scheduler of whichever maintainer leads in this process (default:
   * this worker's own). Commits of this process do not reach its maintainers as store events.
   */
  readonly nudgeScheduler?: () => void;
  /** The OpenTelemetry hook, when on: a CONSUMER span around each attempt. */
  readonly tracing?: JobTracing | null;
}

const CONFIG_REFRESH_MS = 5000;

export class Worker {
  readonly id: string;
  readonly #deps: RuntimeDeps;
  readonly #opts: WorkerOptions;
  readonly #configs = new Map<string, QueueConfig>();
  readonly #fetchers: Fetcher[] = [];
  readonly #completer: Completer;
  readonly #executor: Executor;
  readonly maintainer: Maintainer | null;
  readonly #tick = new LeaseTick(() => this.#onTick());
  #configTimer: NodeJS.Timeout | null = null;
  #unsubscribe: (() => void) | null = null;
  #state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  #stopPromise: Promise<void> | null = null;
  #extending = false;

  constructor(deps: RuntimeDeps, opts: WorkerOptions) {
    this.#deps = deps;
    this.#opts = opts;
    this.id = opts.workerId ?? `worker-${randomUUID().slice(0, 8)}`;
    this.#completer = new Completer(deps.store, deps.log, () =>
      deps.nudgeScheduler ? deps.nudgeScheduler() : this.maintainer?.nudgeScheduler(),
    );
    this.#executor = new Executor({
      store: deps.store,
      completer: this.#completer,
      log: deps.log,
      resolve: deps.resolve,
      queueConfig: (q) => this.#configs.get(q) ?? {},
      timeoutSeen: (ms) => this.#tick.atMost(ms),
      tracing: deps.tracing ?? null,
    });
    const maint = opts.maintenance ?? true;
    this.maintainer = maint
      ? new Maintainer(
          deps.store,
          deps.log,
          { queueConfig: (q) => this.#queueConfig(q), jobType: deps.jobType },
          typeof maint === 'object' ? maint : {},
        )
      : null;
  }

  get running(): boolean {
    return this.#state === 'running';
  }

  /** Jobs currently executing in this worker. */
  get activeCount(): number {
    return this.#executor.inFlight.size;
  }

  get stats(): { completed: number; failed: number; stale: number; claims: number; claimed: number } {
    const f = this.#fetchers.reduce((a, x) => ({ claims: a.claims + x.stats.claims, claimed: a.claimed + x.stats.claimed }), { claims: 0, claimed: 0 });
    return { ...this.#completer.stats, ...f };
  }

  async start(): Promise<void> {
    if (this.#state !== 'new') return;
    this.#state = 'running';
    await this.#refreshConfigs();
    const maxPending = this.#opts.maxPendingOutcomes ?? 5000;
    for (const queue of this.#opts.queues) {
      const config = this.#configs.get(queue) ?? {};
      const fetcher = new Fetcher(
        this.#deps.store,
        this.#deps.log,
        {
          queue,
          concurrency: this.#concurrencyFor(queue, config),
          prefetch: this.#opts.prefetch ?? 'auto',
          pollIntervalMs: this.#opts.pollIntervalMs ?? 1000,
          maxBatch: this.#opts.claimBatch ?? 100,
          workerId: this.id,
          leaseMs: () => (this.#configs.get(queue)?.leaseSeconds ?? DEFAULTS.leaseSeconds) * 1000,
          backlogged: () => this.#completer.pending > maxPending,
          leaseSeen: (ms) => this.#tick.atMost(ms),
          rateLimitRetryMs: () => rateLimitRetryMs(this.#configs.get(queue)),
        },
        (job) => this.#executor.run(job),
      );
      this.#fetchers.push(fetcher);
    }
    this.#unsubscribe = this.#deps.store.subscribe((event) => {
      for (const f of this.#fetchers) if (event.queues === null || event.queues.includes(f.queue)) f.signal.notify();
    });
    for (const f of this.#fetchers) f.start();
    this.#tick.start(); // at its slowest; claims and attempts speed it up (lease-tick.ts)
    this.#configTimer = setInterval(() => void this.#refreshConfigs(), CONFIG_REFRESH_MS);
    this.#configTimer.unref();
    this.maintainer?.start();
    this.#deps.log.info({ workerId: this.id, queues: this.#opts.queues }, 'worker started');
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
    const release: ClaimedJob[] = this.#fetchers.flatMap((f) => f.drainBuffer());
    const outcome = await idleWithinGrace(Promise.all(this.#fetchers.map((f) => f.whenIdle())), graceMs);
    if (outcome === 'grace') {
      const abandoned = this.#executor.abandonAll();
      this.#deps.log.warn({ count: abandoned.length }, 'shutdown grace period over; releasing running jobs');
      release.push(...abandoned);
    }
    this.#tick.stop();
    if (this.#configTimer) clearInterval(this.#configTimer);
    await this.#completer.drain();
    if (release.length > 0) {
      await this.#deps.store
        .jobReleaseMany({ jobs: release.map((j) => ({ id: j.id, leaseToken: j.leaseToken })) })
        .then((results) =>
          results.forEach((r, i) => {
            const job = release[i]!;
            if (r.ok) logJobEvent(this.#deps.log, 'info', 'job.released', job, traceparentOfJson(job.optionsJson));
          }),
        )
        .catch((error: unknown) => this.#deps.log.error({ err: error }, 'releasing jobs at shutdown failed; their leases will expire'));
    }
    this.#unsubscribe?.();
    await this.maintainer?.stop();
    this.#state = 'stopped';
    this.#deps.log.info({ workerId: this.id, released: release.length }, 'worker stopped');
  }

  #concurrencyFor(queue: string, config: QueueConfig): number {
    const c = this.#opts.concurrency;
    if (typeof c === 'number') return c;
    return c?.[queue] ?? config.concurrency ?? DEFAULTS.concurrency;
  }

  #onTick(): void {
    const now = Date.now();
    const running = this.#executor.sweep(now);
    const buffered = this.#fetchers.flatMap((f) => f.bufferedNeedingExtension(now).map((entry) => ({ f, entry })));
    if ((running.length === 0 && buffered.length === 0) || this.#extending) return;
    this.#extending = true;
    const all = [...running, ...buffered.map((b) => b.entry)];
    this.#deps.store
      .jobExtendMany({ jobs: all.map((e) => ({ id: e.job.id, leaseToken: e.job.leaseToken, leaseMs: e.job.leaseMs })) })
      .then((results) => {
        results.forEach((r, i) => {
          if (i < running.length) {
            const entry = running[i]!;
            if (r.ok) entry.leaseExpiresLocal = now + entry.job.leaseMs;
            else this.#executor.leaseLost(entry);
          } else {
            const { f, entry } = buffered[i - running.length]!;
            if (r.ok) entry.leaseExpiresLocal = now + entry.job.leaseMs;
            else f.dropBuffered(entry);
          }
        });
      })
      .catch((error: unknown) => this.#deps.log.warn({ err: error }, 'extending leases failed; will retry next tick'))
      .finally(() => (this.#extending = false));
  }

  async #queueConfig(queue: string): Promise<QueueConfig> {
    const cached = this.#configs.get(queue);
    if (cached) return cached;
    const record = await this.#deps.store.queueGet(queue);
    return record?.config ?? {};
  }

  async #refreshConfigs(): Promise<void> {
    try {
      for (const q of await this.#deps.store.queueList()) this.#configs.set(q.name, q.config);
    } catch (error) {
      this.#deps.log.warn({ err: error }, 'reading queue configs failed');
    }
  }
}

/**
 * A claim cut short on a rate-limited queue is tried again when the next token is due (1 / the tighter rate,
 * at least 25 ms): the store refills its buckets on its clock and tells nobody.
 */
export function rateLimitRetryMs(config: QueueConfig | undefined): number | null {
  const rate = Math.min(config?.rateLimit?.perSecond ?? Infinity, config?.groups?.rateLimit?.perSecond ?? Infinity);
  return Number.isFinite(rate) ? Math.max(25, Math.ceil(1000 / rate)) : null;
}

