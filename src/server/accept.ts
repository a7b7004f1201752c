/**
 * The accept path: turn a validated enqueue request (one job or a batch) into an engine call, after the
 * checks the engine does not make itself — the queue's `requireIdempotencyKey`, its payload contract
 * (`schema` / `contracts`) and its `admission` limits — all answered from the QueueMonitor's short-lived
 * view, so accepting costs no extra store round trip (a refusal is confirmed by a fresh read first). The 202 is answered only after `spool.enqueue`
 * resolves, i.e. after the (group) commit.
 *
 * Idempotency: the engine fingerprints the request and answers a replay or an IdempotencyKeyReusedError;
 * this module adds the in-flight rule (a request racing an in-flight one with the same queue and key is
 * 409, with Retry-After) for requests on this node. Across nodes the store's unique index decides, and the
 * loser replays. The fingerprint is the body (and the queue): `X-Correlation-Id` and `traceparent` travel as
 * transport metadata (`transportCorrelationId`, `traceparent`), so a retry with fresh ones replays.
 *
 * Dry runs go through every check (including the engine's own via `validateEnqueue`) and write nothing.
 */
import {
  IdempotencyKeyRequiredError,
  IdempotencyKeyReusedError,
  SpoolError,
  ValidationError,
  type FieldError,
} from '../core/errors.js';
import { checkQueueContract } from '../engine/queue-contracts.js';
import type { QueueConfig } from '../core/queue-config.js';
import { targetUrlProblem } from '../net/target-guard.js';
import { callbackSecretProblem } from '../webhooks/webhook-delivery.js';
import type { EnqueueItem, EnqueueOptions } from '../engine/enqueue.js';
import type { EnqueueResult, QueueInfo, Spool } from '../spool.js';
import { FieldProblem, HttpProblem, SpoolProblem, type ProblemFieldError } from './problem.js';
import type { QueueMonitor } from './queue-monitor.js';
import type { BatchItemJson, EnqueueBodyJson } from './schemas/index.js';

/** What the request carried besides its body. */
export interface RequestContext {
  readonly idempotencyKey: string | null;
  /** From `X-Correlation-Id` / `Correlation-Id`; the body's `correlationId` wins. */
  readonly correlationId: string | null;
  /** W3C `traceparent` (valid, normalised), kept with the job. */
  readonly traceparent: string | null;
  readonly dryRun: boolean;
}

export interface DryRunAnswer {
  readonly dryRun: true;
  readonly valid: true;
  readonly queue: string;
  readonly count: number;
  readonly state: 'queued' | 'scheduled';
  readonly idempotencyKey: string | null;
}

export class AcceptPath {
  readonly #spool: Spool;
  readonly #monitor: QueueMonitor;
  /** Told of every admission refusal (the server's `spool_admission_rejected_total`). */
  readonly #onRejected: (queue: string, reason: 'max_depth' | 'max_age') => void;
  /** `queue \0 key` of idempotent requests this node is committing now. */
  readonly #inFlight = new Set<string>();

  constructor(spool: Spool, monitor: QueueMonitor, onRejected: (queue: string, reason: 'max_depth' | 'max_age') => void = () => {}) {
    this.#spool = spool;
    this.#monitor = monitor;
    this.#onRejected = onRejected;
  }

  async one(queue: string, body: EnqueueBodyJson, ctx: RequestContext): Promise<EnqueueResult | DryRunAnswer> {
    const info = await this.#monitor.get(queue);
    if (info.config.requireIdempotencyKey && !ctx.idempotencyKey) throw new IdempotencyKeyRequiredError(queue);
    if (body.runAt !== undefined && body.delaySeconds !== undefined) {
      throw new FieldProblem(400, 'give runAt or delaySeconds, not both', [{ path: '/delaySeconds', message: 'cannot be combined with runAt' }]);
    }
    const contract = checkQueueContract(info.config, body);
    if (contract.errors.length > 0) throw contractError(contract.errors);
    const callback = callbackUrlProblem(body, info.config);
    if (callback) throw new ValidationError(`callbackUrl ${callback}`, [{ path: '/callbackUrl', message: callback }]);
    const options = enqueueOptions(body, contract.version, ctx, ctx.idempotencyKey);
    await this.#admit(queue, info, 1, ctx.dryRun);
    if (ctx.dryRun) {
      this.#spool.validateEnqueue(queue, body.payload, options);
      return { dryRun: true, valid: true, queue, count: 1, state: initialState(body), idempotencyKey: ctx.idempotencyKey };
    }
    const flight = ctx.idempotencyKey ? this.#enter(queue, [ctx.idempotencyKey]) : null;
    try {
      const result = await this.#spool.enqueue(queue, body.payload, options);
      if (!result.replayed) this.#monitor.noteAccepted(queue, 1);
      return result;
    } finally {
      flight?.();
    }
  }

