/**
 * `GET /v1/jobs/{id}?waitSeconds=N`: hold a request until the job is terminal. The engine publishes no
 * "job finished" event (its wake-ups say only that jobs became claimable), so this checks the job through
 * the facade with a backing-off interval (50 ms doubling to 1 s): a quick job answers within tens of
 * milliseconds, a slow one costs at most one read per second per waiting request. Concurrent waiters on
 * one job share each read. A waiter ends early when the client goes away or the server shuts down
 * (`abortAll`), answering the job as last read.
 */
import type { Job } from '../core/job.js';
import { isTerminal } from '../core/states.js';
import type { Spool } from '../spool.js';

const FIRST_DELAY_MS = 50;
const MAX_DELAY_MS = 1000;

export class JobWaiter {
  readonly #spool: Spool;
  readonly #reads = new Map<string, Promise<Job>>();
  readonly #aborts = new Set<() => void>();

  constructor(spool: Spool) {
    this.#spool = spool;
  }

  /** The job once terminal, or as last read when `timeoutMs` passes or `signal` fires. */
  async wait(id: string, timeoutMs: number, signal?: AbortSignal): Promise<Job> {
    let job = await this.#read(id);
    const deadline = Date.now() + timeoutMs;
    let delay = FIRST_DELAY_MS;
    while (!isTerminal(job.state) && Date.now() < deadline && !signal?.aborted) {
      const stopped = await this.#sleep(Math.min(delay, deadline - Date.now()), signal);
      if (stopped) break;
      delay = Math.min(delay * 2, MAX_DELAY_MS);
      job = await this.#read(id);
    }
    return job;
  }

  /** End every wait now (shutdown): each answers the job as last read. */
  abortAll(): void {
    for (const abort of [...this.#aborts]) abort();
  }

  #read(id: string): Promise<Job> {
    let read = this.#reads.get(id);
    if (!read) {
      read = this.#spool.getJob(id).finally(() => this.#reads.delete(id));
      this.#reads.set(id, read);
    }
    return read;
  }

  /** Resolves true when interrupted (abort or shutdown), false when the time passed. */
  #sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
    return new Promise((resolve) => {
      const done = (interrupted: boolean) => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        this.#aborts.delete(onAbort);
        resolve(interrupted);
      };
      const onAbort = () => done(true);
      const timer = setTimeout(() => done(false), Math.max(0, ms));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#aborts.add(onAbort);
    });
  }
}
