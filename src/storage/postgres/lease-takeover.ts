/**
 * Claim-side lease takeover for PostgreSQL (as sqlite/lease-takeover.ts): when the claim statement's probe
 * finds an expired lease in its queue, the claim's transaction fails those jobs (at most TAKEOVER_BATCH, oldest
 * first, rows locked with SKIP LOCKED so racing claimers and the reaper split them) exactly as the lease reaper
 * does — `failJobs` with reason `lease-expired`, `dead` when attempts are spent — and, being due at once,
 * promotes them straight back to `queued`; the claim then leases them. Any node recovers a crashed worker's jobs
 * from their expiry, without a maintenance leader. Passed to `claimJobs` by postgres-store.ts.
 */
import { leaseExpiredError } from '../../core/job.js';
import type { JobFailParams } from '../store.js';
import { promoteDueIds } from './job-admin.js';
import { failJobs } from './job-writes.js';
import type { TxContext } from './tx-context.js';

/** Expired leases one claim takes over at most (the reaper, when there is a leader, handles any backlog too). */
export const TAKEOVER_BATCH = 100;

export async function takeOverExpiredLeases(ctx: TxContext, queue: string): Promise<void> {
  const expired = await ctx.query<{ id: string; lease_token: string; attempts: number; max_attempts: number }>(
    `SELECT id, lease_token, attempts, max_attempts FROM jobs
     WHERE queue = $1 AND state = 'active' AND lease_expires_at < $2
     ORDER BY lease_expires_at LIMIT $3 FOR UPDATE SKIP LOCKED`,
    [queue, ctx.now, TAKEOVER_BATCH],
  );
  if (expired.length === 0) return;
  const error = leaseExpiredError();
  const jobs: JobFailParams[] = expired.map((e) => ({
    id: e.id,
    leaseToken: e.lease_token,
    to: Number(e.attempts) >= Number(e.max_attempts) ? 'dead' : 'retrying',
    retryDelayMs: 0,
    error,
    reason: 'lease-expired',
  }));
  await failJobs(ctx, jobs);
  await promoteDueIds(ctx, jobs.filter((j) => j.to === 'retrying').map((j) => j.id));
}