  async batch(queue: string, items: readonly BatchItemJson[], ctx: RequestContext): Promise<EnqueueResult[] | DryRunAnswer> {
    if (ctx.idempotencyKey) {
      throw new FieldProblem(400, 'a batch takes no Idempotency-Key header: give each item its own idempotencyKey', [
        { path: '/Idempotency-Key', message: 'use jobs[].idempotencyKey', location: 'headers' },
      ]);
    }
    const info = await this.#monitor.get(queue);
    const invalid: ProblemFieldError[] = [];
    const keys = new Map<string, number>();
    items.forEach((item, index) => {
      const at = `/jobs/${index}`;
      if (item.runAt !== undefined && item.delaySeconds !== undefined) invalid.push({ index, path: `${at}/delaySeconds`, message: 'cannot be combined with runAt' });
      if (info.config.requireIdempotencyKey && !item.idempotencyKey) invalid.push({ index, path: `${at}/idempotencyKey`, message: `is required on queue "${queue}"` });
      if (item.idempotencyKey) {
        const first = keys.get(item.idempotencyKey);
        if (first !== undefined) invalid.push({ index, path: `${at}/idempotencyKey`, message: `repeats item ${first}'s key` });
        else keys.set(item.idempotencyKey, index);
      }
    });
    if (invalid.length > 0) {
      const required = invalid.every((e) => e.message.startsWith('is required'));
      if (required) throw new SpoolProblem(new IdempotencyKeyRequiredError(queue), invalid);
      throw new FieldProblem(400, `batch item ${invalid[0]!.index}: ${invalid[0]!.path} ${invalid[0]!.message}`, invalid);
    }

    const failed: ProblemFieldError[] = [];
    const prepared: EnqueueItem[] = items.map((item, index) => {
      const contract = checkQueueContract(info.config, item);
      for (const e of contract.errors) failed.push({ index, path: `/jobs/${index}${e.path}`, message: e.message });
      const callback = callbackUrlProblem(item, info.config);
      if (callback) failed.push({ index, path: `/jobs/${index}/callbackUrl`, message: callback });
      const options = enqueueOptions(item, contract.version, ctx, item.idempotencyKey ?? null);
      if (contract.errors.length === 0) {
        try {
          this.#spool.validateEnqueue(queue, item.payload, options);
        } catch (error) {
          if (!(error instanceof ValidationError)) throw new SpoolProblem(error as SpoolError, [{ index, path: `/jobs/${index}`, message: (error as Error).message }]);
          for (const e of error.errors) failed.push({ index, path: `/jobs/${index}${e.path}`, message: e.message });
        }
      }
      return { ...options, queue, payload: item.payload };
    });
    if (failed.length > 0) {
      throw new FieldProblem(422, `batch item ${failed[0]!.index}: ${failed[0]!.path} ${failed[0]!.message}`, failed);
    }
    await this.#admit(queue, info, items.length, ctx.dryRun);
    if (ctx.dryRun) {
      return { dryRun: true, valid: true, queue, count: items.length, state: initialState(items[0]!), idempotencyKey: null };
    }
    const flight = keys.size > 0 ? this.#enter(queue, [...keys.keys()]) : null;
    try {
      const results = await this.#spool.enqueueMany(prepared, { atomic: true });
      this.#monitor.noteAccepted(queue, results.filter((r) => !r.replayed).length);
      return results;
    } catch (error) {
      if (error instanceof IdempotencyKeyReusedError) {
        const index = keys.get(error.key) ?? 0;
        throw new SpoolProblem(error, [{ index, path: `/jobs/${index}/idempotencyKey`, message: error.message }]);
      }
      throw error;
    } finally {
      flight?.();
    }
  }

  /** Admission control: waiting work or its age over the queue's limits → 503, nothing written (counted unless a dry run). */
  async #admit(queue: string, info: QueueInfo, adding: number, dryRun: boolean): Promise<void> {
    const refusal = await admissionRefusal(this.#monitor, queue, info, adding);
    if (!refusal) return;
    if (!dryRun) this.#onRejected(queue, refusal.reason);
    throw new HttpProblem('admission-rejected', `queue "${queue}" ${refusal.detail}`);
  }

  /** Mark idempotency keys in flight; the returned function releases them. Any already in flight → 409. */
  #enter(queue: string, keys: readonly string[]): () => void {
    const ids = keys.map((k) => `${queue}\0${k}`);
    const busy = ids.findIndex((id) => this.#inFlight.has(id));
    if (busy >= 0) {
      throw new SpoolError('idempotency_key_in_flight', `a request with idempotency key "${keys[busy]}" on queue "${queue}" is still in flight; retry once it has finished`);
    }
    for (const id of ids) this.#inFlight.add(id);
    return () => {
      for (const id of ids) this.#inFlight.delete(id);
    };
  }
}

