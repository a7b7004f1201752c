/**
 * Operator and maintenance writes for PostgreSQL: cancel, DLQ replay and purge, promotion of due jobs,
 * retention, idempotency-key expiry, counter folding. Same rules as the hot path: compare-and-set on the
 * expected state, counters changed in the same transaction, gates re-opened after a job leaves a gate.
 *
 * Differs from the SQLite version in that other transactions run concurrently: rows are locked (`FOR
 * UPDATE`, or `SKIP LOCKED` for maintenance batches) before the decision that depends on them, and gate
 * locks are taken before a gated row is locked where the key is known in advance.
 */
import { claimOrder, priorityFromTier } from '../../core/priority.js';
import { agingSecondsOf, onDeadOf, retentionOf } from '../../core/queue-config.js';
import { CANCELLABLE_STATES, type JobState } from '../../core/states.js';
import type { JobCancelResult, JobReplayParams } from '../store.js';
import { ensureOrderingHead, fillGroupSlots, groupHoldFor, HOLD_NONE, HOLD_ORDERING } from './gates.js';
import { historyEvent } from '../job-rows.js';
import { deleteBlobs } from './blobs.js';
import { insertDeliveries, queueConfig, queueConfigs } from './job-writes.js';
import { optionsWithMeta, type FinishedRow } from '../webhook-deliveries.js';
import type { GateKind, TxContext } from './tx-context.js';

interface GateRow {
  seq: number;
  id: string;
  queue: string;
  state: JobState;
  priority: number;
  hold: number;
  attempts: number;
  ordering_key: string | null;
  group_key: string | null;
}

const GATE_COLUMNS = 'seq, id, queue, state, priority, hold, attempts, ordering_key, group_key';

function gateLocks(rows: readonly GateRow[]): Array<{ queue: string; kind: GateKind; key: string }> {
  const locks: Array<{ queue: string; kind: GateKind; key: string }> = [];
  for (const r of rows) {
    if (r.ordering_key != null) locks.push({ queue: r.queue, kind: 'o', key: r.ordering_key });
    if (r.group_key != null) locks.push({ queue: r.queue, kind: 'g', key: r.group_key });
  }
  return locks;
}

export async function cancelJobs(ctx: TxContext, ids: readonly string[]): Promise<JobCancelResult[]> {
  const { now } = ctx;
  // Gate locks first (keys read without a row lock; a job's keys never change), then the rows.
  const peek = await ctx.query<GateRow>(`SELECT ${GATE_COLUMNS} FROM jobs WHERE id = ANY($1::text[])`, [[...new Set(ids)]]);
  await ctx.lockGates(gateLocks(peek));
  const results: JobCancelResult[] = [];
  const finished: FinishedRow[] = [];
  for (const id of ids) {
    const row = await ctx.queryOne<GateRow & { last_error: string | null; options: string | null; webhook: string | null }>(
      `SELECT ${GATE_COLUMNS}, last_error, ${optionsWithMeta('options')} AS options,
         (SELECT q.webhook FROM queues q WHERE q.name = jobs.queue) AS webhook
       FROM jobs WHERE id = $1 FOR UPDATE OF jobs`,
      [id],
    );
    if (!row) {
      results.push({ id, ok: false, state: null });
      continue;
    }
    if (!CANCELLABLE_STATES.includes(row.state)) {
      results.push({ id, ok: false, state: row.state });
      continue;
    }
    await ctx.query(`UPDATE jobs SET state = 'cancelled', finished_at = $1, hold = 0, history = history || $2 WHERE seq = $3 AND state = $4`, [
      now,
      `,${historyEvent('cancelled', now, Number(row.attempts), { reason: 'cancel' })}`,
      row.seq,
      row.state,
    ]);
    ctx.count(row.queue, row.state, -1);
    ctx.count(row.queue, 'cancelled', 1);
    ctx.count(row.queue, 'total:cancelled', 1);
    if (row.webhook !== null) finished.push({ id, queue: row.queue, state: 'cancelled', webhook: row.webhook, options: row.options, resultJson: null, lastErrorJson: row.last_error });
    const config = row.ordering_key != null || row.group_key != null ? await queueConfig(ctx, row.queue) : null;
    if (config && row.group_key != null && row.state === 'queued' && Number(row.hold) === HOLD_NONE) {
      await fillGroupSlots(ctx, row.queue, row.group_key, config);
      ctx.wake(row.queue);
    }
    if (config && row.ordering_key != null) {
      await ensureOrderingHead(ctx, row.queue, row.ordering_key, config);
      ctx.wake(row.queue);
    }
    results.push({ id, ok: true, state: 'cancelled' });
  }
  await insertDeliveries(ctx, finished);
  return results;
}

