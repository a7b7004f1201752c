/**
 * The remote worker's completer: hands each handler outcome to the server as an ack or a nack (one request
 * each; the pull API settles one job per call). The server decides where a failed attempt goes — retrying
 * with the queue's backoff or dead — from its own view of the job; this side says only whether the error
 * is retryable. A call that gets no answer or a 5xx is retried with backoff until the job's lease has surely
 * run out (then the lease reaper owns the job); a 409 means the lease was already lost, which is final. A retry
 * delay the handler chose (RetryAfterError) is the one thing besides retryability it passes on.
 */
import type { JobError } from '../core/job.js';
import { sleep } from '../core/signal.js';
import { SpoolConnectionError, SpoolHttpError, type SpoolClient } from '../client/index.js';
import type { Logger } from '../logger.js';
import type { FencedResult, JobCompleteParams, JobFailParams } from '../storage/store.js';

const RETRY_START_MS = 100;
const RETRY_MAX_MS = 2000;

export class RemoteCompleter {
  readonly #client: SpoolClient;
  readonly #log: Logger;
  #pending = 0;
  #idle: Array<() => void> = [];
  readonly stats = { completed: 0, failed: 0, stale: 0 };

  constructor(client: SpoolClient, log: Logger) {
    this.#client = client;
    this.#log = log;
  }

  /** Outcomes handed over but not yet answered by the server. */
  get pending(): number {
    return this.#pending;
  }

  complete(params: JobCompleteParams, giveUpAt: number): Promise<FencedResult> {
    const ref = { id: params.id, leaseToken: params.leaseToken };
    const result = params.resultJson === null ? undefined : (JSON.parse(params.resultJson) as unknown);
    return this.#track('completed', params.id, giveUpAt, () => this.#client.ack(ref, result));
  }

  /** A delay the handler chose (RetryAfterError) goes with the nack as `retryAfterSeconds`; else the server's backoff applies. */
  fail(params: JobFailParams, giveUpAt: number, retryAfterMs?: number | null): Promise<FencedResult> {
    const ref = { id: params.id, leaseToken: params.leaseToken };
    const options = retryAfterMs != null ? { retryAfterSeconds: retryAfterMs / 1000 } : {};
    return this.#track('failed', params.id, giveUpAt, () => this.#client.nack(ref, nackError(params.error), options));
  }

  /** Resolves when every handed-over outcome has been answered (or given up on). */
  drain(): Promise<void> {
    if (this.#pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  async #track(kind: 'completed' | 'failed', id: string, giveUpAt: number, send: () => Promise<unknown>): Promise<FencedResult> {
    this.#pending++;
    try {
      for (let delay = RETRY_START_MS; ; delay = Math.min(RETRY_MAX_MS, delay * 2)) {
        try {
          await send();
          this.stats[kind]++;
          return { ok: true };
        } catch (error) {
          if (error instanceof SpoolHttpError && (error.status === 409 || error.status === 404)) {
            this.stats.stale++;
            this.#log.warn({ jobId: id, code: error.code }, 'job outcome not recorded: lease no longer held (the job moved on)');
            return { ok: false, state: null };
          }
          const transient = error instanceof SpoolConnectionError || (error instanceof SpoolHttpError && (error.status >= 500 || error.status === 429));
          if (!transient || Date.now() > giveUpAt) {
            this.#log.error({ jobId: id, err: error }, 'job outcome could not be sent; the lease reaper will retry the job');
            return { ok: false, state: null };
          }
          this.#log.warn({ jobId: id, err: (error as Error).message, retryInMs: delay }, 'sending a job outcome failed; retrying');
          await sleep(delay);
        }
      }
    } finally {
      this.#pending--;
      if (this.#pending === 0) for (const w of this.#idle.splice(0)) w();
    }
  }
}

/** The error a nack carries: the engine's JobError, `retryable: false` kept (the server then sends it to the DLQ). */
function nackError(error: JobError): { message: string; name?: string; code?: string; stack?: string; retryable?: boolean } {
  return {
    message: error.message,
    ...(error.name !== undefined ? { name: error.name } : {}),
    ...(error.code !== undefined ? { code: error.code } : {}),
    ...(error.stack !== undefined ? { stack: error.stack } : {}),
    ...(error.retryable === false ? { retryable: false } : {}),
  };
}