export interface AdmissionRefusal {
  readonly reason: 'max_depth' | 'max_age';
  /** Ends the problem's detail after the queue's name ("is full: …"). */
  readonly detail: string;
}

/**
 * Why the queue's `admission` limits refuse `adding` more jobs, or null. `maxDepth: N` admits while fewer than N
 * wait (queued + retrying). The monitor's cached view may only say yes: a refusal it suggests is checked again
 * on a read that starts now (`monitor.current`), so a refusal is true when given — a job leased, acked or
 * cancelled a moment ago, on any node, makes room for the very next request. Used by enqueue, batch and topics.
 */
export async function admissionRefusal(monitor: QueueMonitor, queue: string, cached: QueueInfo, adding: number): Promise<AdmissionRefusal | null> {
  if (!cached.config.admission || !limitRefusal(monitor, queue, cached, adding)) return null;
  return limitRefusal(monitor, queue, await monitor.current(queue), adding);
}

function limitRefusal(monitor: QueueMonitor, queue: string, info: QueueInfo, adding: number): AdmissionRefusal | null {
  const limits = info.config.admission;
  if (!limits) return null;
  const waiting = monitor.waitingOf(queue, info);
  if (limits.maxDepth !== undefined && waiting + adding > limits.maxDepth) {
    return { reason: 'max_depth', detail: `is full: ${waiting} jobs waiting, admission.maxDepth is ${limits.maxDepth}` };
  }
  if (limits.maxAgeSeconds !== undefined && info.stats.oldestAgeSeconds > limits.maxAgeSeconds) {
    return {
      reason: 'max_age',
      detail: `is behind: its oldest waiting job has waited ${Math.round(info.stats.oldestAgeSeconds)} s, admission.maxAgeSeconds is ${limits.maxAgeSeconds}`,
    };
  }
  return null;
}

function enqueueOptions(body: EnqueueBodyJson, version: number | undefined, ctx: RequestContext, idempotencyKey: string | null): EnqueueOptions {
  const meta: Record<string, string> = {};
  if (body.callbackUrl !== undefined) meta['callbackUrl'] = body.callbackUrl;
  return {
    ...(body.type !== undefined ? { type: body.type } : {}),
    ...(version !== undefined ? { version } : {}),
    ...(body.priority !== undefined ? { priority: body.priority } : {}),
    ...(body.runAt !== undefined ? { runAt: body.runAt } : {}),
    ...(body.delaySeconds !== undefined ? { delaySeconds: body.delaySeconds } : {}),
    ...(body.orderingKey !== undefined ? { orderingKey: body.orderingKey } : {}),
    ...(body.groupKey !== undefined ? { groupKey: body.groupKey } : {}),
    ...(body.maxAttempts !== undefined ? { maxAttempts: body.maxAttempts } : {}),
    ...(body.backoff !== undefined ? { backoff: body.backoff } : {}),
    ...(body.leaseSeconds !== undefined ? { leaseSeconds: body.leaseSeconds } : {}),
    ...(body.timeoutSeconds !== undefined ? { timeoutSeconds: body.timeoutSeconds } : {}),
    // The body's correlationId is part of the request; the header's is transport metadata (not fingerprinted).
    ...(body.correlationId !== undefined ? { correlationId: body.correlationId } : {}),
    ...(ctx.correlationId !== null ? { transportCorrelationId: ctx.correlationId } : {}),
    ...(idempotencyKey ? { idempotencyKey } : {}),
    ...(ctx.traceparent ? { traceparent: ctx.traceparent } : {}),
    ...(Object.keys(meta).length > 0 ? { meta } : {}),
  };
}

/**
 * A `callbackUrl` the server would be asked to call: http(s), not a literal private address (SSRF guard), and
 * signable (the queue's webhook secret or SPOOL_WEBHOOK_SECRET: nothing is sent unsigned).
 */
function callbackUrlProblem(body: { callbackUrl?: string | undefined }, config: QueueConfig): string | null {
  return body.callbackUrl === undefined ? null : (targetUrlProblem(body.callbackUrl) ?? callbackSecretProblem(config));
}

function contractError(errors: readonly FieldError[]): ValidationError {
  const first = errors[0]!;
  return new ValidationError(`payload does not match the queue's contract: ${first.path} ${first.message}`, errors);
}

function initialState(body: { runAt?: string | undefined; delaySeconds?: number | undefined }): 'queued' | 'scheduled' {
  if (body.delaySeconds !== undefined && body.delaySeconds > 0) return 'scheduled';
  if (body.runAt !== undefined && Date.parse(body.runAt) > Date.now()) return 'scheduled';
  return 'queued';
}
