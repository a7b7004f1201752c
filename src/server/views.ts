/**
 * Engine objects → the JSON the API answers: every documented field present (null when empty), timestamps
 * as ISO-8601 UTC strings, secrets redacted. The shapes are the response schemas in schemas/.
 */
import type { HistoryEntry, Job, JobError } from '../core/job.js';
import { agingSecondsOf, DEFAULT_SECRET_ROTATION_SECONDS, DEFAULTS, onDeadOf, retentionOf, resolveRunSettings, type QueueConfig } from '../core/queue-config.js';
import type { QueueInfo } from '../spool.js';
import type { JobReceipt } from '../storage/store.js';
import type { WebhookState } from '../core/webhooks.js';
import type { QueueRates } from './queue-monitor.js';
import type { QueueSeries } from '../engine/queue-series.js';
import type { JobJson, JobStateEventJson, QueueJson, QueueSeriesJson } from './schemas/index.js';

export const REDACTED = '[redacted]';

export function statusUrl(id: string): string {
  return `/v1/jobs/${encodeURIComponent(id)}`;
}

export function receiptJson(r: JobReceipt): { id: string; queue: string; state: 'queued' | 'scheduled'; statusUrl: string; createdAt: string; runAt: string } {
  return {
    id: r.id,
    queue: r.queue,
    state: r.state === 'scheduled' ? 'scheduled' : 'queued',
    statusUrl: statusUrl(r.id),
    createdAt: r.createdAt.toISOString(),
    runAt: r.runAt.toISOString(),
  };
}

function errorJson(e: JobError): JobError {
  return {
    message: e.message,
    ...(e.name !== undefined ? { name: e.name } : {}),
    ...(e.code !== undefined ? { code: e.code } : {}),
    ...(e.stack !== undefined ? { stack: e.stack } : {}),
    ...(e.retryable !== undefined ? { retryable: e.retryable } : {}),
  };
}

function historyJson(h: HistoryEntry): JobJson['history'][number] {
  return {
    state: h.state,
    at: h.at.toISOString(),
    attempt: h.attempt,
    ...(h.error ? { error: errorJson(h.error) } : {}),
    ...(h.reason ? { reason: h.reason } : {}),
  };
}

const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);
const orNull = (v: unknown): unknown => (v === undefined ? null : v);

export function jobJson(job: Job): JobJson {
  return {
    id: job.id,
    queue: job.queue,
    type: job.type,
    version: job.version,
    state: job.state,
    priority: job.priority,
    orderingKey: job.orderingKey,
    groupKey: job.groupKey,
    correlationId: job.correlationId,
    attempts: job.attempts,
    maxAttempts: job.maxAttempts,
    createdAt: job.createdAt.toISOString(),
    runAt: job.runAt.toISOString(),
    startedAt: iso(job.startedAt),
    finishedAt: iso(job.finishedAt),
    progress: orNull(job.progress),
    result: orNull(job.result),
    lastError: job.lastError ? errorJson(job.lastError) : null,
    payload: orNull(job.payload),
    payloadRef: job.payloadBytes === null ? null : `${statusUrl(job.id)}/payload`,
    payloadBytes: job.payloadBytes,
    history: job.history.map(historyJson),
  };
}

/** The declared config with secrets replaced. */
export function redactConfig(config: QueueConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...config };
  if (config.target?.secret !== undefined) out['target'] = { ...config.target, secret: REDACTED };
  if (config.webhook) out['webhook'] = { ...config.webhook, secret: REDACTED };
  return out;
}

/** A queue's webhook: the declared settings (secret redacted) and its state — disabled by a 410, a secret rotating out. */
function webhookJson(hook: NonNullable<QueueConfig['webhook']>, state: WebhookState | null): NonNullable<QueueJson['webhook']> {
  const until = Math.max(0, ...(state?.previousSecrets ?? []).map((p) => p.until.getTime()).filter((t) => t > Date.now()));
  return {
    url: hook.url,
    secret: REDACTED,
    events: hook.events ? [...hook.events] : null,
    secretRotationSeconds: hook.secretRotationSeconds ?? DEFAULT_SECRET_ROTATION_SECONDS, // the effective value, as the other settings
    disabledAt: iso(state?.disabledAt ?? null),
    disabledReason: state?.disabledReason ?? null,
    previousSecretUntil: until > 0 ? new Date(until).toISOString() : null,
  };
}

export function queueJson(info: QueueInfo, rates: QueueRates | null): QueueJson {
  const c = info.config;
  const run = resolveRunSettings(c);
  const counts = info.stats.counts;
  return {
    name: info.name,
    paused: info.paused,
    maxAttempts: run.retry.maxAttempts,
    backoff: { ...run.retry.backoff },
    leaseSeconds: run.leaseSeconds,
    timeoutSeconds: run.timeoutSeconds,
    concurrency: c.concurrency ?? DEFAULTS.concurrency,
    rateLimit: c.rateLimit ? { perSecond: c.rateLimit.perSecond } : null,
    agingSeconds: agingSecondsOf(c),
    ordering: { onDead: onDeadOf(c) },
    retention: retentionOf(c),
    admission: c.admission ? { maxDepth: c.admission.maxDepth ?? null, maxAgeSeconds: c.admission.maxAgeSeconds ?? null } : null,
    requireIdempotencyKey: c.requireIdempotencyKey ?? false,
    slo: c.slo ? { p95CompletionSeconds: c.slo.p95CompletionSeconds ?? null, maxAgeSeconds: c.slo.maxAgeSeconds ?? null } : null,
    groups: c.groups
      ? { concurrency: c.groups.concurrency ?? null, rateLimit: c.groups.rateLimit ? { perSecond: c.groups.rateLimit.perSecond } : null }
      : null,
    target: c.target
      ? { url: c.target.url, timeoutSeconds: c.target.timeoutSeconds ?? null, secret: c.target.secret !== undefined ? REDACTED : null }
      : null,
    webhook: c.webhook ? webhookJson(c.webhook, info.webhookState) : null,
    schema: c.schema ?? null,
    contracts: c.contracts ?? null,
    config: redactConfig(c),
    createdAt: info.createdAt.toISOString(),
    updatedAt: info.updatedAt.toISOString(),
    stats: {
      counts: { ...counts },
      waiting: counts.queued + counts.retrying,
      oldestAgeSeconds: info.stats.oldestAgeSeconds,
      totals: { ...info.stats.totals },
      throughput: rates
        ? {
            windowSeconds: rates.windowSeconds,
            enqueuedPerSecond: rates.enqueuedPerSecond,
            completedPerSecond: rates.completedPerSecond,
            failedPerSecond: rates.failedPerSecond,
            deadPerSecond: rates.deadPerSecond,
          }
        : null,
      failureRate: rates?.failureRate ?? null,
      sampledAt: new Date().toISOString(),
    },
  };
}

export function queueSeriesJson(series: QueueSeries): QueueSeriesJson {
  return {
    queue: series.queue,
    window: series.windowSeconds,
    step: series.stepSeconds,
    from: series.from.toISOString(),
    to: series.to.toISOString(),
    slo: series.slo ? { ...series.slo } : null,
    points: series.points.map((p) => ({ ...p, at: p.at.toISOString() })),
  };
}

/** One history entry as the data of an `event: state` (GET /v1/jobs/{id}/events). */
export function stateEventJson(id: string, h: HistoryEntry): JobStateEventJson {
  return {
    id,
    state: h.state,
    at: h.at.toISOString(),
    attempt: h.attempt,
    ...(h.reason ? { reason: h.reason } : {}),
    ...(h.error ? { error: errorJson(h.error) } : {}),
  };
}
