/**
 * Rate limits at claim time, the part both drivers share (the SQL is in sqlite/rate-limits.ts and
 * postgres/rate-limits.ts). A queue's `rateLimit.perSecond` and its `groups.rateLimit.perSecond` are token
 * buckets stored in `rate_buckets` (one row per queue, group_key '', and one per group key), refilled and
 * spent inside the claim's own transaction, so the limit holds across every worker, remote lease and push
 * dispatcher sharing the store: over any interval of t seconds at most `perSecond × t + burst` jobs start.
 *
 * Capacity (`burst`) is one second of starts (at least one): a queue idle for a while may start one second's
 * worth at once, never more. Queues without limits never reach this code: the claim reads the limits from
 * the queue row it reads anyway (columns kept in step with the config by queueUpsert).
 */
import type { QueueConfig } from '../core/queue-config.js';

export interface RateLimits {
  /** Starts per second for the whole queue, or null. */
  readonly queue: number | null;
  /** Starts per second for each group key, or null. */
  readonly group: number | null;
}

/** The limits stored as columns of the queue row. */
export function rateLimitsOf(config: QueueConfig): RateLimits {
  return { queue: config.rateLimit?.perSecond ?? null, group: config.groups?.rateLimit?.perSecond ?? null };
}

/** Bucket capacity: one second of starts, at least one. */
export function burstOf(perSecond: number): number {
  return Math.max(1, perSecond);
}

/** Whole tokens available (a float bucket; the epsilon keeps 2.9999999 from losing a start). */
export function wholeTokens(tokens: number): number {
  return Math.max(0, Math.floor(tokens + 1e-9));
}

/** The queue-level bucket's key in `rate_buckets.group_key` (group keys are never empty). */
export const QUEUE_BUCKET = '';

/** Group-limited claims sweep full (hence redundant) group buckets at most this often per queue and store. */
export const BUCKET_SWEEP_MS = 10_000;

export interface Candidate {
  readonly seq: number;
  readonly groupKey: string | null;
}

/**
 * One round of a group-limited claim: walk the candidates in claim order and take each whose group still has a
 * whole token (jobs without a group key are limited by the queue bucket only), up to `room` jobs. `tokens`
 * holds every candidate group's refilled balance and is spent in place; groups found empty join `skip`.
 */
export function takeWithinGroupTokens(
  candidates: readonly Candidate[],
  tokens: Map<string, number>,
  skip: Set<string>,
  room: number,
): { taken: Candidate[]; spent: Map<string, number> } {
  const taken: Candidate[] = [];
  const spent = new Map<string, number>();
  for (const c of candidates) {
    if (taken.length >= room) break;
    if (c.groupKey === null) {
      taken.push(c);
      continue;
    }
    if (skip.has(c.groupKey)) continue;
    const t = tokens.get(c.groupKey) ?? 0;
    if (t < 1 - 1e-9) {
      skip.add(c.groupKey);
      continue;
    }
    tokens.set(c.groupKey, t - 1);
    spent.set(c.groupKey, (spent.get(c.groupKey) ?? 0) + 1);
    taken.push(c);
  }
  return { taken, spent };
}

/** Rounds of candidate reads a group-limited claim makes at most (each skips the groups the last found empty). */
export const MAX_CLAIM_ROUNDS = 8;

/** Candidates read per round for `room` free places: enough to step over a few exhausted groups' jobs. */
export function candidateLimit(room: number): number {
  return Math.min(1000, room * 4 + 16);
}
