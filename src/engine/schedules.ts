/**
 * Schedules (recurring jobs): a cron expression in an IANA time zone that enqueues one job into a queue at
 * each due time. This module owns the schedule record (store kind `schedule`), its validation (cron, time
 * zone, queue, payload against the queue's contract and the job type's schema — all at PUT time, so a
 * schedule that could never enqueue is refused up front) and the cron arithmetic (croner, in the schedule's
 * zone). The schedule runner (worker/maintenance/schedule-runner.ts, leader only) fires due times; the facade
 * (`spool.putSchedule`, …) and the HTTP routes manage schedules through the functions here.
 *
 * The record carries the runner's state next to the definition:
 *   nextRunAt  the next due time not yet enqueued (ms; null: the expression matches no later date)
 *   lastRunAt  the last due time enqueued, lastJobId its job, lastError why the last due time made no job
 * A PUT that changes `cron` or `timezone` (or creates the schedule) computes `nextRunAt` from now (store
 * clock); a PUT that changes only the job (queue, payload, type, priority) keeps the pending `nextRunAt`, so
 * a due time about to be enqueued is not dropped by an unrelated edit. Every write is a compare-and-set on
 * the record's version.
 */
import { Cron } from 'croner';
import {
  InvalidArgumentError,
  ScheduleNotFoundError,
  SpoolError,
  ValidationError,
  type FieldError,
} from '../core/errors.js';
import { isPriority, type Priority } from '../core/priority.js';
import { isValidQueueName, type QueueConfig } from '../core/queue-config.js';
import type { Store, StoredRecord } from '../storage/store.js';
import type { EnqueueItem, EnqueueOptions } from './enqueue.js';
import { checkQueueContract } from './queue-contracts.js';

export const DEFAULT_TIMEZONE = 'UTC';
const MAX_CRON_LENGTH = 200;
const MAX_TYPE_LENGTH = 128;
/** Compare-and-set retries of one PUT racing the runner (or another PUT) before giving up. */
const PUT_ATTEMPTS = 8;

export interface ScheduleConfig {
  /** 5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or @hourly/@daily/@weekly/@monthly/@yearly. */
  readonly cron: string;
  /** IANA time zone the expression is read in (default UTC), e.g. `Europe/Berlin`. */
  readonly timezone?: string;
  readonly queue: string;
  readonly payload: unknown;
  readonly type?: string;
  readonly priority?: Priority;
}

export interface Schedule {
  readonly name: string;
  readonly cron: string;
  readonly timezone: string;
  readonly queue: string;
  readonly payload: unknown;
  readonly type: string | null;
  readonly priority: Priority | null;
  /** The next due time not yet enqueued; null when the expression matches no later date. */
  readonly nextRunAt: Date | null;
  /** The last due time enqueued (or refused, see lastError). */
  readonly lastRunAt: Date | null;
  readonly lastJobId: string | null;
  /** Why the last due time made no job (e.g. the queue's contract changed since), else null. */
  readonly lastError: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** The record's value (JSON); times in ms since the epoch. */
export interface ScheduleState {
  readonly cron: string;
  readonly timezone: string;
  readonly queue: string;
  readonly payload: unknown;
  readonly type: string | null;
  readonly priority: Priority | null;
  readonly nextRunAt: number | null;
  readonly lastRunAt: number | null;
  readonly lastJobId: string | null;
  readonly lastError: string | null;
}

/** What managing schedules needs of the facade: the store and the engine's own enqueue checks. */
export interface ScheduleHost {
  readonly store: Store;
  validateEnqueue(queue: string, payload: unknown, options?: EnqueueOptions): void;
}

export function assertScheduleName(name: string): void {
  if (!isValidQueueName(name)) throw new InvalidArgumentError(`invalid schedule name "${String(name)}" (allowed: [A-Za-z0-9][A-Za-z0-9._-]{0,63})`);
}

// ── cron and time zones ───────────────────────────────────────────────────────────────────────────────

const IANA_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+){0,2}$/;

/** Why `timezone` is not an IANA time zone name this runtime knows, or null when it is one. */
export function timezoneProblem(timezone: unknown): string | null {
  if (typeof timezone !== 'string' || !IANA_NAME.test(timezone)) return 'must be an IANA time zone name such as "Europe/Berlin" or "UTC"';
  let resolved: string;
  try {
    resolved = new Intl.DateTimeFormat('en-US', { timeZone: timezone }).resolvedOptions().timeZone;
  } catch {
    return `"${timezone}" is not a known IANA time zone`;
  }
  // Intl accepts any case; the database names have one spelling (links such as Asia/Calcutta stay valid).
  if (resolved !== timezone && resolved.toLowerCase() === timezone.toLowerCase()) return `"${timezone}" is spelled "${resolved}"`;
  return null;
}

