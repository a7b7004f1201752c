/**
 * The lease reaper: jobs whose lease ran out (their worker crashed, stalled or lost the store) count as a
 * failed attempt and go to `retrying` — or to the DLQ when attempts are spent, so a job that kills its worker
 * every time ends dead instead of looping. Each failure is fenced by the expired lease's token, so a
 * completion that lands at the same moment wins or loses cleanly, never both.
 */
import { resolveRunSettings, type QueueConfig } from '../../core/queue-config.js';
import { failureOutcome } from '../../core/retry.js';
import type { Store } from '../../storage/store.js';
import type { JobTypeDefinition } from '../../engine/job-types.js';
import { leaseLostError } from '../completer.js';

export const REAP_BATCH = 500;

export async function reapExpiredLeases(
  store: Store,
  deps: { queueConfig: (queue: string) => Promise<QueueConfig>; jobType: (type: string | null) => JobTypeDefinition | undefined },
): Promise<number> {
  let total = 0;
  for (;;) {
    const expired = await store.jobExpiredLeaseList({ limit: REAP_BATCH });
    if (expired.length === 0) return total;
    const jobs = await Promise.all(
      expired.map(async (e) => {
        const options = e.optionsJson ? (JSON.parse(e.optionsJson) as object) : {};
        const settings = resolveRunSettings(options as never, deps.jobType(e.type), await deps.queueConfig(e.queue));
        const decision = failureOutcome({ maxAttempts: e.maxAttempts, backoff: settings.retry.backoff }, e.attempt);
        return {
          id: e.id,
          leaseToken: e.leaseToken,
          to: decision.to,
          retryDelayMs: decision.to === 'retrying' ? decision.delayMs : 0,
          error: leaseLostError(),
          reason: 'lease-expired' as const,
        };
      }),
    );
    const results = await store.jobFailMany({ jobs });
    total += results.filter((r) => r.ok).length;
    if (expired.length < REAP_BATCH) return total;
  }
}
