/**
 * The hot-path job writes for PostgreSQL: insert, claim, complete, fail, release, extend, progress.
 * Each function runs inside a transaction described by a TxContext (the store's own, or the caller's for
 * transactional enqueue); the claim is one statement that also writes its counter deltas. Every state change is a
 * compare-and-set: `WHERE id = … AND state = 'active' AND lease_token = …` — a late ack, a reaper racing a
 * completion or a worker that lost its lease changes nothing and is told so.
 *
 * Differs from the SQLite version in that rows travel as arrays through `unnest` (one multi-row INSERT per
 * call for the ungated jobs of a batch), claims skip rows other transactions hold (`FOR UPDATE SKIP
 * LOCKED`), and idempotency keys are claimed with `INSERT … ON CONFLICT` (never check-then-insert).
 */
import { IdempotencyKeyReusedError, QueueNotFoundError } from '../../core/errors.js';
import { claimOrder, priorityTier } from '../../core/priority.js';
import { agingSecondsOf, DEFAULTS, retentionOf, type QueueConfig } from '../../core/queue-config.js';
import type { JobState } from '../../core/states.js';
import type {
  ClaimedJob,
  FencedResult,
  JobClaimManyParams,
  JobCompleteParams,
  JobExtendParams,
  JobExtendResult,
  JobFailParams,
  JobInsertParams,
  JobInsertResult,
  JobLeaseParams,
  JobReceipt,
} from '../store.js';
import { ensureOrderingHead, fillGroupSlots, groupHoldFor, HOLD_NONE, HOLD_ORDERING } from './gates.js';
import { AtomicInsertError } from '../driver-common.js';
import { historyEvent, parseConfig } from '../job-rows.js';
import { observeLatency } from '../../core/latency.js';
import type { GateKind, TxContext } from './tx-context.js';
import { pickRateLimited } from './rate-limits.js';
import { WEBHOOK_QUEUE } from '../../core/webhooks.js';
import { deliveriesFor, optionsWithMeta, type FinishedRow } from '../webhook-deliveries.js';

/** `now` in ms inside one statement: the injected clock's value ($n), else the database's clock. */
export function nowSql(param: string): string {
  return `coalesce(${param}::bigint, (extract(epoch from clock_timestamp()) * 1000)::bigint)`;
}

export async function queueConfigs(ctx: TxContext, names: Iterable<string>): Promise<Map<string, QueueConfig>> {
  const rows = await ctx.query<{ name: string; config: string }>('SELECT name, config FROM queues WHERE name = ANY($1::text[])', [[...new Set(names)]]);
  return new Map(rows.map((r) => [r.name, parseConfig(r.config)]));
}

export async function queueConfig(ctx: TxContext, name: string): Promise<QueueConfig | null> {
  return (await queueConfigs(ctx, [name])).get(name) ?? null;
}

