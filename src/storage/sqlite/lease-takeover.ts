/**
 * Claim-side lease takeover for SQLite: before a claim on a queue, in the claim's own write transaction, the
 * queue's expired leases (at most TAKEOVER_BATCH, oldest first, from the `jobs_lease_queue` index) are failed
 * exactly as the lease reaper fails them — `failJobs` with reason `lease-expired`, to `dead` when attempts are
 * spent — and, being due at once, promoted straight back to `queued`, so the claim that follows can lease them.
 * Any node's claim thus recovers a crashed worker's jobs from their expiry, without a maintenance leader.
 * Fenced like every write: the old token matches no row afterwards. Called by sqlite-store.ts only.
 */
import { leaseExpiredError } from '../../core/job.js';
import type { JobFailParams } from '../store.js';
import type { Conn } from './connection.js';
import { promoteDueIds } from './job-admin.js';
import { failJobs } from './job-writes.js';
import type { TxContext } from './write-coalescer.js';

/** Expired leases one claim takes over at most (the reaper, when there is a leader, handles any backlog too). */
export const TAKEOVER_BATCH = 100;

/** True when the queue has a lease that ran out (a read; lets an idle poll skip the write lock otherwise). */
export function hasExpiredLease(conn: Conn, queue: string, now: number): boolean {
  return !!conn.stmt(`SELECT 1 FROM jobs WHERE queue = ? AND state = 'active' AND lease_expires_at < ? LIMIT 1`).get(queue, now);
}

export function takeOverExpiredLeases(ctx: TxContext, queue: string): number {
  const expired = ctx.conn
    .stmt(
      `SELECT id, lease_token, attempts, max_attempts FROM jobs
       WHERE queue = ? AND state = 'active' AND lease_expires_at < ? ORDER BY lease_expires_at LIMIT ?`,
    )
    .all(queue, ctx.now, TAKEOVER_BATCH) as Array<{ id: string; lease_token: string; attempts: number; max_attempts: number }>;
  if (expired.length === 0) return 0;
  const error = leaseExpiredError();
  const jobs: JobFailParams[] = expired.map((e) => ({
    id: e.id,
    leaseToken: e.lease_token,
    to: e.attempts >= e.max_attempts ? 'dead' : 'retrying',
    retryDelayMs: 0,
    error,
    reason: 'lease-expired',
  }));
  failJobs(ctx, jobs);
  promoteDueIds(ctx, jobs.filter((j) => j.to === 'retrying').map((j) => j.id));
  return expired.length;
}

/** Milliseconds until the queue's earliest lease expires (0 when one already has), or null with none active. */
export function nextLeaseExpiryMs(conn: Conn, queue: string, now: number): number | null {
  const row = conn.stmt(`SELECT min(lease_expires_at) AS t FROM jobs WHERE queue = ? AND state = 'active'`).get(queue) as { t: number | null };
  return row.t === null ? null : Math.max(0, row.t - now);
}
