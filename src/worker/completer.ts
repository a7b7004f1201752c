/**
 * The completer: turns handler outcomes into batched, fenced state changes (jobCompleteMany / jobFailMany).
 * Outcomes that arrive together are written together; a failed write (store unavailable) is retried with
 * backoff rather than dropped, until the job's lease has surely run out (then the lease reaper owns it).
 * `pending` gives the fetcher its backpressure signal: no new claims while too much is unwritten.
 */
import { Batcher } from '../core/batcher.js';
import { leaseExpiredError, type JobError } from '../core/job.js';
import { sleep } from '../core/signal.js';
import type { FencedResult, JobCompleteParams, JobFailParams, Store } from '../storage/store.js';
import type { Logger } from '../logger.js';

const RETRY_START_MS = 50;
const RETRY_MAX_MS = 2000;

export class Completer {
  readonly #log: Logger;
  readonly #onRetrying: () => void;
  readonly #completes: Batcher<JobCompleteParams & { giveUpAt: number }, FencedResult>;
  readonly #fails: Batcher<JobFailParams & { giveUpAt: number }, FencedResult>;
  #pending = 0;
  #idle: Array<() => void> = [];
  readonly stats = { completed: 0, failed: 0, stale: 0 };

  /** `onRetrying` runs after a failure to `retrying` commits (the scheduler should aim at the new due time). */
  constructor(store: Store, log: Logger, onRetrying: () => void = () => {}) {
    this.#log = log;
    this.#onRetrying = onRetrying;
    this.#completes = new Batcher((items) => this.#write(items, (jobs) => store.jobCompleteMany({ jobs })), { maxBatch: 2000 });
    this.#fails = new Batcher((items) => this.#write(items, (jobs) => store.jobFailMany({ jobs })), { maxBatch: 2000 });
  }

  /** Outcomes handed over but not yet committed. */
  get pending(): number {
    return this.#pending;
  }

  complete(params: JobCompleteParams, giveUpAt: number): Promise<FencedResult> {
    return this.#track(this.#completes.add({ ...params, giveUpAt }), 'completed', params.id);
  }

  fail(params: JobFailParams, giveUpAt: number): Promise<FencedResult> {
    const written = this.#track(this.#fails.add({ ...params, giveUpAt }), 'failed', params.id);
    if (params.to === 'retrying') void written.then((r) => r.ok && this.#onRetrying());
    return written;
  }

  /** Resolves when every handed-over outcome has been written (or given up on). */
  drain(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  async #track(p: Promise<FencedResult>, kind: 'completed' | 'failed', id: string): Promise<FencedResult> {
    this.#pending++;
    try {
      const r = await p;
      if (r.ok) this.stats[kind]++;
      else {
        this.stats.stale++;
        this.#log.warn({ jobId: id, state: r.state }, 'job outcome not recorded: lease no longer held (the job moved on)');
      }
      return r;
    } catch (error) {
      this.#log.error({ jobId: id, err: error }, 'job outcome could not be written; the lease reaper will retry the job');
      return { ok: false, state: null };
    } finally {
      this.#pending--;
      if (this.#pending === 0) {
        const idle = this.#idle;
        this.#idle = [];
        for (const w of idle) w();
      }
    }
  }

  async #write<T extends { giveUpAt: number }>(items: T[], write: (items: T[]) => Promise<FencedResult[]>): Promise<FencedResult[]> {
    for (let delay = RETRY_START_MS; ; delay = Math.min(RETRY_MAX_MS, delay * 2)) {
      try {
        return await write(items);
      } catch (error) {
        if (items.every((i) => Date.now() > i.giveUpAt)) throw error;
        this.#log.warn({ err: error, count: items.length, retryInMs: delay }, 'writing job outcomes failed; retrying');
        await sleep(delay);
      }
    }
  }
}

export function leaseLostError(): JobError {
  return leaseExpiredError();
}
