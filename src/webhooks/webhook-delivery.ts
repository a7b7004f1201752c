/**
 * One webhook delivery: the handler the dispatcher runs for each job of `spool.webhooks` (core/webhooks.ts
 * has the job's shape). It POSTs the notification per Standard Webhooks — `webhook-id` is the delivery's id,
 * the same on every attempt; `webhook-timestamp` and `webhook-signature` are made afresh on each attempt with
 * the secrets in force then (the queue's current one, plus a replaced one during its rotation window; a
 * callback without a queue webhook uses SPOOL_WEBHOOK_SECRET) — and reads the answer:
 *
 *   2xx                   delivered: the delivery completes with `{status}` as its result.
 *   410 Gone              a queue webhook is disabled (store.queueWebhookDisable) until the queue's webhook is
 *                         declared again, and this and every later delivery to it end in the DLQ at once,
 *                         without a request; a callback's delivery ends in the DLQ.
 *   429 + Retry-After     the next attempt when the receiver says (seconds or an HTTP date, capped).
 *   anything else         3xx (redirects are never followed), 4xx, 5xx, a timeout, a refused or failed
 *                         connection: retried on the schedule (about 5 s, 30 s, 2 min, 15 min, 1 h, then
 *                         hourly, with jitter) until `maxAgeMs` (3 days) after the delivery was created, when
 *                         it goes to the DLQ of `spool.webhooks`, where operators see and replay it.
 *
 * The handler tells the executor when to retry with RetryAfterError, and gives up with NonRetryableError.
 */
import { NonRetryableError, RetryAfterError } from '../core/job.js';
import { validate } from '../core/validation.js';
import { DeliverySchema, signingSecrets, type Delivery } from '../core/webhooks.js';
import { webhookHeaders } from '../client/webhook-signature.js';
import { describeStatus, OutboundRequestError, type GuardedHttpClient, type PostResponse } from '../net/guarded-http.js';
import type { QueueConfig } from '../core/queue-config.js';
import type { Logger } from '../logger.js';
import type { Store } from '../storage/store.js';
import type { Handler } from '../worker/handler.js';

export const WEBHOOK_SECRET_ENV = 'SPOOL_WEBHOOK_SECRET';
export const PUBLIC_URL_ENV = 'SPOOL_PUBLIC_URL';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;

export const DELIVERY_DEFAULTS = {
  timeoutMs: 10 * SECOND,
  /** Delay after the n-th failed attempt; the last one repeats. */
  retryScheduleMs: [5 * SECOND, 30 * SECOND, 2 * MINUTE, 15 * MINUTE, HOUR] as readonly number[],
  /** ± this fraction of each delay, at random. */
  jitter: 0.2,
  maxAgeMs: 3 * 24 * HOUR,
  /** A receiver's Retry-After is honoured up to this. */
  maxRetryAfterMs: HOUR,
};

export interface WebhookDeliveryOptions {
  /** Deadline of one attempt (connect, send, answer): default 10 s. */
  readonly timeoutMs?: number;
  /** Delays after the 1st, 2nd, … failed attempt; the last repeats (default 5 s, 30 s, 2 min, 15 min, 1 h). */
  readonly retryScheduleMs?: readonly number[];
  /** Fraction of each delay added or taken away at random (default 0.2). */
  readonly jitter?: number;
  /** Give up this long after the delivery was created (default 3 days). */
  readonly maxAgeMs?: number;
  /** Cap on a `429`'s Retry-After (default 1 h). */
  readonly maxRetryAfterMs?: number;
  /**
   * Base URL that makes each notification's `statusUrl` absolute (default: SPOOL_PUBLIC_URL; `spool serve`
   * passes its listening address when that is unset). Without one, `statusUrl` stays the path `/v1/jobs/{id}`.
   */
  readonly publicUrl?: string | (() => string | undefined);
}

export interface WebhookDeliveryDeps {
  readonly http: GuardedHttpClient;
  readonly store: Pick<Store, 'queueGet' | 'queueWebhookDisable'>;
  readonly log: Logger;
}

const USER_AGENT = 'spool-webhooks/1';
const MAX_ANSWER_BYTES = 4096;

/** A failed attempt, retried after `retryAfterMs`; its message is the attempt's error (no call stack: it is about a remote answer). */
function retryLater(message: string, delayMs: number): RetryAfterError {
  const error = new RetryAfterError(message, delayMs);
  error.stack = `${error.name}: ${message}`;
  return error;
}

function giveUp(message: string): NonRetryableError {
  const error = new NonRetryableError(message);
  error.stack = `${error.name}: ${message}`;
  return error;
}

