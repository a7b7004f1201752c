/**
 * Push delivery: the server's own dispatcher for queues with a `target`. Each such queue gets an in-process
 * worker (the ordinary runtime — fetcher, executor, completer — through `spool.work`) whose one handler POSTs
 * the job to the target (push-delivery.ts). So a push is a claim like any other: exclusive across nodes (every
 * `spool serve` runs a dispatcher and they share the work), leased and extended, retried with the queue's
 * backoff into the DLQ, limited by the queue's `concurrency` (per node) and `rateLimit` (across nodes, in the
 * store's claim).
 *
 * Queue configs are re-read every `refreshMs` (a target declared or changed on another node is picked up), and
 * at once when a wake-up names a queue this dispatcher has not seen. A queue that gains a target starts, one
 * that loses it stops (gracefully), one whose `concurrency` changed restarts. `stop()` stops every worker
 * within the grace period: in-flight deliveries finish, or are aborted and released, without spending an
 * attempt.
 *
 * Called by `spool serve` (cli/commands/serve.ts); uses only the facade (and its store's queue list).
 */
import { DEFAULTS, type QueueConfig } from '../core/queue-config.js';
import { GuardedHttpClient, type GuardedHttpClientOptions } from '../net/guarded-http.js';
import type { Spool } from '../spool.js';
import type { Worker } from '../worker/runtime.js';
import { pushHandler, type PushTarget } from './push-delivery.js';

export interface PushDispatcherOptions {
  /** How often queue configs are re-read (default 1000 ms). */
  readonly refreshMs?: number;
  /** Grace for in-flight deliveries when a queue stops or the dispatcher stops (default 25 s). */
  readonly shutdownGraceMs?: number;
  /** SSRF policy and name resolution of the HTTP client (tests inject a resolver). */
  readonly http?: GuardedHttpClientOptions;
  /** Fallback poll of the workers (default 1000 ms). */
  readonly pollIntervalMs?: number;
}

interface QueueDelivery {
  concurrency: number;
  worker: Worker | null;
  /** Start / stop / restart of this queue's worker, one at a time. */
  busy: Promise<void>;
}

export class PushDispatcher {
  readonly #spool: Spool;
  readonly #opts: PushDispatcherOptions;
  readonly #http: GuardedHttpClient;
  readonly #deliveries = new Map<string, QueueDelivery>();
  #configs = new Map<string, QueueConfig>();
  #timer: NodeJS.Timeout | null = null;
  #unsubscribe: (() => void) | null = null;
  #refreshing: Promise<void> | null = null;
  #stopped = false;

  constructor(spool: Spool, options: PushDispatcherOptions = {}) {
    this.#spool = spool;
    this.#opts = options;
    this.#http = new GuardedHttpClient(options.http);
  }

  /** Queues being delivered by this dispatcher now. */
  get queues(): string[] {
    return [...this.#deliveries.entries()].filter(([, d]) => d.worker !== null).map(([q]) => q).sort();
  }

  /** Read the queue configs and start delivering target queues; then keep following the configs. */
  async start(): Promise<void> {
    await this.refresh();
    if (this.#stopped) return;
    this.#timer = setInterval(() => void this.refresh(), this.#opts.refreshMs ?? 1000);
    this.#timer.unref();
    this.#unsubscribe = this.#spool.store.subscribe((event) => {
      if (event.queues?.some((q) => !this.#configs.has(q))) void this.refresh();
    });
  }

  /** Re-read queue configs now and start / stop / restart workers to match (concurrent calls share one read). */
  refresh(): Promise<void> {
    this.#refreshing ??= this.#refresh().finally(() => (this.#refreshing = null));
    return this.#refreshing;
  }

  async #refresh(): Promise<void> {
    if (this.#stopped) return;
    let records;
    try {
      records = await this.#spool.store.queueList();
    } catch (error) {
      this.#spool.log.warn({ err: error }, 'push: reading queue configs failed; keeping the current deliveries');
      return;
    }
    if (this.#stopped) return;
    this.#configs = new Map(records.map((r) => [r.name, r.config]));
    const wanted = new Map(records.filter((r) => r.config.target).map((r) => [r.name, r.config.concurrency ?? DEFAULTS.concurrency]));
    for (const [queue, concurrency] of wanted) {
      const d = this.#deliveries.get(queue);
      if (!d) {
        const entry: QueueDelivery = { concurrency, worker: null, busy: Promise.resolve() };
        this.#deliveries.set(queue, entry);
        this.#serially(entry, () => this.#startWorker(queue, entry));
      } else if (d.concurrency !== concurrency) {
        d.concurrency = concurrency;
        this.#serially(d, async () => {
          await this.#stopWorker(queue, d);
          await this.#startWorker(queue, d);
        });
      }
    }
    for (const [queue, d] of this.#deliveries) {
      if (wanted.has(queue)) continue;
      this.#deliveries.delete(queue);
      this.#serially(d, () => this.#stopWorker(queue, d));
    }
  }

  #serially(d: QueueDelivery, step: () => Promise<void>): void {
    d.busy = d.busy.then(step).catch((error: unknown) => this.#spool.log.error({ err: error }, 'push: changing a queue delivery failed'));
  }

  async #startWorker(queue: string, d: QueueDelivery): Promise<void> {
    if (this.#stopped || d.worker) return;
    d.worker = await this.#spool.work({
      queues: [queue],
      handlers: { [queue]: pushHandler({ http: this.#http, targetOf: (q) => this.#targetOf(q) }) },
      concurrency: d.concurrency,
      // A delivery is I/O-bound and may be slow: no job waits in this node's buffer while another node is idle.
      prefetch: 0,
      maintenance: false,
      shutdownGraceMs: this.#opts.shutdownGraceMs ?? 25_000,
      pollIntervalMs: this.#opts.pollIntervalMs ?? 1000,
      workerId: `push-${queue}-${Math.random().toString(36).slice(2, 8)}`,
      webhooks: false,
    });
    this.#spool.log.info({ queue, concurrency: d.concurrency }, 'push: delivering queue');
  }

  async #stopWorker(queue: string, d: QueueDelivery, graceMs?: number): Promise<void> {
    const worker = d.worker;
    if (!worker) return;
    d.worker = null;
    await worker.stop(graceMs !== undefined ? { graceMs } : {});
    this.#spool.log.info({ queue }, 'push: stopped delivering queue');
  }

  #targetOf(queue: string): PushTarget | undefined {
    return this.#configs.get(queue)?.target;
  }

  /** Stop following configs and stop every delivery: in flight ones get `graceMs` (default: the option), then are released. */
  async stop(options: { graceMs?: number } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#unsubscribe?.();
    await this.#refreshing;
    const grace = options.graceMs ?? this.#opts.shutdownGraceMs ?? 25_000;
    await Promise.all(
      [...this.#deliveries].map(async ([queue, d]) => {
        await d.busy;
        await this.#stopWorker(queue, d, grace);
      }),
    );
    this.#deliveries.clear();
    this.#http.close();
  }
}
