/**
 * Retry policy: capped exponential backoff with full jitter.
 *
 *   ceiling(attempt) = min(max, initial * multiplier^(attempt-1))
 *   delay            = clamp(random() * ceiling, [MIN_RETRY_DELAY_MS, max])   ← clamp AFTER the jitter
 *
 * The final value is clamped after the jitter is applied. The recurring bug elsewhere is the other order:
 * clamp, then add or multiply jitter (`min(max, exp) + jitter`), which lets retries land past `max`, or a
 * ceiling that overflows to Infinity/NaN after many attempts. Capping the ceiling before drawing keeps the
 * spread at the cap (retries of a long outage do not all fire at exactly `max`).
 */

export interface BackoffPolicy {
  readonly initialSeconds: number;
  readonly maxSeconds: number;
  readonly multiplier: number;
}

export interface RetryPolicy {
  readonly maxAttempts: number;
  readonly backoff: BackoffPolicy;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialSeconds: 1, maxSeconds: 3600, multiplier: 2 };

/** Lower bound on a retry delay, so a zero-jitter draw never spins a failing job in a hot loop. */
export const MIN_RETRY_DELAY_MS = 10;

/**
 * Delay before the next attempt after `attempt` (1-based) failed.
 * `random` returns a number in [0, 1); injectable for deterministic tests.
 */
export function backoffDelayMs(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const maxMs = policy.maxSeconds * 1000;
  const exponent = Math.max(0, attempt - 1);
  const ceilingMs = Math.min(maxMs, policy.initialSeconds * 1000 * Math.pow(policy.multiplier, exponent));
  const jittered = random() * (Number.isFinite(ceilingMs) ? ceilingMs : maxMs);
  return Math.round(Math.min(maxMs, Math.max(MIN_RETRY_DELAY_MS, jittered)));
}

export type FailureOutcome =
  | { readonly to: 'retrying'; readonly delayMs: number }
  | { readonly to: 'dead' };

/**
 * Decide where a failed attempt goes. `attempt` is the attempt that just failed (1-based);
 * `retryAfterMs` (from a worker's nack) overrides the computed backoff but never the attempt budget.
 */
export function failureOutcome(
  policy: RetryPolicy,
  attempt: number,
  opts: { retryable?: boolean; retryAfterMs?: number | null; random?: () => number } = {},
): FailureOutcome {
  if (opts.retryable === false || attempt >= policy.maxAttempts) return { to: 'dead' };
  const delayMs =
    opts.retryAfterMs != null ? Math.max(0, Math.round(opts.retryAfterMs)) : backoffDelayMs(policy.backoff, attempt, opts.random);
  return { to: 'retrying', delayMs };
}
