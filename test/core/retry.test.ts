import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelayMs, failureOutcome, MIN_RETRY_DELAY_MS } from '../../src/core/retry.js';

describe('backoffDelayMs', () => {
  const policy = { initialSeconds: 1, maxSeconds: 60, multiplier: 2 };

  it('never exceeds maxSeconds, whatever the attempt and the draw (clamped after the jitter)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5000 }), fc.double({ min: 0, max: 0.9999999, noNaN: true }), (attempt, r) => {
        const d = backoffDelayMs(policy, attempt, () => r);
        expect(d).toBeLessThanOrEqual(60_000);
        expect(d).toBeGreaterThanOrEqual(MIN_RETRY_DELAY_MS);
        expect(Number.isFinite(d)).toBe(true);
      }),
    );
  });

  it('draws uniformly under the exponential ceiling (full jitter)', () => {
    expect(backoffDelayMs(policy, 1, () => 0.5)).toBe(500);
    expect(backoffDelayMs(policy, 3, () => 0.5)).toBe(2000);
    expect(backoffDelayMs(policy, 3, () => 0.999)).toBe(3996);
  });

  it('keeps its spread at the cap instead of collapsing onto maxSeconds', () => {
    const low = backoffDelayMs(policy, 50, () => 0.1);
    const high = backoffDelayMs(policy, 50, () => 0.9);
    expect(low).toBe(6000);
    expect(high).toBe(54000);
  });

  it('survives exponent overflow', () => {
    expect(backoffDelayMs({ initialSeconds: 1, maxSeconds: 3600, multiplier: 100 }, 10_000, () => 0.5)).toBe(1_800_000);
  });
});

describe('failureOutcome', () => {
  const retry = { maxAttempts: 3, backoff: { initialSeconds: 1, maxSeconds: 10, multiplier: 2 } };
  it('retries while attempts remain, then dead', () => {
    expect(failureOutcome(retry, 1, { random: () => 0.5 })).toEqual({ to: 'retrying', delayMs: 500 });
    expect(failureOutcome(retry, 2, { random: () => 0.5 }).to).toBe('retrying');
    expect(failureOutcome(retry, 3)).toEqual({ to: 'dead' });
  });
  it('sends non-retryable errors straight to dead', () => {
    expect(failureOutcome(retry, 1, { retryable: false })).toEqual({ to: 'dead' });
  });
  it('honours a worker-given retry delay but not past the attempt budget', () => {
    expect(failureOutcome(retry, 1, { retryAfterMs: 1234 })).toEqual({ to: 'retrying', delayMs: 1234 });
    expect(failureOutcome(retry, 3, { retryAfterMs: 1234 })).toEqual({ to: 'dead' });
  });
});
