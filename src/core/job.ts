/**
 * The job as users see it (library, CLI, HTTP). Stores build these from their rows; timestamps are Dates
 * (serialised as ISO-8601 UTC strings over HTTP and in `--json`).
 */
import type { JobState } from './states.js';
import type { Priority } from './priority.js';

/** An attempt's error as recorded in history and `lastError`; bounded in size by `toJobError`. */
export interface JobError {
  readonly message: string;
  readonly name?: string;
  readonly code?: string;
  readonly stack?: string;
  readonly retryable?: boolean;
}

export interface HistoryEntry {
  readonly state: JobState;
  readonly at: Date;
  readonly attempt: number;
  readonly error?: JobError;
  /** Why the transition happened when it is not obvious from the states (e.g. `lease-expired`, `replay`). */
  readonly reason?: string;
}

export interface Job<P = unknown> {
  readonly id: string;
  readonly queue: string;
  readonly type: string | null;
  readonly version: number;
  readonly state: JobState;
  readonly priority: Priority;
  readonly orderingKey: string | null;
  readonly groupKey: string | null;
  readonly correlationId: string | null;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly createdAt: Date;
  readonly runAt: Date;
  readonly startedAt: Date | null;
  readonly finishedAt: Date | null;
  readonly progress: unknown;
  readonly result: unknown;
  readonly lastError: JobError | null;
  /** The payload; null when it is stored as a blob (read it with `getPayload`). */
  readonly payload: P;
  /** Size in bytes of a payload stored as a blob (over 256 KiB); null when it is inline in `payload`. */
  readonly payloadBytes: number | null;
  readonly history: readonly HistoryEntry[];
}

/**
 * The error a lost lease records (lease reaper and claim-side takeover alike): the attempt counts as failed and
 * the job is due again at once (docs/design.md "Lease expiry").
 */
export function leaseExpiredError(): JobError {
  return { message: 'lease expired before the attempt finished (worker crashed, stalled or lost the store)', name: 'LeaseExpired' };
}

const MAX_MESSAGE = 2000;
const MAX_STACK = 4000;

/** Normalise anything thrown into a bounded JobError. */
export function toJobError(thrown: unknown, retryable?: boolean): JobError {
  const base = (() => {
    if (thrown instanceof Error) {
      const code = (thrown as { code?: unknown }).code;
      return {
        message: truncate(thrown.message || String(thrown), MAX_MESSAGE),
        name: thrown.name,
        ...(typeof code === 'string' ? { code } : {}),
        ...(thrown.stack ? { stack: truncate(thrown.stack, MAX_STACK) } : {}),
      };
    }
    if (thrown && typeof thrown === 'object' && typeof (thrown as { message?: unknown }).message === 'string') {
      return { message: truncate((thrown as { message: string }).message, MAX_MESSAGE) };
    }
    return { message: truncate(String(thrown), MAX_MESSAGE) };
  })();
  return retryable === undefined ? base : { ...base, retryable };
}

function truncate(s: string, n: number): string {
  return s.length <= n ? s : `${s.slice(0, n - 1)}…`;
}

/**
 * Throw this (or any error with `retryable: false`) from a handler to send the job straight to the DLQ,
 * whatever attempts it has left.
 */
export class NonRetryableError extends Error {
  readonly retryable = false;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NonRetryableError';
  }
}

export function isNonRetryable(thrown: unknown): boolean {
  return !!thrown && typeof thrown === 'object' && (thrown as { retryable?: unknown }).retryable === false;
}

/**
 * Throw this from a handler to choose when the next attempt starts: the attempt fails as usual (it counts
 * against `maxAttempts`, and a job out of attempts goes to the DLQ), but the retry is due `retryAfterMs`
 * from now instead of after the computed backoff. Any thrown value with a finite, non-negative numeric
 * `retryAfterMs` is honoured the same way (the webhook dispatcher uses it for its own schedule and for a
 * receiver's `Retry-After`).
 */
export class RetryAfterError extends Error {
  readonly retryAfterMs: number;
  constructor(message: string, retryAfterMs: number, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RetryAfterError';
    this.retryAfterMs = retryAfterMs;
  }
}

/** The delay a thrown value asks for (see RetryAfterError), or null when it asks for none. */
export function retryAfterMsOf(thrown: unknown): number | null {
  if (!thrown || typeof thrown !== 'object') return null;
  const ms = (thrown as { retryAfterMs?: unknown }).retryAfterMs;
  return typeof ms === 'number' && Number.isFinite(ms) && ms >= 0 ? ms : null;
}
