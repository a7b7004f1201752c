/**
 * The webhook dispatcher: an in-process worker over the internal queue `spool.webhooks` (the ordinary
 * runtime — fetcher, executor, completer — through the facade's `work`), whose one handler sends a delivery
 * (webhook-delivery.ts). Deliveries are jobs the store wrote with the transition they report, so they are
 * claimed exclusively across nodes (every `spool serve` runs a dispatcher and they share the work), leased,
 * retried and dead-lettered like any job, and survive a crash. The queue and its concurrency are its own:
 * a slow or dead endpoint never holds up the queues whose jobs it reports on.
 *
 * Started by `spool serve`, and by the library's `spool.work()` / `spool work --db` unless turned off
 * (`webhooks: false`, `--no-webhooks`); one per facade (Spool.startWebhooks). `stop()` stops its worker within
 * the grace period (an attempt still running is released without spending it) and closes its HTTP client.
 */
import { WEBHOOK_QUEUE } from '../core/webhooks.js';
import { GuardedHttpClient, type GuardedHttpClientOptions } from '../net/guarded-http.js';
import type { Logger } from '../logger.js';
import type { Store } from '../storage/store.js';
import type { Handler } from '../worker/handler.js';
import type { Worker } from '../worker/runtime.js';
import { webhookDeliveryHandler, type WebhookDeliveryOptions } from './webhook-delivery.js';

export interface WebhookDispatcherOptions extends WebhookDeliveryOptions {
  /** Deliveries in flight in this process (default 16). */
  readonly concurrency?: number;
  /** Fallback poll of the worker when no wake-up arrives (default 1000 ms). */
  readonly pollIntervalMs?: number;
  /** Grace for in-flight deliveries at stop (default 25 s); then they are released, their attempt not spent. */
  readonly shutdownGraceMs?: number;
  /** SSRF policy and name resolution of the HTTP client (tests inject a resolver). */
  readonly http?: GuardedHttpClientOptions;
}

/** What the dispatcher needs of the facade (Spool): its store and log, and a worker. */
export interface WebhookHost {
  readonly store: Pick<Store, 'queueGet' | 'queueWebhookDisable'>;
  readonly log: Logger;
  work(options: {
    queues: string[];
    handlers: Record<string, Handler>;
    concurrency: number;
    prefetch: number;
    maintenance: false;
    shutdownGraceMs: number;
    pollIntervalMs: number;
    workerId: string;
    webhooks: false;
  }): Promise<Worker>;
}

export const DEFAULT_WEBHOOK_CONCURRENCY = 16;

export class WebhookDispatcher {
  readonly #host: WebhookHost;
  readonly #opts: WebhookDispatcherOptions;
  readonly #http: GuardedHttpClient;
  #worker: Worker | null = null;
  #stopped = false;

  constructor(host: WebhookHost, options: WebhookDispatcherOptions = {}) {
    this.#host = host;
    this.#opts = options;
    this.#http = new GuardedHttpClient(options.http);
  }

  /** True while its worker runs. */
  get running(): boolean {
    return this.#worker !== null;
  }

  async start(): Promise<void> {
    if (this.#stopped || this.#worker) return;
    const concurrency = this.#opts.concurrency ?? DEFAULT_WEBHOOK_CONCURRENCY;
    this.#worker = await this.#host.work({
      queues: [WEBHOOK_QUEUE],
      handlers: { [WEBHOOK_QUEUE]: webhookDeliveryHandler({ http: this.#http, store: this.#host.store, log: this.#host.log }, this.#opts) },
      concurrency,
      // A delivery waits on a remote endpoint: none waits in this node's buffer while another node is idle.
      prefetch: 0,
      maintenance: false,
      shutdownGraceMs: this.#opts.shutdownGraceMs ?? 25_000,
      pollIntervalMs: this.#opts.pollIntervalMs ?? 1000,
      workerId: `webhooks-${Math.random().toString(36).slice(2, 8)}`,
      webhooks: false,
    });
    if (this.#stopped) {
      await this.#worker.stop({ graceMs: 0 });
      this.#worker = null;
      return;
    }
    this.#host.log.info({ queue: WEBHOOK_QUEUE, concurrency }, 'webhooks: delivering notifications');
  }

  async stop(options: { graceMs?: number } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const worker = this.#worker;
    this.#worker = null;
    await worker?.stop(options.graceMs !== undefined ? { graceMs: options.graceMs } : {});
    this.#http.close();
  }
}
