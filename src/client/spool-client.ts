/**
 * The typed HTTP client of a Spool server (`spool/client`): producers enqueue and read status, operators
 * manage queues and the dead-letter queue, remote workers lease jobs and settle them. One method per API
 * call, global `fetch` (Node ≥ 20), no dependency on the rest of Spool at run time — the wire types are
 * derived from the server's own schemas at compile time only (`import type`), so they cannot drift.
 *
 * Errors: a non-2xx answer throws a SpoolHttpError subclass carrying the problem+json (errors.ts); no
 * answer throws SpoolConnectionError. Nothing is retried here: a call either happened or threw (an
 * enqueue that must not run twice takes an `idempotencyKey`, and then may be retried safely).
 * Timestamps stay ISO-8601 strings, as on the wire.
 */
import type { Static } from 'typebox';
import type { QueueConfig } from '../core/queue-config.js';
import type { JobState } from '../core/states.js';
import type {
  AcceptedSchema,
  BatchItemJson,
  DryRunSchema,
  EnqueueBodyJson,
  JobJson,
  QueueJson,
  ReplayResultSchema,
} from '../server/schemas/index.js';
import type { LeasedJobJson } from '../server/schemas/leases.js';
import { errorFromProblem, problemOf, SpoolConnectionError } from './errors.js';

export type { JobJson, QueueJson, LeasedJobJson };
export type Accepted = Static<typeof AcceptedSchema>;
export type DryRunAnswer = Static<typeof DryRunSchema>;
export type ReplayResult = Static<typeof ReplayResultSchema>;

export interface SpoolClientOptions {
  /** The server's base URL, e.g. `http://127.0.0.1:7420`. */
  readonly url: string;
  /** Bearer token: SPOOL_ADMIN_TOKEN or an API key's secret. */
  readonly token?: string | undefined;
  /** Per-request time limit in ms, on top of any long-poll wait. Default 30 s. */
  readonly timeoutMs?: number;
  /** Another fetch implementation (tests, proxies). Default: the global fetch. */
  readonly fetch?: typeof fetch;
}

/** Enqueue options: the body's fields besides `payload`, plus the `Idempotency-Key` header. */
export type EnqueueOptions = Omit<EnqueueBodyJson, 'payload' | 'runAt'> & {
  readonly runAt?: string | Date;
  /** Sent as `Idempotency-Key`: the same key and body answer the original job (`replayed: true`). */
  readonly idempotencyKey?: string;
};

export type BatchItem = Omit<BatchItemJson, 'runAt'> & { readonly runAt?: string | Date };

export interface EnqueueReceipt extends Accepted {
  /** True when an idempotency key matched an earlier identical request: no new job was created. */
  readonly replayed: boolean;
}

export interface JobFilter {
  readonly queue?: string;
  readonly state?: JobState;
  readonly type?: string;
  readonly correlationId?: string;
  readonly limit?: number;
  readonly cursor?: string | null;
}

export interface JobPage {
  readonly jobs: JobJson[];
  readonly nextCursor: string | null;
}

/** What lease-fenced calls need: a leased job (or just its id and token). */
export interface LeaseRef {
  readonly id: string;
  readonly leaseToken: string;
}

export interface LeaseRequest {
  /** How many jobs at most (1–100). */
  readonly max: number;
  /** Lease length for jobs without their own (default: the queue's). */
  readonly leaseSeconds?: number;
  /** Long poll: wait up to this long (≤ 30 s) for jobs when there are none. */
  readonly waitSeconds?: number;
  /** Abort the request (the server then leases nothing for it). */
  readonly signal?: AbortSignal;
}

/** A failed attempt as a worker reports it; an Error works too (`retryable: false` on it sends the job to the DLQ). */
export interface NackError {
  readonly message: string;
  readonly retryable?: boolean;
  readonly name?: string;
  readonly code?: string;
  readonly stack?: string;
}

const TERMINAL: ReadonlySet<string> = new Set(['completed', 'dead', 'cancelled']);
const MAX_WAIT_SECONDS = 30;

