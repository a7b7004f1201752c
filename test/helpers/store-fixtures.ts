/**
 * Shared fixtures for tests that talk to a Store directly (the conformance suite and the property test):
 * insert params with sensible defaults, queue declaration, claims that must succeed, brute-force counts.
 * Helpers here only call the seam (`src/storage/store.ts`); nothing here knows a driver.
 */
import { expect } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { uuidv7 } from '../../src/core/ids.js';
import type { Job, JobError } from '../../src/core/job.js';
import type { QueueConfig } from '../../src/core/queue-config.js';
import { JOB_STATES } from '../../src/core/states.js';
import type {
  ClaimedJob,
  JobFailParams,
  JobInsertParams,
  JobListParams,
  JobReceipt,
  QueueStats,
  StateCounts,
  Store,
} from '../../src/storage/store.js';

/** A fixed, whole-second start time for ManualClocks, so expected timestamps are easy to write down. */
export const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export function newClock(startMs: number = T0): ManualClock {
  return new ManualClock(startMs);
}

/** Insert params for one job: due now, normal priority, no keys, the queue's maxAttempts. */
export function jobInput(queue: string, overrides: Partial<JobInsertParams> = {}): JobInsertParams {
  return {
    id: uuidv7(),
    queue,
    type: null,
    version: 1,
    payloadJson: '{}',
    priority: 'normal',
    runAt: null,
    delayMs: null,
    orderingKey: null,
    groupKey: null,
    correlationId: null,
    maxAttempts: null,
    leaseMs: null,
    optionsJson: null,
    idempotency: null,
    ...overrides,
  };
}

export async function declareQueue(store: Store, name: string, config: QueueConfig = {}): Promise<void> {
  await store.queueUpsert({ name, config });
}

/** Insert jobs that must all be accepted; returns their receipts in order. */
export async function insertOk(store: Store, jobs: readonly JobInsertParams[]): Promise<JobReceipt[]> {
  const results = await store.jobInsertMany({ jobs });
  return results.map((r, i) => {
    if (!r.ok) throw new Error(`insert of item ${i} failed: ${r.error.code} ${r.error.message}`);
    return r.receipt;
  });
}

/** Enqueue one job and return its id. */
export async function enqueue(store: Store, queue: string, overrides: Partial<JobInsertParams> = {}): Promise<string> {
  const [receipt] = await insertOk(store, [jobInput(queue, overrides)]);
  return receipt!.id;
}

export const LEASE_MS = 30 * SECOND;

export function claim(store: Store, queue: string, max = 1, leaseMs = LEASE_MS): Promise<ClaimedJob[]> {
  return store.jobClaimMany({ queue, max, leaseMs, workerId: 'test-worker' });
}

/** Claim exactly one job (fails the test when none is claimable). */
export async function claimOne(store: Store, queue: string, leaseMs = LEASE_MS): Promise<ClaimedJob> {
  const [job] = await claim(store, queue, 1, leaseMs);
  if (!job) throw new Error(`expected a claimable job in queue ${queue}`);
  return job;
}

export async function getJob(store: Store, id: string): Promise<Job> {
  const [job] = await store.jobGetMany({ ids: [id] });
  if (!job) throw new Error(`job ${id} not found`);
  return job;
}

export async function findJob(store: Store, id: string): Promise<Job | undefined> {
  const [job] = await store.jobGetMany({ ids: [id] });
  return job;
}

/** Every job matching the filter, following cursors. */
export async function listAll(store: Store, filter: Omit<JobListParams, 'limit' | 'cursor'> = {}): Promise<Job[]> {
  const jobs: Job[] = [];
  let cursor: string | null = null;
  for (;;) {
    const page = await store.jobList({ ...filter, limit: 7, cursor });
    jobs.push(...page.jobs);
    if (!page.nextCursor) return jobs;
    cursor = page.nextCursor;
  }
}

/** Counts by state computed from the job list itself (what the counters must equal). */
export async function bruteCounts(store: Store, queue: string): Promise<StateCounts> {
  const counts = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as StateCounts;
  for (const job of await listAll(store, { queue })) counts[job.state]++;
  return counts;
}

export async function statsOf(store: Store, queue: string): Promise<QueueStats> {
  const [stats] = await store.queueStatsGet({ queues: [queue] });
  if (!stats) throw new Error(`no stats for queue ${queue}`);
  return stats;
}

export function testError(message: string): JobError {
  return { message, name: 'TestError' };
}

export function failParams(
  job: Pick<ClaimedJob, 'id' | 'leaseToken'>,
  to: 'retrying' | 'dead',
  options: { delayMs?: number; message?: string; reason?: JobFailParams['reason'] } = {},
): JobFailParams {
  return {
    id: job.id,
    leaseToken: job.leaseToken,
    to,
    retryDelayMs: options.delayMs ?? 0,
    error: testError(options.message ?? `failed to ${to}`),
    reason: options.reason ?? 'fail',
  };
}

/** Assert a batch of fenced writes all succeeded. */
export function expectAllOk(results: ReadonlyArray<{ ok: boolean }>): void {
  expect(results.map((r) => r.ok)).toEqual(results.map(() => true));
}

/** A token no claim ever hands out. */
export const WRONG_TOKEN = 'not-a-lease-token';
