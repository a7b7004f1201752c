/**
 * Operator and maintenance writes for SQLite: cancel, DLQ replay and purge, promotion of due jobs,
 * retention, idempotency-key expiry. Same rules as the hot path: compare-and-set on the expected state,
 * counters changed in the same transaction, gates re-opened after a job leaves a gate.
 */
import { claimOrder } from '../../core/priority.js';
import { priorityFromTier } from '../../core/priority.js';
import { agingSecondsOf, onDeadOf, retentionOf } from '../../core/queue-config.js';
import { CANCELLABLE_STATES, type JobState } from '../../core/states.js';
import type { JobCancelResult, JobReplayParams } from '../store.js';
import { ensureOrderingHead, fillGroupSlots, groupHoldFor, HOLD_NONE, HOLD_ORDERING, nextOrderingSeq } from './gates.js';
import { historyEvent } from '../job-rows.js';
import { queueConfig } from './queue-rows.js';
import { insertDeliveries, webhookReader } from './job-writes.js';
import { optionsWithMeta, type FinishedRow } from '../webhook-deliveries.js';
import type { TxContext } from './write-coalescer.js';

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

export function cancelJobs(ctx: TxContext, ids: readonly string[]): JobCancelResult[] {
  const { conn, now } = ctx;
  const select = conn.stmt(`SELECT ${GATE_COLUMNS}, last_error, ${optionsWithMeta('options')} AS options FROM jobs WHERE id = ?`);
  const webhookOf = webhookReader(conn);
  const finished: FinishedRow[] = [];
  const update = conn.stmt(
    `UPDATE jobs SET state = 'cancelled', finished_at = @now, hold = 0,
       history = history || @event WHERE seq = @seq AND state = @state`,
  );
  const results = ids.map((id): JobCancelResult => {
    const row = select.get(id) as (GateRow & { last_error: string | null; options: string | null }) | undefined;
    if (!row) return { id, ok: false, state: null };
    if (!CANCELLABLE_STATES.includes(row.state)) return { id, ok: false, state: row.state };
    update.run({ now, seq: row.seq, state: row.state, event: `,${historyEvent('cancelled', now, row.attempts, { reason: 'cancel' })}` });
    ctx.count(row.queue, row.state, -1);
    ctx.count(row.queue, 'cancelled', 1);
    ctx.count(row.queue, 'total:cancelled', 1);
    const webhook = webhookOf(row.queue);
    if (webhook !== null) finished.push({ id, queue: row.queue, state: 'cancelled', webhook, options: row.options, resultJson: null, lastErrorJson: row.last_error });
    const config = row.ordering_key != null || row.group_key != null ? queueConfig(conn, row.queue) : null;
    if (config && row.group_key != null && row.state === 'queued' && row.hold === HOLD_NONE) {
      fillGroupSlots(conn, row.queue, row.group_key, config);
      ctx.wake(row.queue);
    }
    if (config && row.ordering_key != null) {
      ensureOrderingHead(conn, row.queue, row.ordering_key, config);
      ctx.wake(row.queue);
    }
    return { id, ok: true, state: 'cancelled' };
  });
  insertDeliveries(ctx, finished);
  return results;
}