/** Put dead jobs back to `queued` with a fresh attempt budget; recorded in each job's history. */
export async function replayDead(ctx: TxContext, params: JobReplayParams): Promise<{ count: number; ids: string[] }> {
  const { now } = ctx;
  const config = await queueConfig(ctx, params.queue);
  if (!config) return { count: 0, ids: [] };
  const lock = params.dryRun ? '' : 'FOR UPDATE SKIP LOCKED';
  let rows: GateRow[];
  if (params.ids) {
    // An id listed twice is replayed once (counting it twice drove the dead counter negative).
    const unique = [...new Set(params.ids)];
    const found = await ctx.query<GateRow>(
      `SELECT ${GATE_COLUMNS} FROM jobs WHERE id = ANY($1::text[]) AND queue = $2 AND state = 'dead' ${lock}`,
      [unique, params.queue],
    );
    const byId = new Map(found.map((r) => [r.id, r]));
    rows = unique.map((id) => byId.get(id)).filter((r): r is GateRow => !!r);
  } else if (params.all) {
    rows = await ctx.query<GateRow>(`SELECT ${GATE_COLUMNS} FROM jobs WHERE queue = $1 AND state = 'dead' ORDER BY seq LIMIT $2 ${lock}`, [
      params.queue,
      params.limit ?? 1000,
    ]);
  } else {
    rows = [];
  }
  if (params.dryRun) return { count: rows.length, ids: rows.map((r) => r.id) };
  await ctx.lockGates(gateLocks(rows));

  const aging = agingSecondsOf(config);
  const block = onDeadOf(config) === 'block';
  for (const row of rows) {
    const order = claimOrder(priorityFromTier(Number(row.priority)), now, aging);
    let hold = HOLD_NONE;
    let newOkeySeq = false;
    if (row.ordering_key != null) {
      hold = HOLD_ORDERING;
      // Under `block` the replayed job keeps its place (it is what the key waits for); under `continue`
      // later jobs went ahead, so it rejoins at the end of its key.
      newOkeySeq = !block;
    } else if (row.group_key != null) {
      hold = await groupHoldFor(ctx, row.queue, row.group_key, config, { prank: order.rank, sort_at: order.sortAt });
    }
    await ctx.query(
      `UPDATE jobs SET state = 'queued', attempts = 0, run_at = $1, finished_at = NULL, started_at = NULL,
         prank = $2, sort_at = $3, hold = $4, okey_seq = CASE WHEN $5::boolean THEN nextval('okey_seq') ELSE okey_seq END,
         history = history || $6
       WHERE seq = $7 AND state = 'dead'`,
      [now, order.rank, order.sortAt, hold, newOkeySeq, `,${historyEvent('queued', now, 0, { reason: 'replay' })}`, row.seq],
    );
    if (row.ordering_key != null) await ensureOrderingHead(ctx, row.queue, row.ordering_key, config);
    ctx.count(row.queue, 'dead', -1);
    ctx.count(row.queue, 'queued', 1);
    ctx.count(row.queue, 'total:replayed', 1);
  }
  if (rows.length > 0) ctx.wake(params.queue);
  return { count: rows.length, ids: rows.map((r) => r.id) };
}

export async function deleteDead(ctx: TxContext, queue: string, id: string): Promise<boolean> {
  const row = await ctx.queryOne<{ ordering_key: string | null }>(
    `DELETE FROM jobs WHERE id = $1 AND queue = $2 AND state = 'dead' RETURNING ordering_key`,
    [id, queue],
  );
  if (!row) return false;
  await ctx.query('DELETE FROM job_steps WHERE job_id = $1', [id]);
  await deleteBlobs(ctx, [id]);
  ctx.count(queue, 'dead', -1);
  if (row.ordering_key != null) {
    const config = await queueConfig(ctx, queue);
    if (config) await ensureOrderingHead(ctx, queue, row.ordering_key, config);
    ctx.wake(queue);
  }
  return true;
}

/** scheduled/retrying jobs whose time has come → queued (in runAt order, at most `limit`). */
export async function promoteDue(ctx: TxContext, limit: number): Promise<{ count: number; queues: string[] }> {
  const { now } = ctx;
  const rows = await ctx.query<GateRow & { run_at: number }>(
    `SELECT ${GATE_COLUMNS}, run_at FROM jobs WHERE state IN ('scheduled', 'retrying') AND run_at <= $1
     ORDER BY run_at LIMIT $2 FOR UPDATE SKIP LOCKED`,
    [now, limit],
  );
  return promoteRows(ctx, rows);
}

/** These jobs, if they are `retrying` and due, → queued (the claim-side lease takeover, lease-takeover.ts). */
export async function promoteDueIds(ctx: TxContext, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  const rows = await ctx.query<GateRow & { run_at: number }>(
    `SELECT ${GATE_COLUMNS}, run_at FROM jobs WHERE id = ANY($1::text[]) AND state = 'retrying' AND run_at <= $2 FOR UPDATE`,
    [ids, ctx.now],
  );
  await promoteRows(ctx, rows);
}

