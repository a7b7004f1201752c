/**
 * Per-key request rate limits (a key's `rateLimit: {perSecond}`): one token bucket per key, in this
 * process's memory. Called by the auth hook for every request authenticated with a key; the admin token and
 * open access are not limited.
 *
 * The limit is per node: with N `spool serve` nodes behind a balancer a key may make up to N × perSecond
 * requests a second in total. A cluster-wide bucket would put a store write (a compare-and-set on a shared
 * counter) in front of every request, doubling the accept path's round trips to the database; the per-queue
 * `rateLimit` (claims across all nodes) is the tool for protecting downstream systems, the key limit is
 * abuse control for one client, where a per-node bound is what API gateways usually give.
 *
 * The bucket holds at most `perSecond` tokens (one second of burst, at least 1) and refills continuously.
 * A refused request takes nothing, and the caller is told how long until one token is there (`Retry-After`).
 */
import type { Clock } from '../../core/clock.js';
import { systemClock } from '../../core/clock.js';

interface Bucket {
  tokens: number;
  atMs: number;
  perSecond: number;
}

/** Buckets idle this long (and long enough to be full again) can be forgotten. */
const IDLE_MS = 60_000;
const SWEEP_EVERY = 1024;

export class KeyRateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  readonly #clock: Clock;
  #calls = 0;

  constructor(clock: Clock = systemClock) {
    this.#clock = clock;
  }

  /** Take one token for `keyId`: `{ok: true}`, or `{ok: false, retryAfterSeconds}` (whole seconds, ≥ 1). */
  take(keyId: string, perSecond: number): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const now = this.#clock.now();
    if (++this.#calls % SWEEP_EVERY === 0) this.#sweep(now);
    const capacity = Math.max(1, perSecond);
    let b = this.#buckets.get(keyId);
    if (!b || b.perSecond !== perSecond) {
      b = { tokens: capacity, atMs: now, perSecond };
      this.#buckets.set(keyId, b);
    } else {
      b.tokens = Math.min(capacity, b.tokens + (Math.max(0, now - b.atMs) / 1000) * perSecond);
      b.atMs = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil((1 - b.tokens) / perSecond)) };
  }

  /** Forget a key's bucket (on revocation). */
  forget(keyId: string): void {
    this.#buckets.delete(keyId);
  }

  get size(): number {
    return this.#buckets.size;
  }

  #sweep(now: number): void {
    for (const [id, b] of this.#buckets) {
      const fullAfterMs = (Math.max(1, b.perSecond) / b.perSecond) * 1000;
      if (now - b.atMs > Math.max(IDLE_MS, fullAfterMs)) this.#buckets.delete(id);
    }
  }
}
