/**
 * The remote worker's fetcher for one queue: long-polls the server for leases, never more than its free
 * slots, and hands each leased job to the executor. One request is in flight at a time; while every slot
 * is busy it waits for one to free instead of polling. Failed requests (server down, 503) back off.
 *
 * `stop()` first lets a lease request in flight answer for up to STOP_SETTLE_MS: one that is about to answer
 * with jobs must not be cut off, because an answer the server already sent is lost with the connection and
 * its leases would only come back by expiring (a spent attempt and a lease's wait). A request still
 * pending after that is waiting on an empty queue; it is aborted, and the server then leases nothing for it
 * (jobs it claimed for it meanwhile are released). Jobs that arrive after the stop began are released at
 * once (queued again, attempt not spent). What remains is a job claimed in the instant of the abort.
 */
import { sleep, WakeSignal } from '../core/signal.js';
import { SpoolHttpError, type LeasedJobJson, type SpoolClient } from '../client/index.js';
import type { Logger } from '../logger.js';

/** How long `stop()` lets a lease request in flight answer before aborting it. */
export const STOP_SETTLE_MS = 1000;

export interface RemoteFetcherOptions {
  readonly queue: string;
  readonly concurrency: number;
  /** Long-poll wait per lease request (≤ 30 s). */
  readonly waitSeconds: number;
  /** Lease length to ask for (undefined: the queue's). */
  readonly leaseSeconds?: number | undefined;
}

export class RemoteFetcher {
  readonly queue: string;
  readonly #client: SpoolClient;
  readonly #log: Logger;
  readonly #opts: RemoteFetcherOptions;
  readonly #start: (job: LeasedJobJson, requestedAt: number) => Promise<void>;
  readonly #slotFreed = new WakeSignal();
  readonly #abort = new AbortController();
  readonly #idle: Array<() => void> = [];
  #running = 0;
  #stopping = false;
  #loop: Promise<void> | null = null;
  readonly stats = { leases: 0, leased: 0, errors: 0 };

  constructor(client: SpoolClient, log: Logger, opts: RemoteFetcherOptions, start: (job: LeasedJobJson, requestedAt: number) => Promise<void>) {
    this.queue = opts.queue;
    this.#client = client;
    this.#log = log;
    this.#opts = opts;
    this.#start = start;
  }

  get running(): number {
    return this.#running;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stop leasing; resolves when the loop has exited (running jobs are the runtime's concern). */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#slotFreed.notify();
    if (!this.#loop) return;
    const settle = new AbortController();
    const exited = await Promise.race([this.#loop.then(() => true), sleep(STOP_SETTLE_MS, settle.signal).then(() => false)]);
    settle.abort();
    if (!exited) this.#abort.abort();
    await this.#loop;
  }

  /** Resolves when no job of this fetcher is running. */
  whenIdle(): Promise<void> {
    if (this.#running === 0) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  async #run(): Promise<void> {
    let errorDelay = 100;
    while (!this.#stopping) {
      const free = this.#opts.concurrency - this.#running;
      if (free <= 0) {
        await this.#slotFreed.wait(60_000);
        continue;
      }
      this.#slotFreed.take();
      const requestedAt = Date.now();
      let jobs: LeasedJobJson[];
      try {
        jobs = await this.#client.lease(this.queue, {
          max: Math.min(free, 100),
          waitSeconds: this.#opts.waitSeconds,
          ...(this.#opts.leaseSeconds !== undefined ? { leaseSeconds: this.#opts.leaseSeconds } : {}),
          signal: this.#abort.signal,
        });
        errorDelay = 100;
      } catch (error) {
        if (this.#stopping) break;
        this.stats.errors++;
        if (error instanceof SpoolHttpError && (error.status === 401 || error.status === 403 || error.status === 404)) {
          this.#log.error({ queue: this.queue, err: error.message }, 'leasing refused; retrying slowly');
          errorDelay = 5000;
        } else {
          this.#log.warn({ queue: this.queue, err: (error as Error).message, retryInMs: errorDelay }, 'leasing failed; backing off');
        }
        await sleep(errorDelay, this.#abort.signal);
        errorDelay = Math.min(5000, errorDelay * 2);
        continue;
      }
      this.stats.leases++;
      this.stats.leased += jobs.length;
      if (this.#stopping) {
        await this.#releaseAll(jobs);
        break;
      }
      for (const job of jobs) this.#run1(job, requestedAt);
    }
  }

  #run1(job: LeasedJobJson, requestedAt: number): void {
    this.#running++;
    void this.#start(job, requestedAt).finally(() => {
      this.#running--;
      this.#slotFreed.notify();
      if (this.#running === 0) for (const w of this.#idle.splice(0)) w();
    });
  }

  async #releaseAll(jobs: readonly LeasedJobJson[]): Promise<void> {
    await Promise.all(
      jobs.map((job) =>
        this.#client.release(job).catch((error: unknown) => this.#log.warn({ jobId: job.id, err: (error as Error).message }, 'release failed; the lease will expire')),
      ),
    );
  }
}
