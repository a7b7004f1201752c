/**
 * Priorities and aging.
 *
 * Tiers: critical (0) > high (1) > normal (2) > low (3). A waiting job rises one tier per `agingSeconds`
 * but never above `high`, so due critical work always goes first and low work is never starved forever.
 *
 * Aging is encoded in a static sort key, computed once when a job becomes runnable, so the claim query is
 * a plain index range scan (no per-claim arithmetic over the backlog):
 *
 *   rank   = 0 for critical, 1 otherwise
 *   sortAt = runnableAt + (tier - 1) * agingMs      (critical: runnableAt)
 *
 * Claim order is (rank, sortAt, seq). Why this is exact: at time `now`, a non-critical job's effective tier
 * is max(1, tier - floor((now - runnableAt) / agingMs)), which is a non-decreasing function of sortAt alone;
 * so ordering by sortAt orders by effective tier first and, within a tier, by the time the job reached it.
 */

export const PRIORITIES = ['critical', 'high', 'normal', 'low'] as const;
export type Priority = (typeof PRIORITIES)[number];

export const DEFAULT_PRIORITY: Priority = 'normal';

export function priorityTier(priority: Priority): number {
  return PRIORITIES.indexOf(priority);
}

export function priorityFromTier(tier: number): Priority {
  const p = PRIORITIES[tier];
  if (!p) throw new RangeError(`no priority tier ${tier}`);
  return p;
}

export function isPriority(value: unknown): value is Priority {
  return typeof value === 'string' && (PRIORITIES as readonly string[]).includes(value);
}

export interface ClaimOrder {
  readonly rank: 0 | 1;
  readonly sortAt: number;
}

export function claimOrder(priority: Priority, runnableAtMs: number, agingSeconds: number): ClaimOrder {
  const tier = priorityTier(priority);
  if (tier === 0) return { rank: 0, sortAt: runnableAtMs };
  return { rank: 1, sortAt: runnableAtMs + (tier - 1) * agingSeconds * 1000 };
}

/** The tier a waiting job has reached at `nowMs` (for display and tests). */
export function effectiveTier(priority: Priority, runnableAtMs: number, agingSeconds: number, nowMs: number): number {
  const tier = priorityTier(priority);
  if (tier <= 1) return tier;
  const risen = agingSeconds > 0 ? Math.floor(Math.max(0, nowMs - runnableAtMs) / (agingSeconds * 1000)) : 0;
  return Math.max(1, tier - risen);
}
