/**
 * One push delivery: the handler the push dispatcher's workers run for a job of a queue with a `target`.
 * POSTs `{id, queue, type, version, attempt, payload}` as JSON with `spool-job-id` and `spool-attempt`
 * headers, signed like Standard Webhooks when the target has a `secret` (`webhook-id` is the job id, the
 * same on every attempt, so a receiver can deduplicate), and a W3C `traceparent` when the job has one: a child
 * of the attempt's (same trace id and flags, a new parent id for this hop). A 2xx completes the job (a small JSON answer is kept
 * as its result); anything else — 3xx (redirects are not followed), 4xx, 5xx, a timeout, a refused or failed
 * connection — throws, which the executor turns into a failed attempt with the queue's backoff (and the DLQ
 * once attempts are spent).
 *
 * Owns nothing: the HTTP client (SSRF-guarded, keep-alive) and the current target config come from the
 * dispatcher.
 */
import type { QueueConfig } from '../core/queue-config.js';
import { describeStatus, OutboundRequestError, type GuardedHttpClient, type PostResponse } from '../net/guarded-http.js';
import { webhookHeaders } from '../client/webhook-signature.js';
import { childTraceparent } from '../observability/trace-context.js';
import type { Handler } from '../worker/handler.js';
import { MAX_RESULT_BYTES } from '../core/job-result.js';

export type PushTarget = NonNullable<QueueConfig['target']>;

/** Default `target.timeoutSeconds`. */
export const DEFAULT_TARGET_TIMEOUT_SECONDS = 30;
/** Answers up to the result limit (core/job-result.ts) that parse as JSON are kept as the job's result. */
export { MAX_RESULT_BYTES };

const USER_AGENT = 'spool-push/1';

export type PushFailure = 'status' | 'timeout' | 'refused' | 'connection' | 'aborted' | 'no-target';

/** A delivery that did not end in a 2xx. Retryable: the attempt fails and the queue's backoff applies. */
export class PushDeliveryError extends Error {
  readonly code: string;
  readonly failure: PushFailure;
  readonly status: number | null;
  constructor(failure: PushFailure, message: string, status: number | null = null) {
    super(message);
    this.name = 'PushDeliveryError';
    this.failure = failure;
    this.status = status;
    this.code = `push_${failure.replace('-', '_')}`;
    this.stack = `${this.name}: ${message}`; // a call stack says nothing about a remote answer
  }
}

export interface PushDeliveryDeps {
  readonly http: GuardedHttpClient;
  /** The queue's target as last read (configs change on other nodes too). */
  readonly targetOf: (queue: string) => PushTarget | undefined;
  readonly now?: () => number;
}

export function pushHandler(deps: PushDeliveryDeps): Handler {
  return async (payload, ctx) => {
    const { job } = ctx;
    const target = deps.targetOf(job.queue);
    if (!target) throw new PushDeliveryError('no-target', `queue "${job.queue}" has no target any more`);
    const body = JSON.stringify({ id: job.id, queue: job.queue, type: job.type, version: job.version, attempt: job.attempt, payload });
    const traceparent = childTraceparent(ctx.traceparent);
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      'spool-job-id': job.id,
      'spool-attempt': String(job.attempt),
      ...(traceparent ? { traceparent } : {}),
      ...(target.secret ? webhookHeaders(target.secret, job.id, body, (deps.now ?? Date.now)()) : {}),
    };
    const timeoutMs = Math.round((target.timeoutSeconds ?? DEFAULT_TARGET_TIMEOUT_SECONDS) * 1000);
    let res: PostResponse;
    try {
      res = await deps.http.post(target.url, { headers, body, timeoutMs, signal: ctx.signal, maxResponseBytes: MAX_RESULT_BYTES + 1 });
    } catch (error) {
      if (error instanceof OutboundRequestError) throw new PushDeliveryError(error.failure, error.message);
      throw error;
    }
    if (res.status >= 200 && res.status < 300) return resultOf(res);
    throw new PushDeliveryError('status', describeStatus('target', res), res.status);
  };
}

/** The answer's JSON when it is JSON and small, else null (the job completes either way). */
function resultOf(res: PostResponse): unknown {
  if (res.truncated || res.body.length === 0 || res.body.length > MAX_RESULT_BYTES) return null;
  if (!/\bjson\b/i.test(String(res.headers['content-type'] ?? ''))) return null;
  try {
    return JSON.parse(res.body.toString('utf8')) as unknown;
  } catch {
    return null;
  }
}