async function promoteRows(ctx: TxContext, rows: ReadonlyArray<GateRow & { run_at: number }>): Promise<{ count: number; queues: string[] }> {
  const { now } = ctx;
  if (rows.length === 0) return { count: 0, queues: [] };
  const configs = await queueConfigs(ctx, rows.map((r) => r.queue));
  await ctx.lockGates(gateLocks(rows.filter((r) => r.group_key != null && configs.get(r.queue)?.groups?.concurrency != null)));
  const queues = new Set<string>();
  for (const row of rows) {
    const config = configs.get(row.queue);
    if (!config) continue;
    const order = claimOrder(priorityFromTier(Number(row.priority)), Number(row.run_at), agingSecondsOf(config));
    let hold = Number(row.hold) === HOLD_ORDERING ? HOLD_ORDERING : HOLD_NONE;
    if (hold === HOLD_NONE && row.group_key != null) {
      hold = await groupHoldFor(ctx, row.queue, row.group_key, config, { prank: order.rank, sort_at: order.sortAt });
    }
    await ctx.query(`UPDATE jobs SET state = 'queued', prank = $1, sort_at = $2, hold = $3, history = history || $4 WHERE seq = $5 AND state = $6`, [
      order.rank,
      order.sortAt,
      hold,
      `,${historyEvent('queued', now, Number(row.attempts), { reason: 'due' })}`,
      row.seq,
      row.state,
    ]);
    ctx.count(row.queue, row.state, -1);
    ctx.count(row.queue, 'queued', 1);
    queues.add(row.queue);
    ctx.wake(row.queue);
  }
  return { count: rows.length, queues: [...queues] };
}

/** Retention: delete finished jobs older than their queue's retention; at most `limit` rows per call. */
export async function deleteExpired(ctx: TxContext, limit: number): Promise<number> {
  const { now } = ctx;
  const queues = await ctx.query<{ name: string; config: string }>('SELECT name, config FROM queues ORDER BY name');
  const configs = await queueConfigs(ctx, queues.map((q) => q.name));
  let deleted = 0;
  for (const q of queues) {
    if (deleted >= limit) break;
    const config = configs.get(q.name);
    if (!config) continue;
    const retention = retentionOf(config);
    const passes: Array<[string, number]> = [
      [`state IN ('completed', 'cancelled')`, now - retention.completedSeconds * 1000],
      [`state = 'dead'`, now - retention.deadSeconds * 1000],
    ];
    for (const [stateCond, cutoff] of passes) {
      if (deleted >= limit) break;
      const rows = await ctx.query<{ id: string; state: JobState; ordering_key: string | null }>(
        `DELETE FROM jobs WHERE seq IN (
           SELECT seq FROM jobs WHERE queue = $1 AND finished_at IS NOT NULL AND finished_at < $2 AND ${stateCond}
           ORDER BY finished_at LIMIT $3 FOR UPDATE SKIP LOCKED)
         RETURNING id, state, ordering_key`,
        [q.name, cutoff, limit - deleted],
      );
      if (rows.length === 0) continue;
      await ctx.query('DELETE FROM job_steps WHERE job_id = ANY($1::text[])', [rows.map((r) => r.id)]);
      await deleteBlobs(ctx, rows.map((r) => r.id)); // a primary-key probe per job: no need to tell blob jobs apart
      const keys = new Set<string>();
      for (const r of rows) {
        ctx.count(q.name, r.state, -1);
        if (r.state === 'dead' && r.ordering_key != null) keys.add(r.ordering_key);
      }
      for (const key of keys) await ensureOrderingHead(ctx, q.name, key, config);
      if (keys.size > 0) ctx.wake(q.name);
      deleted += rows.length;
    }
  }
  return deleted;
}

export async function deleteExpiredIdempotencyKeys(ctx: TxContext, limit: number): Promise<number> {
  const rows = await ctx.query(
    `DELETE FROM idempotency_keys WHERE (queue, key) IN (
       SELECT queue, key FROM idempotency_keys WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)
     RETURNING 1`,
    [ctx.now, limit],
  );
  return rows.length;
}

/**
 * Fold counter delta rows into `queue_counters`: one statement moves up to `limit` delta rows (oldest
 * first) into the folded totals, so readers see either before or after, never both. Run by the leader.
 */
export async function foldCounters(ctx: TxContext, limit: number): Promise<number> {
  const rows = await ctx.query<{ n: number }>(
    `WITH moved AS (
       DELETE FROM counter_deltas WHERE id IN (
         SELECT id FROM counter_deltas ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
       RETURNING queue, name, delta),
     summed AS (SELECT queue, name, sum(delta)::bigint AS value FROM moved GROUP BY queue, name),
     folded AS (
       INSERT INTO queue_counters (queue, name, value) SELECT queue, name, value FROM summed
       ON CONFLICT (queue, name) DO UPDATE SET value = queue_counters.value + excluded.value)
     SELECT count(*)::bigint AS n FROM moved`,
    [limit],
  );
  return Number(rows[0]?.n ?? 0);
}
