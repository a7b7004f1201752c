/**
 * Turning a user's enqueue call into the store's insert params: validation (queue name, priority, keys,
 * timing, payload schema of the job type), JSON serialisation, the idempotency fingerprint, and whether the
 * payload is stored inline or once as a blob (over INLINE_PAYLOAD_MAX_BYTES of JSON).
 */
import { InvalidArgumentError, ValidationError } from '../core/errors.js';
import { fingerprint } from '../core/fingerprint.js';
import { uuidv7 } from '../core/ids.js';
import { DEFAULT_PRIORITY, isPriority, type Priority } from '../core/priority.js';
import { isInternalQueueName, isValidQueueName } from '../core/queue-config.js';
import type { BackoffPolicy } from '../core/retry.js';
import { normalizeTraceparent } from '../observability/trace-context.js';
import type { JobInsertParams } from '../storage/store.js';
import { currentVersion, validatePayload, type JobTypeRegistry } from './job-types.js';

export interface EnqueueOptions {
  /** Job type (a defined one gets its schema checked and its defaults applied). */
  readonly type?: string;
  /** Payload version (default: the type's current version, else 1). */
  readonly version?: number;
  readonly priority?: Priority;
  /** Start no earlier than this (Date, ISO-8601 string or ms since epoch). */
  readonly runAt?: Date | string | number;
  readonly delaySeconds?: number;
  readonly orderingKey?: string;
  readonly groupKey?: string;
  /** Part of the request: under an idempotency key, another value is another request (a reuse error). */
  readonly correlationId?: string;
  /**
   * A correlation id carried by the transport (HTTP `X-Correlation-Id`), used when `correlationId` is not
   * given. Transport metadata is never part of the idempotency fingerprint: a retry that carries a fresh one
   * (middleware stamping one per try) replays the original job, which keeps the first request's value.
   */
  readonly transportCorrelationId?: string;
  readonly maxAttempts?: number;
  readonly backoff?: Partial<BackoffPolicy>;
  readonly timeoutSeconds?: number;
  readonly leaseSeconds?: number;
  /** Same key + same request on the same queue → the original job; a different request → an error. */
  readonly idempotencyKey?: string;
  /**
   * W3C `traceparent` of the context enqueueing the job: kept with it, handed to the handler as
   * `ctx.traceparent` and sent on (as a child) to push targets. An invalid value is ignored, never an error:
   * callers forward incoming headers unchecked, and tracing must not cost a job (W3C: restart the trace).
   */
  readonly traceparent?: string;
  /** Extra data carried with the job and handed back at run time (e.g. callbackUrl). */
  readonly meta?: Readonly<Record<string, string>>;
}

export interface EnqueueItem extends EnqueueOptions {
  readonly queue: string;
  readonly payload: unknown;
}

const MAX_KEY_LENGTH = 256;

/**
 * Payloads up to this many bytes of UTF-8 JSON live in the job row; larger ones are stored once as a blob
 * (the contract's 256 KiB), so job reads and lists stay small while claims still carry the full payload.
 */
export const INLINE_PAYLOAD_MAX_BYTES = 256 * 1024;

/** Over the inline limit? Counting bytes only when the text could be (UTF-8 is at most 3 bytes per UTF-16 unit). */
function isBlobPayload(json: string): boolean {
  return json.length * 3 > INLINE_PAYLOAD_MAX_BYTES && Buffer.byteLength(json, 'utf8') > INLINE_PAYLOAD_MAX_BYTES;
}

function optionalKey(name: string, value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_KEY_LENGTH) {
    throw new InvalidArgumentError(`${name} must be a string of 1–${MAX_KEY_LENGTH} characters`);
  }
  return value;
}

function toRunAt(value: Date | string | number): number {
  const ms = value instanceof Date ? value.getTime() : typeof value === 'string' ? Date.parse(value) : value;
  if (typeof ms !== 'number' || !Number.isFinite(ms)) throw new InvalidArgumentError('runAt must be a valid date');
  return ms;
}

function positiveInt(name: string, value: unknown, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidArgumentError(`${name} must be an integer between 1 and ${max}`);
  }
  return value;
}

function positiveNumber(name: string, value: unknown, max: number, min = 0): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    throw new InvalidArgumentError(`${name} must be a number between ${min} and ${max}`);
  }
  return value;
}

/** An item's traceparent (the option, else `meta.traceparent`), normalised; null when absent or invalid. */
export function itemTraceparent(item: Pick<EnqueueItem, 'traceparent' | 'meta'>): string | null {
  const value = item.traceparent ?? item.meta?.['traceparent'];
  return value === undefined ? null : normalizeTraceparent(value);
}

/** The job's meta: the caller's, with `traceparent` set to the valid one or dropped. */
function jobMeta(item: EnqueueItem): Record<string, string> | null {
  const { traceparent: _given, ...meta } = item.meta ?? {};
  const traceparent = itemTraceparent(item);
  const all: Record<string, string> = traceparent ? { ...meta, traceparent } : meta;
  return Object.keys(all).length > 0 ? all : null;
}