function cronOf(cron: string, timezone: string): Cron {
  // paused + no callback: croner only parses and computes; it starts no timer.
  return new Cron(cron, { timezone, mode: '5-or-6-parts', paused: true });
}

/** Why `cron` is not a usable expression in `timezone` (null when it is). The zone must be valid already. */
export function cronProblem(cron: unknown, timezone: string, fromMs: number): string | null {
  if (typeof cron !== 'string' || cron.length === 0 || cron.length > MAX_CRON_LENGTH) return `must be a cron expression of 1–${MAX_CRON_LENGTH} characters`;
  if (cron !== cron.trim()) return 'must not start or end with white space';
  let parsed: Cron;
  try {
    parsed = cronOf(cron, timezone);
  } catch (error) {
    return String((error as Error).message).replace(/^CronPattern: /, '');
  }
  if (parsed.nextRun(new Date(fromMs)) === null) return 'matches no date from now on';
  return null;
}

/** The first due time strictly after `afterMs` (whole seconds), or null when there is none. */
export function nextRunAfter(cron: string, timezone: string, afterMs: number): number | null {
  const next = cronOf(cron, timezone).nextRun(new Date(afterMs));
  return next ? next.getTime() : null;
}

// ── records ───────────────────────────────────────────────────────────────────────────────────────────

export function decodeSchedule(record: StoredRecord): ScheduleState {
  return JSON.parse(record.valueJson) as ScheduleState;
}