export function webhookDeliveryHandler(deps: WebhookDeliveryDeps, options: WebhookDeliveryOptions = {}): Handler {
  const o = { ...DELIVERY_DEFAULTS, ...options };
  return async (payload, ctx) => {
    const { job } = ctx;
    const invalid = validate(DeliverySchema, payload);
    if (invalid.length > 0) throw giveUp(`not a webhook delivery: ${invalid[0]!.path || '(root)'} ${invalid[0]!.message}`);
    const delivery = payload as Delivery;
    const now = Date.now();
    const secrets = await secretsFor(deps, delivery, now);
    const body = JSON.stringify(withAbsoluteStatusUrl(delivery, publicUrlOf(o.publicUrl)));
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      'user-agent': USER_AGENT,
      ...webhookHeaders(secrets, job.id, body, now),
      ...(delivery.traceparent ? { traceparent: delivery.traceparent } : {}),
    };

    const failed = (message: string, delayMs?: number): RetryAfterError | NonRetryableError => {
      const deadline = job.createdAt.getTime() + o.maxAgeMs;
      const at = Date.now();
      if (at >= deadline) return giveUp(`gave up ${Math.round(o.maxAgeMs / 1000)} s after the notification was created; last attempt: ${message}`);
      const scheduled = delayMs ?? jittered(o.retryScheduleMs[Math.min(job.attempt, o.retryScheduleMs.length) - 1] ?? HOUR, o.jitter);
      // The last attempt falls on the deadline rather than past it.
      return retryLater(message, Math.min(scheduled, deadline - at));
    };

    let res: PostResponse;
    try {
      res = await deps.http.post(delivery.url, { headers, body, timeoutMs: o.timeoutMs, signal: ctx.signal, maxResponseBytes: MAX_ANSWER_BYTES });
    } catch (error) {
      if (error instanceof OutboundRequestError) throw failed(error.message);
      throw error;
    }
    if (res.status >= 200 && res.status < 300) return { status: res.status };
    const answer = describeStatus('endpoint', res);
    if (res.status === 410) {
      if (delivery.kind === 'callback') throw giveUp(`${answer}: the callback URL is gone`);
      const reason = `${answer} (410 Gone)`;
      if (await deps.store.queueWebhookDisable({ name: delivery.queue, url: delivery.url, reason })) {
        deps.log.warn({ queue: delivery.queue, url: delivery.url }, 'webhook: endpoint answered 410 Gone; the queue webhook is disabled until it is declared again');
      }
      throw giveUp(`${reason}: the queue's webhook is disabled until it is set again`);
    }
    if (res.status === 429) {
      const after = retryAfterMs(res.headers['retry-after'], Date.now());
      throw failed(answer, after === null ? undefined : Math.min(after, o.maxRetryAfterMs));
    }
    throw failed(answer);
  };
}

/** The secrets that sign this delivery now (see the module comment); gives up when there are none or the webhook is disabled. */
async function secretsFor(deps: WebhookDeliveryDeps, delivery: Delivery, nowMs: number): Promise<string[]> {
  const queue = await deps.store.queueGet(delivery.queue);
  const hook = queue?.config.webhook;
  if (delivery.kind === 'webhook') {
    if (!queue || !hook) throw giveUp(`queue "${delivery.queue}" has no webhook any more`);
    const state = queue.webhookState;
    if (state?.disabledAt && hook.url === delivery.url) {
      throw giveUp(`the queue's webhook is disabled since ${state.disabledAt.toISOString()} (${state.disabledReason ?? 'disabled'}); declare it again to re-enable it`);
    }
    return signingSecrets(queue.config, state, nowMs);
  }
  if (queue && hook) return signingSecrets(queue.config, queue.webhookState, nowMs);
  const fallback = process.env[WEBHOOK_SECRET_ENV];
  if (fallback) return [fallback];
  throw giveUp(`no secret to sign the callback with: queue "${delivery.queue}" has no webhook and ${WEBHOOK_SECRET_ENV} is not set`);
}

function publicUrlOf(option: WebhookDeliveryOptions['publicUrl']): string | undefined {
  const value = typeof option === 'function' ? option() : option;
  return value ?? process.env[PUBLIC_URL_ENV] ?? undefined;
}

function withAbsoluteStatusUrl(delivery: Delivery, base: string | undefined): Delivery['event'] {
  if (!base) return delivery.event;
  // Relative to the base's path, so a server published under a prefix (https://example.com/spool) keeps it.
  const statusUrl = new URL(delivery.event.data.statusUrl.replace(/^\//, ''), base.endsWith('/') ? base : `${base}/`).toString();
  return { ...delivery.event, data: { ...delivery.event.data, statusUrl } };
}

function jittered(ms: number, jitter: number): number {
  return Math.max(0, Math.round(ms * (1 + jitter * (2 * Math.random() - 1))));
}

/** `Retry-After` as delay-seconds or an HTTP date → ms from `nowMs` (≥ 0), or null when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, nowMs: number): number | null {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return null;
  if (/^[0-9]+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : null;
}

/**
 * Why a job's callbackUrl on a queue with `config` could not be signed — the queue has no webhook (whose secret
 * signs callbacks) and SPOOL_WEBHOOK_SECRET is unset — as a 422 message; null when it can. Spool refuses such a
 * job at enqueue rather than send an unsigned notification.
 */
export function callbackSecretProblem(config: QueueConfig, env: NodeJS.ProcessEnv = process.env): string | null {
  if (config.webhook || env[WEBHOOK_SECRET_ENV]) return null;
  return `cannot be signed: the queue has no webhook (whose secret signs callbacks) and ${WEBHOOK_SECRET_ENV} is not set`;
}