export function prepareInsert(item: EnqueueItem, types: JobTypeRegistry): JobInsertParams {
  if (!isValidQueueName(item.queue)) throw new InvalidArgumentError(`invalid queue name "${String(item.queue)}"`);
  // Only the store writes into internal queues (a webhook delivery enqueued from outside could have any body signed).
  if (isInternalQueueName(item.queue)) throw new ValidationError(`queue "${item.queue}" is internal: jobs cannot be enqueued into it`, [{ path: '/queue', message: 'is an internal queue' }]);
  const type = optionalKey('type', item.type);
  const def = type ? types.get(type) : undefined;
  if (def && def.queue !== item.queue) {
    throw new InvalidArgumentError(`job type "${type}" belongs to queue "${def.queue}", not "${item.queue}"`);
  }
  const version = positiveInt('version', item.version, 1_000_000) ?? (def ? currentVersion(def) : 1);
  if (item.payload === undefined) throw new InvalidArgumentError('payload is required (use null for none)');
  if (def) validatePayload(def, item.payload, version);
  let payloadJson: string;
  try {
    payloadJson = JSON.stringify(item.payload);
  } catch (error) {
    throw new InvalidArgumentError(`payload is not JSON-serialisable: ${(error as Error).message}`);
  }
  const priority = item.priority ?? def?.priority ?? DEFAULT_PRIORITY;
  if (!isPriority(priority)) throw new InvalidArgumentError('priority must be one of critical, high, normal, low');
  if (item.runAt !== undefined && item.delaySeconds !== undefined) {
    throw new InvalidArgumentError('give runAt or delaySeconds, not both');
  }
  const delaySeconds = positiveNumber('delaySeconds', item.delaySeconds, 10 * 365 * 86400);
  const maxAttempts = positiveInt('maxAttempts', item.maxAttempts, 1000) ?? def?.maxAttempts ?? null;
  const leaseSeconds = positiveNumber('leaseSeconds', item.leaseSeconds, 86400, 1) ?? def?.leaseSeconds;
  const timeoutSeconds = positiveNumber('timeoutSeconds', item.timeoutSeconds, 7 * 86400) ?? def?.timeoutSeconds;
  const backoff = item.backoff ?? def?.backoff;
  const options: Record<string, unknown> = {};
  if (backoff) options['backoff'] = backoff;
  if (timeoutSeconds !== undefined) options['timeoutSeconds'] = timeoutSeconds;
  if (item.meta !== undefined || item.traceparent !== undefined) {
    const meta = jobMeta(item);
    if (meta) options['meta'] = meta;
  }
  const idempotencyKey = optionalKey('idempotencyKey', item.idempotencyKey);
  const orderingKey = optionalKey('orderingKey', item.orderingKey);
  const groupKey = optionalKey('groupKey', item.groupKey);
  const correlationId = optionalKey('correlationId', item.correlationId) ?? optionalKey('X-Correlation-Id', item.transportCorrelationId);
  const runAt = item.runAt !== undefined ? toRunAt(item.runAt) : null;

  return {
    id: uuidv7(),
    queue: item.queue,
    type,
    version,
    payloadJson,
    ...(isBlobPayload(payloadJson) ? { blob: true } : {}),
    priority,
    runAt,
    delayMs: delaySeconds !== undefined ? Math.round(delaySeconds * 1000) : null,
    orderingKey,
    groupKey,
    correlationId,
    maxAttempts,
    leaseMs: leaseSeconds !== undefined ? Math.round(leaseSeconds * 1000) : null,
    optionsJson: Object.keys(options).length > 0 ? JSON.stringify(options) : null,
    idempotency: idempotencyKey ? { key: idempotencyKey, fingerprint: requestFingerprint(item, type, version, priority, delaySeconds) } : null,
  };
}

/**
 * What makes two requests under one idempotency key the same request: what the caller asked for (the body over
 * HTTP), never transport metadata — `transportCorrelationId`, `traceparent` — so a retry carrying fresh ones
 * replays. Fields absent from a request are left out of the canonical JSON, so adding a field here changes no
 * stored fingerprint of a request that does not use it (a replay across an upgrade still matches).
 */
function requestFingerprint(item: EnqueueItem, type: string | null, version: number, priority: Priority, delaySeconds: number | undefined): string {
  const { traceparent: _trace, ...meta } = item.meta ?? {};
  return fingerprint({
    type,
    version,
    payload: item.payload,
    priority,
    runAt: item.runAt instanceof Date ? item.runAt.toISOString() : item.runAt,
    delaySeconds,
    orderingKey: item.orderingKey ?? null,
    groupKey: item.groupKey ?? null,
    correlationId: item.correlationId ?? null,
    maxAttempts: item.maxAttempts,
    leaseSeconds: item.leaseSeconds,
    timeoutSeconds: item.timeoutSeconds,
    backoff: item.backoff,
    meta: Object.keys(meta).length > 0 ? meta : undefined,
  });
}