/** Put dead jobs back to `queued` with a fresh attempt budget; recorded in each job's history. */
export function replayDead(ctx: TxContext, params: JobReplayParams): { count: number; ids: string[] } {
  const { conn, now } = ctx;
  const config = queueConfig(conn, params.queue);
  if (!config) return { count: 0, ids: [] };
  let rows: GateRow[];
  if (params.ids) {
    const select = conn.stmt(`SELECT ${GATE_COLUMNS} FROM jobs WHERE id = ? AND queue = ? AND state = 'dead'`);
    // An id listed twice is replayed once (counting it twice drove the dead counter negative).
    rows = [...new Set(params.ids)].map((id) => select.get(id, params.queue) as GateRow | undefined).filter((r): r is GateRow => !!r);
  } else if (params.all) {
    rows = conn
      .stmt(`SELECT ${GATE_COLUMNS} FROM jobs WHERE queue = ? AND state = 'dead' ORDER BY seq LIMIT ?`)
      .all(params.queue, params.limit ?? 1000) as GateRow[];
  } else {
    rows = [];
  }
  if (params.dryRun) return { count: rows.length, ids: rows.map((r) => r.id) };

  const aging = agingSecondsOf(config);
  const block = onDeadOf(config) === 'block';
  const update = conn.stmt(
    `UPDATE jobs SET state = 'queued', attempts = 0, run_at = @now, finished_at = NULL, started_at = NULL,
       prank = @prank, sort_at = @sortAt, hold = @hold, okey_seq = coalesce(@okeySeq, okey_seq),
       history = history || @event
     WHERE seq = @seq AND state = 'dead'`,
  );
  for (const row of rows) {
    const order = claimOrder(priorityFromTier(row.priority), now, aging);
    let hold = HOLD_NONE;
    let okeySeq: number | null = null;
    if (row.ordering_key != null) {
      hold = HOLD_ORDERING;
      // Under `block` the replayed job keeps its place (it is what the key waits for); under `continue`
      // later jobs went ahead, so it rejoins at the end of its key.
      if (!block) okeySeq = nextOrderingSeq(conn);
    } else if (row.group_key != null) {
      hold = groupHoldFor(conn, row.queue, row.group_key, config, { prank: order.rank, sort_at: order.sortAt });
    }
    update.run({
      now,
      prank: order.rank,
      sortAt: order.sortAt,
      hold,
      okeySeq,
      seq: row.seq,
      event: `,${historyEvent('queued', now, 0, { reason: 'replay' })}`,
    });
    if (row.ordering_key != null) ensureOrderingHead(conn, row.queue, row.ordering_key, config);
    ctx.count(row.queue, 'dead', -1);
    ctx.count(row.queue, 'queued', 1);
    ctx.count(row.queue, 'total:replayed', 1);
  }
  if (rows.length > 0) ctx.wake(params.queue);
  return { count: rows.length, ids: rows.map((r) => r.id) };
}

export function deleteDead(ctx: TxContext, queue: string, id: string): boolean {
  const row = ctx.conn
    .stmt(`DELETE FROM jobs WHERE id = ? AND queue = ? AND state = 'dead' RETURNING ordering_key`)
    .get(id, queue) as { ordering_key: string | null } | undefined;
  if (!row) return false;
  ctx.conn.stmt('DELETE FROM job_steps WHERE job_id = ?').run(id);
  ctx.count(queue, 'dead', -1);
  if (row.ordering_key != null) {
    const config = queueConfig(ctx.conn, queue);
    if (config) ensureOrderingHead(ctx.conn, queue, row.ordering_key, config);
    ctx.wake(queue);
  }
  return true;
}

/** scheduled/retrying jobs whose time has come → queued (in runAt order, at most `limit`). */
export function promoteDue(ctx: TxContext, limit: number): { count: number; queues: string[] } {
  const { conn, now } = ctx;
  const rows = conn
    .stmt(
      `SELECT ${GATE_COLUMNS}, run_at FROM jobs WHERE state IN ('scheduled', 'retrying') AND run_at <= ?
       ORDER BY run_at LIMIT ?`,
    )
    .all(now, limit) as Array<GateRow & { run_at: number }>;
  return promoteRows(ctx, rows);
}

/** These jobs, if they are `retrying` and due, → queued (the claim-side lease takeover, lease-takeover.ts). */
export function promoteDueIds(ctx: TxContext, ids: readonly string[]): void {
  if (ids.length === 0) return;
  const rows = ctx.conn
    .stmt(`SELECT ${GATE_COLUMNS}, run_at FROM jobs WHERE id IN (SELECT value FROM json_each(?)) AND state = 'retrying' AND run_at <= ?`)
    .all(JSON.stringify(ids), ctx.now) as Array<GateRow & { run_at: number }>;
  promoteRows(ctx, rows);
}