export function scheduleOf(record: StoredRecord, state: ScheduleState = decodeSchedule(record)): Schedule {
  const date = (ms: number | null) => (ms === null ? null : new Date(ms));
  return {
    name: record.name,
    cron: state.cron,
    timezone: state.timezone,
    queue: state.queue,
    payload: state.payload,
    type: state.type,
    priority: state.priority,
    nextRunAt: date(state.nextRunAt),
    lastRunAt: date(state.lastRunAt),
    lastJobId: state.lastJobId,
    lastError: state.lastError,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

/** The idempotency key of a due time's job: the same on every node, so two runners make one job. */
export function scheduleIdempotencyKey(name: string, dueAtMs: number): string {
  return `schedule:${name}:${new Date(dueAtMs).toISOString()}`;
}

/**
 * The job a due time enqueues, after the queue's contract check (a refusal is a ValidationError): `runAt` is
 * the due time (so it is queued at once, and shows which due time it stands for), and `meta` carries
 * `schedule` and `scheduledFor`.
 */
export function scheduledJob(name: string, state: ScheduleState, queueConfig: QueueConfig, dueAtMs: number): EnqueueItem {
  const contract = checkQueueContract(queueConfig, { type: state.type ?? undefined, payload: state.payload });
  if (contract.errors.length > 0) {
    const first = contract.errors[0]!;
    throw new ValidationError(`payload does not match queue "${state.queue}"'s contract: ${first.path} ${first.message}`, contract.errors);
  }
  return {
    queue: state.queue,
    payload: state.payload,
    ...(state.type !== null ? { type: state.type } : {}),
    ...(contract.version !== undefined ? { version: contract.version } : {}),
    ...(state.priority !== null ? { priority: state.priority } : {}),
    // The job's runAt is its due time: a catch-up job after downtime shows which due time it stands for.
    runAt: dueAtMs,
    idempotencyKey: scheduleIdempotencyKey(name, dueAtMs),
    meta: { schedule: name, scheduledFor: new Date(dueAtMs).toISOString() },
  };
}

// ── management ────────────────────────────────────────────────────────────────────────────────────────

/**
 * Create or update a schedule. Every field is checked (ValidationError with JSON Pointers: `/cron`,
 * `/timezone`, `/queue`, `/type`, `/priority`, `/payload/...`) before anything is written.
 */
export async function putSchedule(host: ScheduleHost, name: string, config: ScheduleConfig): Promise<Schedule & { created: boolean }> {
  assertScheduleName(name);
  const { store } = host;
  const input = (config ?? {}) as Partial<Record<keyof ScheduleConfig, unknown>>;
  const now = await store.clockNow();
  const errors: FieldError[] = [];
  const timezone = input.timezone === undefined ? DEFAULT_TIMEZONE : input.timezone;
  const tzProblem = timezoneProblem(timezone);
  if (tzProblem) errors.push({ path: '/timezone', message: tzProblem });
  const cronText = cronProblem(input.cron, tzProblem ? DEFAULT_TIMEZONE : (timezone as string), now);
  if (cronText) errors.push({ path: '/cron', message: cronText });
  if (input.type !== undefined && (typeof input.type !== 'string' || input.type.length === 0 || input.type.length > MAX_TYPE_LENGTH)) {
    errors.push({ path: '/type', message: `must be a string of 1–${MAX_TYPE_LENGTH} characters` });
  }
  if (input.priority !== undefined && !isPriority(input.priority)) errors.push({ path: '/priority', message: 'must be one of critical, high, normal, low' });
  if (input.payload === undefined) errors.push({ path: '/payload', message: 'is required (use null for none)' });
  const queueConfig = await queueConfigOf(store, input.queue, errors);
  if (errors.length === 0 && queueConfig) {
    const state = draft(input as ScheduleConfig, timezone as string);
    try {
      const { queue, payload, ...options } = scheduledJob(name, state, queueConfig, now);
      host.validateEnqueue(queue, payload, options);
    } catch (error) {
      if (error instanceof ValidationError) errors.push(...error.errors);
      else if (error instanceof SpoolError) errors.push({ path: error.message.startsWith('job type') ? '/type' : '/payload', message: error.message });
      else throw error;
    }
  }
  if (errors.length > 0) throw new ValidationError(`schedule "${name}" is invalid: ${errors[0]!.path} ${errors[0]!.message}`, errors);

  const base = draft(input as ScheduleConfig, timezone as string);
  for (let attempt = 0; attempt < PUT_ATTEMPTS; attempt++) {
    const existing = await store.recordGet({ kind: 'schedule', name });
    const before = existing ? decodeSchedule(existing) : null;
    const sameTiming = before !== null && before.cron === base.cron && before.timezone === base.timezone;
    const state: ScheduleState = {
      ...base,
      nextRunAt: sameTiming ? before.nextRunAt : nextRunAfter(base.cron, base.timezone, await store.clockNow()),
      lastRunAt: before?.lastRunAt ?? null,
      lastJobId: before?.lastJobId ?? null,
      lastError: null,
    };
    const put = await store.recordPut({ kind: 'schedule', name, valueJson: JSON.stringify(state), expectVersion: existing ? existing.version : null });
    if (put.ok) return { ...scheduleOf(put.record!, state), created: put.created };
  }
  throw new SpoolError('timeout', `schedule "${name}" kept changing under this update (${PUT_ATTEMPTS} attempts); try again`);
}

export async function getSchedule(store: Store, name: string): Promise<Schedule> {
  assertScheduleName(name);
  const record = await store.recordGet({ kind: 'schedule', name });
  if (!record) throw new ScheduleNotFoundError(name);
  return scheduleOf(record);
}

export async function listSchedules(store: Store): Promise<Schedule[]> {
  return (await store.recordList({ kind: 'schedule' })).map((r) => scheduleOf(r));
}

/** True when the schedule existed. Jobs it already enqueued stay; no further due time is enqueued. */
export async function deleteSchedule(store: Store, name: string): Promise<boolean> {
  assertScheduleName(name);
  return store.recordDelete({ kind: 'schedule', name });
}

function draft(config: ScheduleConfig, timezone: string): ScheduleState {
  return {
    cron: config.cron,
    timezone,
    queue: config.queue,
    payload: config.payload,
    type: config.type ?? null,
    priority: config.priority ?? null,
    nextRunAt: null,
    lastRunAt: null,
    lastJobId: null,
    lastError: null,
  };
}

async function queueConfigOf(store: Store, queue: unknown, errors: FieldError[]): Promise<QueueConfig | null> {
  if (typeof queue !== 'string' || !isValidQueueName(queue)) {
    errors.push({ path: '/queue', message: 'must be a queue name ([A-Za-z0-9][A-Za-z0-9._-]{0,63})' });
    return null;
  }
  const record = await store.queueGet(queue);
  if (!record) {
    errors.push({ path: '/queue', message: `queue "${queue}" is not declared` });
    return null;
  }
  return record.config;
}