export async function insertJobs(ctx: TxContext, jobs: readonly JobInsertParams[], atomic: boolean): Promise<JobInsertResult[]> {
  const { now } = ctx;
  const results: JobInsertResult[] = [];
  if (jobs.length === 0) return results;
  const configs = await queueConfigs(ctx, jobs.map((j) => j.queue));
  const rows = new RowBuffer(ctx);

  // Take every gate lock the batch needs up front, in one statement and in hash order (no deadlock between
  // two batches that share keys), before any sequence number is drawn.
  const gates: Array<{ queue: string; kind: GateKind; key: string }> = [];
  for (const job of jobs) {
    const config = configs.get(job.queue);
    if (!config) continue;
    if (job.orderingKey != null) gates.push({ queue: job.queue, kind: 'o', key: job.orderingKey });
    if (job.groupKey != null && config.groups?.concurrency != null) gates.push({ queue: job.queue, kind: 'g', key: job.groupKey });
  }
  await ctx.lockGates(gates);

  for (let i = 0; i < jobs.length; i++) {
    const job = jobs[i]!;
    const config = configs.get(job.queue);
    if (!config) {
      const error = new QueueNotFoundError(job.queue);
      if (atomic) throw new AtomicInsertError(i, error);
      results.push({ ok: false, error });
      continue;
    }

    const runAt = job.runAt ?? now + (job.delayMs ?? 0);
    const state: JobState = runAt > now ? 'scheduled' : 'queued';
    const receipt: JobReceipt = { id: job.id, queue: job.queue, state, createdAt: new Date(now), runAt: new Date(runAt) };

    if (job.idempotency) {
      // Claim the key: a new key (or an expired one) is written; a live one is left alone and read back.
      const retention = retentionOf(config);
      const keepMs = Math.max(DEFAULTS.idempotencySeconds, retention.completedSeconds, retention.deadSeconds) * 1000;
      const won = await ctx.query(
        `INSERT INTO idempotency_keys (queue, key, fingerprint, job_id, receipt, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (queue, key) DO UPDATE SET fingerprint = excluded.fingerprint, job_id = excluded.job_id,
           receipt = excluded.receipt, expires_at = excluded.expires_at
         WHERE idempotency_keys.expires_at <= $7
         RETURNING 1`,
        [job.queue, job.idempotency.key, job.idempotency.fingerprint, job.id, encodeReceipt(receipt), now + keepMs, now],
      );
      if (won.length === 0) {
        const existing = await ctx.queryOne<{ fingerprint: string; job_id: string; receipt: string }>(
          'SELECT fingerprint, job_id, receipt FROM idempotency_keys WHERE queue = $1 AND key = $2',
          [job.queue, job.idempotency.key],
        );
        if (!existing || existing.fingerprint !== job.idempotency.fingerprint) {
          const error = new IdempotencyKeyReusedError(job.idempotency.key, existing?.job_id ?? '');
          if (atomic) throw new AtomicInsertError(i, error);
          results.push({ ok: false, error });
        } else {
          results.push({ ok: true, replayed: true, receipt: decodeReceipt(existing.receipt) });
        }
        continue;
      }
    }

    const order = claimOrder(job.priority, runAt, agingSecondsOf(config));
    let hold = HOLD_NONE;
    if (job.orderingKey != null) {
      hold = HOLD_ORDERING; // ensureOrderingHead below opens it if this job is the key's head
    } else if (state === 'queued' && job.groupKey != null) {
      await rows.flush(); // the group's slot count must see every earlier row
      hold = await groupHoldFor(ctx, job.queue, job.groupKey, config, { prank: order.rank, sort_at: order.sortAt });
    }
    rows.add(job, state, order.rank, order.sortAt, hold, runAt, job.maxAttempts ?? config.maxAttempts ?? DEFAULTS.maxAttempts);
    if (job.orderingKey != null) {
      await rows.flush();
      await ensureOrderingHead(ctx, job.queue, job.orderingKey, config);
    }
    ctx.count(job.queue, state, 1);
    ctx.count(job.queue, 'total:enqueued', 1);
    if (state === 'queued') ctx.wake(job.queue);
    results.push({ ok: true, replayed: false, receipt });
  }
  await rows.flush();
  return results;
}

/**
 * Job rows waiting to be written: one `INSERT … SELECT FROM unnest(…)` per flush, whatever the row count
 * (ordering-key sequence numbers are drawn in row order by the same statement).
 */
class RowBuffer {
  readonly #ctx: TxContext;
  #cols: unknown[][] = RowBuffer.#empty();

