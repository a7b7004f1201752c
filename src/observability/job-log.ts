/**
 * Job event log lines: one shape for every job event wherever it happens (in-process executor, the lease
 * reaper, remote ack / nack / release on the server, admin actions on the facade), so a log search by `jobId`,
 * `correlationId` or `traceId` finds a job's whole story. Each line carries `event`, `jobId`, `queue`,
 * `attempt`, `correlationId` and, when the job has a traceparent, `traceId`; failures add `error`, `reason`,
 * `to` (the next state) and `retryDelayMs`.
 *
 * Levels (README "Logs and traces"): a job's normal life (started, completed, leased) is `debug`; operator
 * actions and releases are `info`; a failed attempt (error, timeout, expired or lost lease) is `warn`; a job
 * going to the DLQ is `error`. The level is checked before anything is built: a disabled event costs one
 * `isLevelEnabled` call on the hot path — no object, no closure call, no trace-id parse.
 */
import type { JobError } from '../core/job.js';
import type { Logger } from '../logger.js';
import type { Store } from '../storage/store.js';
import { traceIdOf } from './trace-context.js';

export type JobEvent =
  | 'job.started'
  | 'job.completed'
  | 'job.leased'
  | 'job.failed'
  | 'job.timed_out'
  | 'job.lease_expired'
  | 'job.lease_lost'
  | 'job.dead'
  | 'job.released'
  | 'job.cancelled'
  | 'job.replayed'
  | 'job.purged';

export type JobEventLevel = 'debug' | 'info' | 'warn' | 'error';

/** What every job event line names. `attempt` is the attempt the event is about (0: none yet, e.g. after a replay). */
export interface JobRef {
  readonly id: string;
  readonly queue: string;
  readonly attempt: number;
  readonly correlationId: string | null;
}

const MESSAGES: Readonly<Record<JobEvent, string>> = {
  'job.started': 'job started',
  'job.completed': 'job completed',
  'job.leased': 'job leased to a remote worker',
  'job.failed': 'job attempt failed',
  'job.timed_out': 'job attempt timed out',
  'job.lease_expired': 'job lease expired (worker crashed, stalled or lost the store)',
  'job.lease_lost': 'job lease lost; aborting the attempt',
  'job.dead': 'job dead (moved to the dead-letter queue)',
  'job.released': 'job released (queued again, attempt not counted)',
  'job.cancelled': 'job cancelled',
  'job.replayed': 'dead job replayed',
  'job.purged': 'dead job purged',
};

/**
 * Log one job event at `level` if that level is enabled. `extra` (a thunk, so nothing is built when the level
 * is off) adds event-specific fields.
 */
export function logJobEvent(
  log: Logger,
  level: JobEventLevel,
  event: JobEvent,
  job: JobRef,
  traceparent: string | null,
  extra?: () => Record<string, unknown>,
): void {
  if (!log.isLevelEnabled(level)) return;
  const traceId = traceparent ? traceIdOf(traceparent) : null;
  log[level](
    {
      event,
      jobId: job.id,
      queue: job.queue,
      attempt: job.attempt,
      correlationId: job.correlationId,
      ...(traceId ? { traceId } : {}),
      ...extra?.(),
    },
    MESSAGES[event],
  );
}

/**
 * One `job.replayed` line per replayed job (a DLQ replay, an admin action). Their correlation ids are read
 * back in chunks, only when `info` is on.
 */
export async function logReplayed(log: Logger, store: Pick<Store, 'jobGetMany'>, queue: string, ids: readonly string[]): Promise<void> {
  if (ids.length === 0 || !log.isLevelEnabled('info')) return;
  for (let i = 0; i < ids.length; i += REPLAY_READ_CHUNK) {
    const chunk = ids.slice(i, i + REPLAY_READ_CHUNK);
    const jobs = await store.jobGetMany({ ids: chunk }).catch(() => []);
    const correlation = new Map(jobs.map((j) => [j.id, j.correlationId]));
    for (const id of chunk) logJobEvent(log, 'info', 'job.replayed', { id, queue, attempt: 0, correlationId: correlation.get(id) ?? null }, null);
  }
}

const REPLAY_READ_CHUNK = 500;

/** Why an attempt failed, as the failure events name it. */
export type FailureReason = 'error' | 'timeout' | 'lease-expired' | 'nack';

const FAILURE_EVENTS: Readonly<Record<FailureReason, JobEvent>> = {
  error: 'job.failed',
  timeout: 'job.timed_out',
  'lease-expired': 'job.lease_expired',
  nack: 'job.failed',
};

/**
 * A failed attempt with its decision: `warn` with the reason's event when the job will retry, `error` and
 * `job.dead` when it goes to the DLQ (one line either way).
 */
export function logJobFailure(
  log: Logger,
  job: JobRef,
  traceparent: string | null,
  failure: { readonly reason: FailureReason; readonly error: JobError; readonly to: 'retrying' | 'dead'; readonly retryDelayMs: number },
): void {
  const dead = failure.to === 'dead';
  logJobEvent(log, dead ? 'error' : 'warn', dead ? 'job.dead' : FAILURE_EVENTS[failure.reason], job, traceparent, () => ({
    reason: failure.reason,
    to: failure.to,
    ...(dead ? {} : { retryDelayMs: failure.retryDelayMs }),
    error: errorFields(failure.error),
  }));
}

/** An attempt's error for a log line: message, name and code (the stack stays in the job's history). */
function errorFields(error: JobError): Record<string, unknown> {
  return {
    message: error.message,
    ...(error.name !== undefined ? { name: error.name } : {}),
    ...(error.code !== undefined ? { code: error.code } : {}),
    ...(error.retryable === false ? { retryable: false } : {}),
  };
}

/** The traceparent a job carries in its options (`meta.traceparent`; a claim's parsed `optionsJson`). */
export function traceparentOf(options: { readonly meta?: Readonly<Record<string, string>> } | null | undefined): string | null {
  return options?.meta?.['traceparent'] ?? null;
}

/** The same from the options' JSON text (paths that have not parsed it already). */
export function traceparentOfJson(optionsJson: string | null): string | null {
  return optionsJson ? traceparentOf(JSON.parse(optionsJson) as { meta?: Record<string, string> }) : null;
}
