/**
 * Webhook deliveries, the part both drivers share: which transitions owe a notification and the delivery
 * jobs (queue `spool.webhooks`) that carry them. The drivers call `deliveriesFor` with the rows their
 * completion / failure / cancel statements returned and insert what it answers in the same transaction, so
 * a notification exists exactly when its transition committed (docs/design.md "Webhooks").
 *
 * What decides it travels with the rows the statement returns anyway: the queue's `webhook` column (NULL for
 * queues without one; `{"url":…,"events":[…]}` otherwise, kept in step with the config by queueUpsert) and the
 * job's options only when they carry `meta` (callbackUrl, traceparent). A queue without a webhook and a job
 * without a callbackUrl cost a NULL column each and nothing else.
 */
import type { JobError } from '../core/job.js';
import { uuidv7 } from '../core/ids.js';
import type { QueueConfig, WebhookEvent } from '../core/queue-config.js';
import { webhookEventsOf } from '../core/queue-config.js';
import { DELIVERY_MAX_ATTEMPTS, MAX_NOTIFIED_RESULT_CHARS, WEBHOOK_QUEUE, type Delivery, type DeliveryEvent } from '../core/webhooks.js';
import type { JobInsertParams } from './store.js';

/** The queue row's `webhook` column for `config` (what the hot path reads), or null. */
export function webhookColumn(config: QueueConfig): string | null {
  return config.webhook ? JSON.stringify({ url: config.webhook.url, events: webhookEventsOf(config) }) : null;
}

/** SQL (both dialects) for the job's options when they carry `meta`, else NULL: `optionsWithMeta('jobs.options')`. */
export function optionsWithMeta(column: string): string {
  return `CASE WHEN ${column} LIKE '%"meta"%' THEN ${column} END`;
}

/** A job that just reached a terminal state, as the driver's statement returned it. */
export interface FinishedRow {
  readonly id: string;
  readonly queue: string;
  readonly state: WebhookEvent;
  /** The queue row's `webhook` column. */
  readonly webhook: string | null;
  /** The job's options when they carry `meta` (optionsWithMeta), else null. */
  readonly options: string | null;
  readonly resultJson: string | null;
  readonly lastErrorJson: string | null;
}

interface QueueHook {
  readonly url: string;
  readonly events: readonly string[];
}

/** The delivery jobs these transitions owe (none for most batches), ready for the driver's insert. */
export function deliveriesFor(rows: readonly FinishedRow[], nowMs: number): JobInsertParams[] {
  const out: JobInsertParams[] = [];
  let hooks: Map<string, QueueHook> | null = null;
  for (const row of rows) {
    if (row.webhook === null && (row.options === null || !row.options.includes('"callbackUrl"'))) continue;
    if (row.queue === WEBHOOK_QUEUE) continue; // deliveries never notify about themselves
    let hook: QueueHook | undefined;
    if (row.webhook !== null) {
      hooks ??= new Map();
      hook = hooks.get(row.webhook);
      if (!hook) hooks.set(row.webhook, (hook = JSON.parse(row.webhook) as QueueHook));
    }
    const meta = row.options === null ? {} : ((JSON.parse(row.options) as { meta?: Record<string, string> }).meta ?? {});
    const traceparent = meta['traceparent'] ?? null;
    const callbackUrl = meta['callbackUrl'];
    let event: DeliveryEvent | null = null;
    const add = (kind: Delivery['kind'], url: string): void => {
      event ??= eventOf(row, nowMs);
      const delivery: Delivery = { kind, queue: row.queue, url, traceparent, event };
      out.push(deliveryJob(row.id, delivery));
    };
    if (hook && hook.events.includes(row.state)) add('webhook', hook.url);
    if (callbackUrl !== undefined && row.state !== 'cancelled') add('callback', callbackUrl);
  }
  return out;
}

function eventOf(row: FinishedRow, nowMs: number): DeliveryEvent {
  const result = row.resultJson !== null && row.resultJson.length <= MAX_NOTIFIED_RESULT_CHARS ? (JSON.parse(row.resultJson) as unknown) : null;
  const error = row.lastErrorJson === null ? null : (JSON.parse(row.lastErrorJson) as JobError);
  return {
    type: `job.${row.state}`,
    timestamp: new Date(nowMs).toISOString(),
    data: {
      id: row.id,
      queue: row.queue,
      state: row.state,
      result,
      // No stack: the receiver is outside; name and code say what it was.
      lastError: error === null ? null : { message: error.message, ...(error.name ? { name: error.name } : {}), ...(error.code ? { code: error.code } : {}) },
      statusUrl: `/v1/jobs/${encodeURIComponent(row.id)}`,
    },
  };
}

/** A delivery job: no type (a user's job type of any name can never claim it), the notified job's id as its correlation id. */
function deliveryJob(jobId: string, delivery: Delivery): JobInsertParams {
  return {
    id: uuidv7(),
    queue: WEBHOOK_QUEUE,
    type: null,
    version: 1,
    payloadJson: JSON.stringify(delivery),
    priority: 'normal',
    runAt: null,
    delayMs: null,
    orderingKey: null,
    groupKey: null,
    correlationId: jobId,
    maxAttempts: DELIVERY_MAX_ATTEMPTS,
    leaseMs: null,
    optionsJson: null,
    idempotency: null,
  };
}