interface CallOptions {
  readonly body?: unknown;
  readonly query?: Record<string, string | number | boolean | null | undefined>;
  readonly headers?: Record<string, string>;
  /** Extra time the server may hold the request (long polls). */
  readonly waitMs?: number;
  readonly signal?: AbortSignal | undefined;
}

interface Answer<T> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
}

export class SpoolClient {
  readonly url: string;
  readonly #token: string | undefined;
  readonly #timeoutMs: number;
  readonly #fetch: typeof fetch;

  constructor(options: SpoolClientOptions) {
    let base: URL;
    try {
      base = new URL(options.url);
    } catch {
      throw new TypeError(`SpoolClient: url "${options.url}" is not a URL`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError(`SpoolClient: url "${options.url}" is not http(s)`);
    this.url = base.href.replace(/\/+$/, '');
    this.#token = options.token || undefined;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#fetch = options.fetch ?? globalThis.fetch;
  }

  // ── producers ───────────────────────────────────────────────────────────────────────────────────────

  /** Enqueue one job; resolves once the server committed it (202). */
  async enqueue(queue: string, payload: unknown, options: EnqueueOptions = {}): Promise<EnqueueReceipt> {
    const { idempotencyKey, ...rest } = options;
    const r = await this.#call<Accepted>('POST', `/v1/queues/${seg(queue)}/jobs`, {
      body: { ...withIsoRunAt(rest), payload },
      headers: idempotencyKey !== undefined ? { 'idempotency-key': idempotencyKey } : {},
    });
    return { ...r.body, replayed: r.headers.get('idempotent-replayed') === 'true' };
  }

