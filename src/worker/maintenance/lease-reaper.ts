/**
 * The lease reaper: jobs whose lease ran out (their worker crashed, stalled or lost the store) count as a
 * failed attempt and go to `retrying`, due at once (no backoff: SQS visibility semantics, docs/design.md "Lease
 * expiry") — or to the DLQ when attempts are spent, so a job that kills its worker every time ends dead
 * instead of looping. Claims take expired leases of their own queue over first, the same way (the stores'
 * lease-takeover.ts); the reaper, run by the maintenance leader, covers queues nobody is claiming from. Each
 * failure is fenced by the expired lease's token, so a completion that lands at the same moment wins or loses
 * cleanly, never both. Each job it fails is logged
 * (`job.lease_expired` at warn, or `job.dead` at error) once its write landed.
 */
import type { Store } from '../../storage/store.js';
import type { Logger } from '../../logger.js';
import { logJobFailure, traceparentOf } from '../../observability/job-log.js';
import { leaseLostError } from '../completer.js';

export const REAP_BATCH = 500;

export async function reapExpiredLeases(store: Store, log: Logger): Promise<number> {
  let total = 0;
  for (;;) {
    const expired = await store.jobExpiredLeaseList({ limit: REAP_BATCH });
    if (expired.length === 0) return total;
    const options = expired.map((e) => (e.optionsJson ? (JSON.parse(e.optionsJson) as { meta?: Record<string, string> }) : {}));
    // The job's own maxAttempts (resolved at enqueue, in its row) decides, as in the claim-side takeover.
    const jobs = expired.map((e) => ({
      id: e.id,
      leaseToken: e.leaseToken,
      to: e.attempt >= e.maxAttempts ? ('dead' as const) : ('retrying' as const),
      retryDelayMs: 0,
      error: leaseLostError(),
      reason: 'lease-expired' as const,
    }));
    const results = await store.jobFailMany({ jobs });
    results.forEach((r, i) => {
      if (!r.ok) return;
      total++;
      const e = expired[i]!;
      const j = jobs[i]!;
      logJobFailure(log, e, traceparentOf(options[i]), { reason: 'lease-expired', error: j.error, to: j.to, retryDelayMs: j.retryDelayMs });
    });
    if (expired.length < REAP_BATCH) return total;
  }
}