function promoteRows(ctx: TxContext, rows: ReadonlyArray<GateRow & { run_at: number }>): { count: number; queues: string[] } {
  const { conn, now } = ctx;
  const update = conn.stmt(
    `UPDATE jobs SET state = 'queued', prank = @prank, sort_at = @sortAt, hold = @hold, history = history || @event
     WHERE seq = @seq AND state = @state`,
  );
  const queues = new Set<string>();
  for (const row of rows) {
    const config = queueConfig(conn, row.queue);
    if (!config) continue;
    const order = claimOrder(priorityFromTier(row.priority), row.run_at, agingSecondsOf(config));
    let hold = row.hold === HOLD_ORDERING ? HOLD_ORDERING : HOLD_NONE;
    if (hold === HOLD_NONE && row.group_key != null) {
      hold = groupHoldFor(conn, row.queue, row.group_key, config, { prank: order.rank, sort_at: order.sortAt });
    }
    update.run({
      prank: order.rank,
      sortAt: order.sortAt,
      hold,
      seq: row.seq,
      state: row.state,
      event: `,${historyEvent('queued', now, row.attempts, { reason: 'due' })}`,
    });
    ctx.count(row.queue, row.state, -1);
    ctx.count(row.queue, 'queued', 1);
    queues.add(row.queue);
    ctx.wake(row.queue);
  }
  return { count: rows.length, queues: [...queues] };
}

/**
 * Retention: delete finished jobs older than their queue's retention; at most `limit` rows per call. Answers
 * the ids of deleted jobs whose payload was a blob: the store unlinks those files once this commits.
 */
export function deleteExpired(ctx: TxContext, limit: number): { deleted: number; blobIds: string[] } {
  const { conn, now } = ctx;
  const queues = conn.stmt('SELECT name, config FROM queues').all() as Array<{ name: string; config: string }>;
  let deleted = 0;
  const blobIds: string[] = [];
  const delSteps = conn.stmt('DELETE FROM job_steps WHERE job_id = ?');
  for (const q of queues) {
    if (deleted >= limit) break;
    const config = queueConfig(conn, q.name);
    if (!config) continue;
    const retention = retentionOf(config);
    const passes: Array<[string, number]> = [
      [`state IN ('completed', 'cancelled')`, now - retention.completedSeconds * 1000],
      [`state = 'dead'`, now - retention.deadSeconds * 1000],
    ];
    for (const [stateCond, cutoff] of passes) {
      if (deleted >= limit) break;
      const rows = conn
        .stmt(
          `DELETE FROM jobs WHERE seq IN (
             SELECT seq FROM jobs WHERE queue = ? AND finished_at IS NOT NULL AND finished_at < ? AND ${stateCond}
             ORDER BY finished_at LIMIT ?)
           RETURNING id, state, ordering_key, substr(payload, 1, 6) = '@blob:' AS blob`,
        )
        .all(q.name, cutoff, limit - deleted) as Array<{ id: string; state: JobState; ordering_key: string | null; blob: number }>;
      const keys = new Set<string>();
      for (const r of rows) {
        delSteps.run(r.id);
        if (r.blob === 1) blobIds.push(r.id);
        ctx.count(q.name, r.state, -1);
        if (r.state === 'dead' && r.ordering_key != null) keys.add(r.ordering_key);
      }
      for (const key of keys) ensureOrderingHead(conn, q.name, key, config);
      if (keys.size > 0) ctx.wake(q.name);
      deleted += rows.length;
    }
  }
  return { deleted, blobIds };
}

export function deleteExpiredIdempotencyKeys(ctx: TxContext, limit: number): number {
  return ctx.conn
    .stmt(
      `DELETE FROM idempotency_keys WHERE (queue, key) IN (
         SELECT queue, key FROM idempotency_keys WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)`,
    )
    .run(ctx.now, limit).changes;
}