  /** Validate an enqueue exactly as a real one (auth, queue, schema, admission) without writing anything. */
  async dryRun(queue: string, payload: unknown, options: EnqueueOptions = {}): Promise<DryRunAnswer> {
    const { idempotencyKey, ...rest } = options;
    const r = await this.#call<DryRunAnswer>('POST', `/v1/queues/${seg(queue)}/jobs`, {
      body: { ...withIsoRunAt(rest), payload },
      query: { dryRun: true },
      headers: idempotencyKey !== undefined ? { 'idempotency-key': idempotencyKey } : {},
    });
    return r.body;
  }

  /** Enqueue up to 1,000 jobs, all or nothing, in one commit; receipts in request order. */
  async enqueueBatch(queue: string, jobs: readonly BatchItem[]): Promise<EnqueueReceipt[]> {
    const r = await this.#call<{ jobs: EnqueueReceipt[] }>('POST', `/v1/queues/${seg(queue)}/jobs/batch`, {
      body: { jobs: jobs.map(withIsoRunAt) },
    });
    return r.body.jobs;
  }

  /** A job with its history; `waitSeconds` (≤ 30) holds the request until the job is terminal. */
  async getJob(id: string, options: { waitSeconds?: number; signal?: AbortSignal } = {}): Promise<JobJson> {
    const wait = options.waitSeconds ?? 0;
    const r = await this.#call<JobJson>('GET', `/v1/jobs/${seg(id)}`, {
      query: { waitSeconds: wait > 0 ? wait : undefined },
      waitMs: wait * 1000,
      signal: options.signal,
    });
    return r.body;
  }

  /** Wait until the job is terminal (completed, dead, cancelled) or `timeoutMs` passes; returns it as last seen. */
  async waitFor(id: string, options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<JobJson> {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    for (;;) {
      const left = Math.max(0, (deadline - Date.now()) / 1000);
      const job = await this.getJob(id, { waitSeconds: Math.min(MAX_WAIT_SECONDS, Math.round(left * 10) / 10), ...optSignal(options.signal) });
      if (TERMINAL.has(job.state) || Date.now() >= deadline || options.signal?.aborted) return job;
    }
  }

  /** Search jobs, newest first. */
  async listJobs(filter: JobFilter = {}): Promise<JobPage> {
    const { cursor, ...rest } = filter;
    const r = await this.#call<JobPage>('GET', '/v1/jobs', { query: { ...rest, cursor: cursor ?? undefined } });
    return r.body;
  }

  /** Cancel a waiting job (scheduled, queued, retrying); an active or finished one is a ConflictError (409). */
  async cancel(id: string): Promise<JobJson> {
    return (await this.#call<JobJson>('POST', `/v1/jobs/${seg(id)}/cancel`)).body;
  }

  // ── queues ──────────────────────────────────────────────────────────────────────────────────────────

  /** Create or update a queue (idempotent); `created` tells which. */
  async putQueue(name: string, config: QueueConfig = {}): Promise<QueueJson & { created: boolean }> {
    const r = await this.#call<QueueJson>('PUT', `/v1/queues/${seg(name)}`, { body: config });
    return { ...r.body, created: r.status === 201 };
  }

  async getQueue(name: string): Promise<QueueJson> {
    return (await this.#call<QueueJson>('GET', `/v1/queues/${seg(name)}`)).body;
  }

  async listQueues(): Promise<QueueJson[]> {
    return (await this.#call<{ queues: QueueJson[] }>('GET', '/v1/queues')).body.queues;
  }

  /** Stop leasing the queue's jobs (enqueue keeps working). */
  async pause(name: string): Promise<QueueJson> {
    return (await this.#call<QueueJson>('POST', `/v1/queues/${seg(name)}/pause`)).body;
  }

  async resume(name: string): Promise<QueueJson> {
    return (await this.#call<QueueJson>('POST', `/v1/queues/${seg(name)}/resume`)).body;
  }

  // ── dead-letter queue ───────────────────────────────────────────────────────────────────────────────

  readonly dlq = {
    /** Dead jobs of a queue, newest first, with every attempt's error in their history. */
    list: async (queue: string, options: { limit?: number; cursor?: string | null } = {}): Promise<JobPage> =>
      (await this.#call<JobPage>('GET', `/v1/queues/${seg(queue)}/dead`, { query: { limit: options.limit, cursor: options.cursor ?? undefined } })).body,
    /** Back to `queued` with a fresh attempt budget (`ids`, or `all: true`); `dryRun` only counts. */
    replay: async (queue: string, options: { ids?: readonly string[]; all?: true; dryRun?: boolean }): Promise<ReplayResult> =>
      (await this.#call<ReplayResult>('POST', `/v1/queues/${seg(queue)}/dead/replay`, { body: options })).body,
    /** Delete one dead job; false when there was no such dead job. */
    purge: async (queue: string, id: string): Promise<boolean> => {
      try {
        await this.#call<void>('DELETE', `/v1/queues/${seg(queue)}/dead/${seg(id)}`);
        return true;
      } catch (error) {
        if ((error as { code?: unknown }).code === 'job_not_found') return false;
        throw error;
      }
    },
  };

  // ── remote workers ──────────────────────────────────────────────────────────────────────────────────

  /** Lease up to `max` jobs; with `waitSeconds`, wait that long for some (empty on timeout). */
  async lease(queue: string, request: LeaseRequest): Promise<LeasedJobJson[]> {
    const { signal, ...body } = request;
    const r = await this.#call<{ jobs: LeasedJobJson[] }>('POST', `/v1/queues/${seg(queue)}/leases`, {
      body,
      waitMs: (body.waitSeconds ?? 0) * 1000,
      signal,
    });
    return r.body.jobs;
  }

  /** Complete a leased job; a stale token is a LeaseLostError (409). */
  async ack(job: LeaseRef, result?: unknown): Promise<void> {
    await this.#call('POST', `/v1/jobs/${seg(job.id)}/ack`, { body: result === undefined ? { leaseToken: job.leaseToken } : { leaseToken: job.leaseToken, result } });
  }

  /** Fail the attempt: the job retries with backoff (or after `retryAfterSeconds`), or dies when out of attempts or not retryable. */
  async nack(job: LeaseRef, error: NackError | Error, options: { retryAfterSeconds?: number } = {}): Promise<{ state: 'retrying' | 'dead'; runAt: string | null }> {
    const r = await this.#call<{ state: 'retrying' | 'dead'; runAt: string | null }>('POST', `/v1/jobs/${seg(job.id)}/nack`, {
      body: { leaseToken: job.leaseToken, error: nackError(error), ...(options.retryAfterSeconds !== undefined ? { retryAfterSeconds: options.retryAfterSeconds } : {}) },
    });
    return { state: r.body.state, runAt: r.body.runAt };
  }

  /** Extend the lease to `leaseSeconds` from now; returns the new expiry. */
  async extend(job: LeaseRef, leaseSeconds: number): Promise<{ leaseExpiresAt: string }> {
    const r = await this.#call<{ leaseExpiresAt: string }>('POST', `/v1/jobs/${seg(job.id)}/extend`, { body: { leaseToken: job.leaseToken, leaseSeconds } });
    return { leaseExpiresAt: r.body.leaseExpiresAt };
  }

  /** Record progress (any JSON value), visible in the job's status. */
  async progress(job: LeaseRef, progress: unknown): Promise<void> {
    await this.#call('POST', `/v1/jobs/${seg(job.id)}/progress`, { body: { leaseToken: job.leaseToken, progress: progress ?? null } });
  }

  /** Give a leased job back at once without spending its attempt (a worker shutting down). */
  async release(job: LeaseRef): Promise<void> {
    await this.#call('POST', `/v1/jobs/${seg(job.id)}/release`, { body: { leaseToken: job.leaseToken } });
  }

  // ── transport ───────────────────────────────────────────────────────────────────────────────────────

  async #call<T>(method: string, path: string, options: CallOptions = {}): Promise<Answer<T>> {
    let url = this.url + path;
    const query = Object.entries(options.query ?? {}).filter(([, v]) => v !== undefined && v !== null);
    if (query.length > 0) url += `?${new URLSearchParams(query.map(([k, v]): [string, string] => [k, String(v)])).toString()}`;
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json', ...options.headers };
    if (this.#token) headers['authorization'] = `Bearer ${this.#token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    const limitMs = this.#timeoutMs + (options.waitMs ?? 0);
    const timeout = AbortSignal.timeout(limitMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    let res: Response;
    let text: string;
    try {
      res = await this.#fetch(url, { method, headers, ...(body !== undefined ? { body } : {}), signal });
      text = await res.text();
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason ?? error;
      if (timeout.aborted) throw new SpoolConnectionError(`${method} ${path}: no answer within ${limitMs} ms`, { cause: error, timeout: true });
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      throw new SpoolConnectionError(`${method} ${path}: ${cause?.code ?? cause?.message ?? (error as Error).message}`, { cause: error });
    }
    if (!res.ok) {
      const retryAfter = Number(res.headers.get('retry-after'));
      throw errorFromProblem(problemOf(res.status, res.statusText, text), Number.isFinite(retryAfter) && retryAfter >= 0 && res.headers.has('retry-after') ? retryAfter : null);
    }
    return { status: res.status, headers: res.headers, body: (text === '' ? undefined : JSON.parse(text)) as T };
  }
}

function seg(value: string): string {
  return encodeURIComponent(value);
}

function optSignal(signal: AbortSignal | undefined): { signal?: AbortSignal } {
  return signal ? { signal } : {};
}

function withIsoRunAt<T extends { runAt?: string | Date | undefined }>(item: T): Omit<T, 'runAt'> & { runAt?: string } {
  const { runAt, ...rest } = item;
  return runAt === undefined ? rest : { ...rest, runAt: runAt instanceof Date ? runAt.toISOString() : runAt };
}

function nackError(error: NackError | Error): NackError {
  const e = error as NackError & { retryable?: unknown; code?: unknown };
  return {
    message: String(e.message ?? error),
    ...(typeof e.name === 'string' && e.name !== 'Error' ? { name: e.name } : {}),
    ...(typeof e.code === 'string' ? { code: e.code } : {}),
    ...(typeof e.stack === 'string' ? { stack: e.stack } : {}),
    ...(e.retryable === false ? { retryable: false } : e.retryable === true ? { retryable: true } : {}),
  };
}