  static #empty(): unknown[][] {
    return Array.from({ length: 18 }, () => []);
  }

  constructor(ctx: TxContext) {
    this.#ctx = ctx;
  }

  add(job: JobInsertParams, state: JobState, prank: number, sortAt: number, hold: number, runAt: number, maxAttempts: number): void {
    const values = [
      job.id, job.queue, job.type, job.version, state, priorityTier(job.priority), prank, sortAt, hold, runAt,
      job.orderingKey, job.groupKey, job.correlationId, maxAttempts, job.leaseMs, job.payloadJson, job.optionsJson,
      historyEvent(state, this.#ctx.now, 0),
    ];
    for (let c = 0; c < values.length; c++) this.#cols[c]!.push(values[c]);
  }

  async flush(): Promise<void> {
    if (this.#cols[0]!.length === 0) return;
    const cols = this.#cols;
    this.#cols = RowBuffer.#empty();
    await this.#ctx.query(
      `INSERT INTO jobs (id, queue, type, version, state, priority, prank, sort_at, hold, run_at, ordering_key, okey_seq,
         group_key, correlation_id, max_attempts, lease_ms, created_at, payload, options, history)
       SELECT id, queue, type, version, state, priority, prank, sort_at, hold, run_at, okey,
         CASE WHEN okey IS NULL THEN NULL ELSE nextval('okey_seq') END, gkey, corr, max_attempts, lease_ms, $19, payload, options, history
       FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::smallint[], $7::smallint[], $8::bigint[],
         $9::smallint[], $10::bigint[], $11::text[], $12::text[], $13::text[], $14::int[], $15::bigint[], $16::text[],
         $17::text[], $18::text[])
         AS t(id, queue, type, version, state, priority, prank, sort_at, hold, run_at, okey, gkey, corr, max_attempts,
           lease_ms, payload, options, history)`,
      [...cols, this.#ctx.now],
    );
  }
}

/**
 * Insert the webhook deliveries transitions owe (storage/webhook-deliveries.ts) in their transaction, as one
 * statement: queued at once, no keys, gates or idempotency, their own attempt budget, so no config is read.
 */
export async function insertDeliveries(ctx: TxContext, finished: readonly FinishedRow[]): Promise<void> {
  const jobs = deliveriesFor(finished, ctx.now);
  if (jobs.length === 0) return;
  const rows = new RowBuffer(ctx);
  for (const job of jobs) {
    const order = claimOrder(job.priority, ctx.now, DEFAULTS.agingSeconds);
    rows.add(job, 'queued', order.rank, order.sortAt, HOLD_NONE, ctx.now, job.maxAttempts ?? DEFAULTS.maxAttempts);
  }
  await rows.flush();
  ctx.count(WEBHOOK_QUEUE, 'queued', jobs.length);
  ctx.count(WEBHOOK_QUEUE, 'total:enqueued', jobs.length);
  ctx.wake(WEBHOOK_QUEUE);
}

function encodeReceipt(r: JobReceipt): string {
  return JSON.stringify({ id: r.id, queue: r.queue, state: r.state, createdAt: r.createdAt.getTime(), runAt: r.runAt.getTime() });
}

function decodeReceipt(text: string): JobReceipt {
  const r = JSON.parse(text) as { id: string; queue: string; state: JobState; createdAt: number; runAt: number };
  return { id: r.id, queue: r.queue, state: r.state, createdAt: new Date(r.createdAt), runAt: new Date(r.runAt) };
}

const PRIORITY_NAMES = ['critical', 'high', 'normal', 'low'] as const;

interface ClaimRow {
  id: string;
  queue: string;
  type: string | null;
  version: number;
  payload: string;
  priority: number;
  ordering_key: string | null;
  group_key: string | null;
  correlation_id: string | null;
  attempts: number;
  max_attempts: number;
  lease_token: string;
  lease_expires_at: number;
  created_at: number;
  run_at: number;
  options: string | null;
  prank: number;
  sort_at: number;
  seq: number;
  lease_ms: number | null;
}

/**
 * One statement: pick the best claimable rows (skipping rows other claims hold), lease them, and write the
 * counter deltas, all in data-modifying CTEs. The queue row it reads (paused?) also says whether the queue is
 * rate-limited: an unlimited queue's claim is this statement alone; for a limited one it leases nothing and
 * answers the limits (a row with no job), and the claim goes on within the token buckets (rate-limits.ts).
 */
export async function claimJobs(
  ctx: TxContext,
  params: JobClaimManyParams,
  owner: object,
  takeOver?: (ctx: TxContext, queue: string) => Promise<void>,
): Promise<ClaimedJob[]> {
  if (params.max <= 0) return [];
  const answer = await ctx.query<ClaimRow & { rate_per_second: number | null; group_rate_per_second: number | null; lease_expired: boolean }>(
    `WITH t AS MATERIALIZED (SELECT ${nowSql('$1')} AS now),
     q AS MATERIALIZED (SELECT rate_per_second, group_rate_per_second FROM queues WHERE name = $2 AND NOT paused),
     picked AS (
       SELECT seq FROM jobs
       WHERE queue = $2 AND state = 'queued' AND hold = 0
         AND EXISTS (SELECT 1 FROM q WHERE rate_per_second IS NULL AND group_rate_per_second IS NULL)
       ORDER BY prank, sort_at, seq LIMIT $3
       FOR UPDATE SKIP LOCKED),
     claimed AS (
       UPDATE jobs SET state = 'active', attempts = jobs.attempts + 1,
         lease_token = replace(gen_random_uuid()::text, '-', ''),
         lease_expires_at = t.now + coalesce(jobs.lease_ms, $4),
         started_at = t.now,
         history = jobs.history || ',{"s":"active","t":' || t.now || ',"a":' || (jobs.attempts + 1) || '}'
       FROM picked, t
       WHERE jobs.seq = picked.seq
       RETURNING jobs.id, jobs.queue, jobs.type, jobs.version, jobs.payload, jobs.priority, jobs.ordering_key, jobs.group_key,
         jobs.correlation_id, jobs.attempts, jobs.max_attempts, jobs.lease_token, jobs.lease_expires_at, jobs.created_at,
         jobs.run_at, jobs.options, jobs.prank, jobs.sort_at, jobs.seq, jobs.lease_ms),
     counted AS (
       INSERT INTO counter_deltas (queue, name, delta)
       SELECT $2, c.name, c.sign * n.n FROM (SELECT count(*) AS n FROM claimed) AS n,
         (VALUES ('queued', -1), ('active', 1)) AS c(name, sign)
       WHERE n.n > 0)
     SELECT claimed.*, q.rate_per_second, q.group_rate_per_second,
       EXISTS (SELECT 1 FROM jobs e WHERE e.queue = $2 AND e.state = 'active' AND e.lease_expires_at < (SELECT now FROM t)) AS lease_expired
     FROM q LEFT JOIN claimed ON true`,
    [ctx.now, params.queue, params.max, params.leaseMs],
  );
  const first = answer[0];
  // A lease of this queue ran out (one index probe, in the claim's own statement): take the expired jobs over
  // (postgres/lease-takeover.ts) and claim again for what is left of `max` — they are queued again by now.
  if (first?.lease_expired && takeOver) {
    const claimed = await claimRows(ctx, params, owner, answer, first);
    await takeOver(ctx, params.queue);
    const more = claimed.length < params.max ? await claimJobs(ctx, { ...params, max: params.max - claimed.length }, owner) : [];
    return [...claimed, ...more];
  }
  return claimRows(ctx, params, owner, answer, first);
}

async function claimRows(
  ctx: TxContext,
  params: JobClaimManyParams,
  owner: object,
  answer: ReadonlyArray<ClaimRow & { rate_per_second: number | null; group_rate_per_second: number | null }>,
  first: (ClaimRow & { rate_per_second: number | null; group_rate_per_second: number | null }) | undefined,
): Promise<ClaimedJob[]> {
  let rows: ClaimRow[];
  if (first && (first.rate_per_second !== null || first.group_rate_per_second !== null)) {
    const limits = {
      queue: first.rate_per_second === null ? null : Number(first.rate_per_second),
      group: first.group_rate_per_second === null ? null : Number(first.group_rate_per_second),
    };
    const seqs = await pickRateLimited(ctx, owner, params.queue, params.max, limits);
    if (seqs.length === 0) return [];
    rows = await ctx.query<ClaimRow>(
      `UPDATE jobs SET state = 'active', attempts = attempts + 1,
         lease_token = replace(gen_random_uuid()::text, '-', ''),
         lease_expires_at = $1::bigint + coalesce(lease_ms, $2),
         started_at = $1::bigint,
         history = history || ',{"s":"active","t":' || $1::bigint || ',"a":' || (attempts + 1) || '}'
       WHERE seq = ANY($3::bigint[]) AND state = 'queued' AND hold = 0
       RETURNING id, queue, type, version, payload, priority, ordering_key, group_key, correlation_id, attempts, max_attempts,
         lease_token, lease_expires_at, created_at, run_at, options, prank, sort_at, seq, lease_ms`,
      [ctx.now, params.leaseMs, seqs],
    );
    ctx.count(params.queue, 'queued', -rows.length);
    ctx.count(params.queue, 'active', rows.length);
  } else {
    // A queue with no job claimed answers one row without a job (the LEFT JOIN); a paused one answers none.
    rows = answer.filter((r) => r.id !== null);
  }
  if (rows.length === 0) return [];
  // Wait (enqueue→start) of each first attempt, from when the job became due (core/latency.ts); the claim
  // leased them at ctx.now (t.now above is the same value).
  for (const r of rows) if (Number(r.attempts) === 1) observeLatency(ctx, params.queue, 'wait', ctx.now - Number(r.run_at));
  // RETURNING order is unspecified: restore claim order (rank, sortAt, seq).
  rows.sort((a, b) => Number(a.prank) - Number(b.prank) || Number(a.sort_at) - Number(b.sort_at) || Number(a.seq) - Number(b.seq));
  return rows.map((r) => ({
    id: r.id,
    queue: r.queue,
    type: r.type,
    version: Number(r.version),
    payloadJson: r.payload,
    priority: PRIORITY_NAMES[Number(r.priority)] ?? 'normal',
    orderingKey: r.ordering_key,
    groupKey: r.group_key,
    correlationId: r.correlation_id,
    attempt: Number(r.attempts),
    maxAttempts: Number(r.max_attempts),
    leaseToken: r.lease_token,
    leaseExpiresAt: Number(r.lease_expires_at),
    leaseMs: r.lease_ms == null ? params.leaseMs : Number(r.lease_ms),
    createdAt: Number(r.created_at),
    runAt: Number(r.run_at),
    optionsJson: r.options,
  }));
}

interface LeftActive {
  queue: string;
  ordering_key: string | null;
  group_key: string | null;
}

async function currentStates(ctx: TxContext, ids: readonly string[]): Promise<Map<string, JobState>> {
  if (ids.length === 0) return new Map();
  const rows = await ctx.query<{ id: string; state: JobState }>('SELECT id, state FROM jobs WHERE id = ANY($1::text[])', [[...new Set(ids)]]);
  return new Map(rows.map((r) => [r.id, r.state]));
}

/** Re-open gates after jobs left `active` (their group slots are free; their ordering keys may move on). */
async function afterLeavingActive(ctx: TxContext, left: ReadonlyArray<{ row: LeftActive; to: JobState }>): Promise<void> {
  const gated = left.filter((l) => l.row.ordering_key != null || l.row.group_key != null);
  if (gated.length === 0) return;
  const configs = await queueConfigs(ctx, gated.map((l) => l.row.queue));
  const locks: Array<{ queue: string; kind: GateKind; key: string }> = [];
  for (const { row } of gated) {
    if (row.group_key != null) locks.push({ queue: row.queue, kind: 'g', key: row.group_key });
    if (row.ordering_key != null) locks.push({ queue: row.queue, kind: 'o', key: row.ordering_key });
  }
  await ctx.lockGates(locks);
  for (const { row, to } of gated) {
    const config = configs.get(row.queue);
    if (!config) continue;
    if (row.group_key != null && to !== 'queued') await fillGroupSlots(ctx, row.queue, row.group_key, config);
    if (row.ordering_key != null && to !== 'retrying' && to !== 'queued') await ensureOrderingHead(ctx, row.queue, row.ordering_key, config);
    ctx.wake(row.queue);
  }
}

/**
 * One set-based UPDATE for the whole batch (ids, tokens and results as arrays); items not returned were stale.
 * The same statement answers what decides webhook deliveries — the queue's `webhook` column (joined: NULL for
 * queues without one) and the job's options when they carry `meta` — so a batch that owes none costs no extra
 * round trip, and one that does adds one INSERT in this transaction.
 */
export async function completeJobs(ctx: TxContext, jobs: readonly JobCompleteParams[]): Promise<FencedResult[]> {
  const { now } = ctx;
  if (jobs.length === 0) return [];
  const rows = await ctx.query<LeftActive & { id: string; created_at: string; last_error: string | null; options: string | null; webhook: string | null }>(
    `WITH done AS (
       UPDATE jobs SET state = 'completed', finished_at = $1::bigint, result = b.result, lease_token = NULL, lease_expires_at = NULL,
         history = jobs.history || ',{"s":"completed","t":' || $1::bigint || ',"a":' || jobs.attempts || '}'
       FROM (SELECT DISTINCT ON (id) id, token, result FROM unnest($2::text[], $3::text[], $4::text[]) AS u(id, token, result)) AS b
       WHERE jobs.id = b.id AND jobs.state = 'active' AND jobs.lease_token = b.token
       RETURNING jobs.id, jobs.queue, jobs.ordering_key, jobs.group_key, jobs.created_at, jobs.last_error, ${optionsWithMeta('jobs.options')} AS options)
     SELECT done.*, q.webhook FROM done LEFT JOIN queues q ON q.name = done.queue`,
    [now, jobs.map((j) => j.id), jobs.map((j) => j.leaseToken), jobs.map((j) => j.resultJson)],
  );
  const done = new Map<string, LeftActive>();
  const finished: FinishedRow[] = [];
  let results: Map<string, string | null> | null = null;
  for (const { id, queue, ordering_key, group_key, created_at, last_error, options, webhook } of rows) {
    done.set(id, { queue, ordering_key, group_key });
    ctx.count(queue, 'active', -1);
    ctx.count(queue, 'completed', 1);
    ctx.count(queue, 'total:completed', 1);
    observeLatency(ctx, queue, 'e2e', now - Number(created_at));
    if (webhook !== null || options !== null) {
      results ??= new Map(jobs.map((j) => [j.id, j.resultJson]));
      finished.push({ id, queue, state: 'completed', webhook, options, resultJson: results.get(id) ?? null, lastErrorJson: last_error });
    }
  }
  await insertDeliveries(ctx, finished);
  await afterLeavingActive(ctx, [...done.values()].map((row) => ({ row, to: 'completed' as const })));
  const stale = jobs.filter((j) => !done.has(j.id)).map((j) => j.id);
  const states = await currentStates(ctx, stale);
  return jobs.map((j) => {
    // A job listed twice in one batch completes once; the duplicate is reported stale.
    if (done.delete(j.id)) return { ok: true };
    return { ok: false, state: states.get(j.id) ?? (rows.some((r) => r.id === j.id) ? 'completed' : null) };
  });
}

export async function failJobs(ctx: TxContext, jobs: readonly JobFailParams[]): Promise<FencedResult[]> {
  const { now } = ctx;
  const results: FencedResult[] = [];
  const left: Array<{ row: LeftActive; to: JobState }> = [];
  const dead: FinishedRow[] = [];
  for (const j of jobs) {
    const error = JSON.stringify(j.error);
    const finished = j.to === 'dead';
    // A job going dead also answers what decides its webhook deliveries (completeJobs); a retry reads NULLs.
    const row = await ctx.queryOne<LeftActive & { created_at: string; options: string | null; webhook: string | null }>(
      `UPDATE jobs SET state = $1::text, run_at = CASE WHEN $2::boolean THEN run_at ELSE $3::bigint END,
         finished_at = CASE WHEN $2::boolean THEN $4::bigint ELSE finished_at END,
         lease_token = NULL, lease_expires_at = NULL, last_error = $5::text,
         history = history || ',{"s":"' || $1::text || '","t":' || $4::bigint || ',"a":' || attempts || ',"r":' || to_json($6::text)::text || ',"e":' || $5::text || '}'
       WHERE id = $7 AND state = 'active' AND lease_token = $8
       RETURNING queue, ordering_key, group_key, created_at,
         CASE WHEN $2::boolean THEN ${optionsWithMeta('options')} END AS options,
         CASE WHEN $2::boolean THEN (SELECT q.webhook FROM queues q WHERE q.name = jobs.queue) END AS webhook`,
      [j.to, finished, now + Math.max(0, j.retryDelayMs), now, error, j.reason, j.id, j.leaseToken],
    );
    if (!row) {
      const state = (await currentStates(ctx, [j.id])).get(j.id) ?? null;
      results.push({ ok: false, state });
      continue;
    }
    ctx.count(row.queue, 'active', -1);
    ctx.count(row.queue, j.to, 1);
    ctx.count(row.queue, 'total:failed', 1);
    if (finished) {
      ctx.count(row.queue, 'total:dead', 1);
      observeLatency(ctx, row.queue, 'e2e', now - Number(row.created_at));
      if (row.webhook !== null || row.options !== null) {
        dead.push({ id: j.id, queue: row.queue, state: 'dead', webhook: row.webhook, options: row.options, resultJson: null, lastErrorJson: error });
      }
    }
    left.push({ row, to: j.to });
    results.push({ ok: true });
  }
  await insertDeliveries(ctx, dead);
  await afterLeavingActive(ctx, left);
  return results;
}

/** Back to `queued` in its old place in line, the attempt not spent (graceful shutdown). */
export async function releaseJobs(ctx: TxContext, jobs: readonly JobLeaseParams[]): Promise<FencedResult[]> {
  const { now } = ctx;
  const results: FencedResult[] = [];
  for (const j of jobs) {
    const row = await ctx.queryOne<{ queue: string }>(
      `UPDATE jobs SET state = 'queued', attempts = attempts - 1, lease_token = NULL, lease_expires_at = NULL,
         history = history || ',{"s":"queued","t":' || $1::bigint || ',"a":' || (attempts - 1) || ',"r":"release"}'
       WHERE id = $2 AND state = 'active' AND lease_token = $3
       RETURNING queue`,
      [now, j.id, j.leaseToken],
    );
    if (!row) {
      results.push({ ok: false, state: (await currentStates(ctx, [j.id])).get(j.id) ?? null });
      continue;
    }
    ctx.count(row.queue, 'active', -1);
    ctx.count(row.queue, 'queued', 1);
    ctx.wake(row.queue);
    results.push({ ok: true });
  }
  return results;
}

export async function extendLeases(ctx: TxContext, jobs: readonly JobExtendParams[]): Promise<JobExtendResult[]> {
  if (jobs.length === 0) return [];
  const rows = await ctx.query<{ id: string; lease_expires_at: number }>(
    // Never earlier than it already is (contract): a shorter lease is ok and leaves the expiry as it was.
    `UPDATE jobs SET lease_expires_at = GREATEST(jobs.lease_expires_at, $1 + b.lease_ms)
     FROM (SELECT DISTINCT ON (id) id, token, lease_ms FROM unnest($2::text[], $3::text[], $4::bigint[]) AS u(id, token, lease_ms)) AS b
     WHERE jobs.id = b.id AND jobs.state = 'active' AND jobs.lease_token = b.token
     RETURNING jobs.id, jobs.lease_expires_at`,
    [ctx.now, jobs.map((j) => j.id), jobs.map((j) => j.leaseToken), jobs.map((j) => j.leaseMs)],
  );
  const extended = new Map(rows.map((r) => [r.id, Number(r.lease_expires_at)]));
  return jobs.map((j) => {
    const at = extended.get(j.id);
    return at === undefined ? { ok: false, leaseExpiresAt: null } : { ok: true, leaseExpiresAt: at };
  });
}

export async function setProgress(ctx: TxContext, params: JobLeaseParams & { progressJson: string }): Promise<FencedResult> {
  const rows = await ctx.query(`UPDATE jobs SET progress = $1 WHERE id = $2 AND state = 'active' AND lease_token = $3 RETURNING 1`, [
    params.progressJson,
    params.id,
    params.leaseToken,
  ]);
  if (rows.length === 1) return { ok: true };
  return { ok: false, state: (await currentStates(ctx, [params.id])).get(params.id) ?? null };
}
