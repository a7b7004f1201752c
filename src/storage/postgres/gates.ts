/**
 * Ordering-key and group-key gates for PostgreSQL: the same states and invariants as SQLite's gates
 * (src/storage/sqlite/gates.ts; hold 0 = may run, 1 = behind its ordering key's head, 2 = its group is full).
 *
 * Differs from the SQLite version in that several transactions run at once: each helper first takes the
 * transaction-scoped advisory lock of the key or group it reads (TxContext.lockGate), so two transactions
 * cannot both open a head for one key or both take the last slot of a group. A statement run after the lock
 * is granted sees every commit made under it (READ COMMITTED takes a snapshot per statement).
 */
import { onDeadOf, type QueueConfig } from '../../core/queue-config.js';
import type { TxContext } from './tx-context.js';

export const HOLD_NONE = 0;
export const HOLD_ORDERING = 1;
export const HOLD_GROUP = 2;

const LIVE = `('scheduled', 'queued', 'active', 'retrying')`;

/**
 * Make sure the key has a head if it may have one: no live job is open, the key is not blocked by a dead
 * job, and a live job waits → open the earliest. Idempotent; call after any job of the key enters or
 * leaves the live states.
 */
export async function ensureOrderingHead(ctx: TxContext, queue: string, key: string, config: QueueConfig): Promise<void> {
  await ctx.lockGate(queue, 'o', key);
  const block = onDeadOf(config) === 'block';
  // One round trip: is a head open, is the key blocked, and which live job is next.
  const row = await ctx.queryOne<{ open: boolean; dead: boolean; seq: number | null; state: string | null; group_key: string | null; prank: number | null; sort_at: number | null }>(
    `SELECT
       EXISTS (SELECT 1 FROM jobs WHERE queue = $1 AND ordering_key = $2 AND hold <> ${HOLD_ORDERING} AND state IN ${LIVE}) AS open,
       ($3::boolean AND EXISTS (SELECT 1 FROM jobs WHERE queue = $1 AND ordering_key = $2 AND state = 'dead')) AS dead,
       n.seq, n.state, n.group_key, n.prank, n.sort_at
     FROM (SELECT 1) AS one LEFT JOIN LATERAL (
       SELECT seq, state, group_key, prank, sort_at FROM jobs
       WHERE queue = $1 AND ordering_key = $2 AND state IN ${LIVE} ORDER BY okey_seq LIMIT 1) AS n ON true`,
    [queue, key, block],
  );
  if (!row || row.open || row.dead || row.seq == null) return;
  const hold =
    row.state === 'queued' && row.group_key != null
      ? await groupHoldFor(ctx, queue, row.group_key, config, { prank: Number(row.prank), sort_at: Number(row.sort_at) })
      : HOLD_NONE;
  await ctx.query('UPDATE jobs SET hold = $1 WHERE seq = $2', [hold, row.seq]);
}

function groupLimit(config: QueueConfig): number | null {
  return config.groups?.concurrency ?? null;
}

/**
 * The hold a job entering `queued` (with its ordering gate open) gets from its group: HOLD_NONE when a slot
 * is free or it outranks a queued slot holder (which is then demoted), else HOLD_GROUP.
 */
export async function groupHoldFor(
  ctx: TxContext,
  queue: string,
  group: string,
  config: QueueConfig,
  rank: { prank: number; sort_at: number },
): Promise<number> {
  const limit = groupLimit(config);
  if (limit == null) return HOLD_NONE;
  await ctx.lockGate(queue, 'g', group);
  // Number(): a caller's `tx` client reads BIGINT as strings.
  const holders = (
    await ctx.query<{ seq: number; state: string; prank: number; sort_at: number }>(
      `SELECT seq, state, prank, sort_at FROM jobs
       WHERE queue = $1 AND group_key = $2 AND (state = 'active' OR (state = 'queued' AND hold = 0))`,
      [queue, group],
    )
  ).map((h) => ({ seq: Number(h.seq), state: h.state, prank: Number(h.prank), sort_at: Number(h.sort_at) }));
  if (holders.length < limit) return HOLD_NONE;
  let worst: { seq: number; prank: number; sort_at: number } | undefined;
  for (const h of holders) {
    if (h.state !== 'queued') continue;
    if (!worst || h.prank > worst.prank || (h.prank === worst.prank && (h.sort_at > worst.sort_at || (h.sort_at === worst.sort_at && h.seq > worst.seq)))) {
      worst = h;
    }
  }
  if (worst && (rank.prank < worst.prank || (rank.prank === worst.prank && rank.sort_at < worst.sort_at))) {
    // A claim may have taken the holder meanwhile (claims take no gate lock): then it keeps its slot.
    const demoted = await ctx.query(`UPDATE jobs SET hold = ${HOLD_GROUP} WHERE seq = $1 AND state = 'queued' AND hold = 0 RETURNING seq`, [worst.seq]);
    return demoted.length === 1 ? HOLD_NONE : HOLD_GROUP;
  }
  return HOLD_GROUP;
}

/** After a slot holder of the group left (finished, failed, cancelled): hand free slots to held jobs. */
export async function fillGroupSlots(ctx: TxContext, queue: string, group: string, config: QueueConfig): Promise<number> {
  const limit = groupLimit(config);
  await ctx.lockGate(queue, 'g', group);
  if (limit == null) {
    // Limit removed: release everything held by the group gate.
    const rows = await ctx.query(
      `UPDATE jobs SET hold = 0 WHERE queue = $1 AND group_key = $2 AND state = 'queued' AND hold = ${HOLD_GROUP} RETURNING seq`,
      [queue, group],
    );
    return rows.length;
  }
  const rows = await ctx.query(
    `WITH used AS (
       SELECT count(*) AS n FROM jobs WHERE queue = $1 AND group_key = $2 AND (state = 'active' OR (state = 'queued' AND hold = 0)))
     UPDATE jobs SET hold = 0 WHERE seq IN (
       SELECT seq FROM jobs WHERE queue = $1 AND group_key = $2 AND state = 'queued' AND hold = ${HOLD_GROUP}
       ORDER BY prank, sort_at, seq LIMIT greatest(0, $3 - (SELECT n FROM used)))
     RETURNING seq`,
    [queue, group, limit],
  );
  return rows.length;
}

/** Groups of a queue with jobs waiting on the group gate (after a config change raised or removed a limit). */
export async function heldGroups(ctx: TxContext, queue: string): Promise<string[]> {
  const rows = await ctx.query<{ group_key: string }>(
    `SELECT DISTINCT group_key FROM jobs WHERE queue = $1 AND group_key IS NOT NULL AND state = 'queued' AND hold = ${HOLD_GROUP}`,
    [queue],
  );
  return rows.map((r) => r.group_key);
}

/** Ordering keys of a queue that have dead jobs (after onDead changed from block to continue). */
export async function deadOrderingKeys(ctx: TxContext, queue: string): Promise<string[]> {
  const rows = await ctx.query<{ ordering_key: string }>(
    `SELECT DISTINCT ordering_key FROM jobs WHERE queue = $1 AND ordering_key IS NOT NULL AND state = 'dead'`,
    [queue],
  );
  return rows.map((r) => r.ordering_key);
}
