/**
 * Ordering-key and group-key gates for SQLite.
 *
 * A job is claimable only when `state = 'queued' AND hold = 0` (the jobs_claim index holds exactly those).
 * `hold` is a small state of its own, independent of the job state:
 *   HOLD_NONE     0  the job may run when due
 *   HOLD_ORDERING 1  a job with the same (queue, orderingKey) is ahead of it
 *   HOLD_GROUP    2  its group already uses all `groups.concurrency` slots
 * A job never carries both: the group gate is applied only once the ordering gate is open.
 *
 * Ordering invariant: among a key's live jobs (scheduled, queued, active, retrying) at most one has
 * hold != HOLD_ORDERING — the head — and it is the one with the smallest `okey_seq` (enqueue order). A
 * retrying head stays the head, so later jobs wait while it retries. When the head dies the key either moves
 * on (`ordering.onDead = continue`) or stays blocked while a dead job of the key exists (`block`). Batched
 * claims and prefetch cannot take two jobs of one key: only the head is ever in the claim index.
 *
 * Group invariant: for a queue with `groups.concurrency = N`, the jobs of one group that are active or
 * queued with hold = 0 ("slot holders") number at most N, counted with the jobs_group_slots index (at most N
 * rows per group, whatever the group's backlog). Held jobs (HOLD_GROUP) get a slot when one frees, best
 * priority first; a better-ranked arrival takes the slot of the worst queued slot holder, so due critical
 * work is not stuck behind queued low-priority work of its own group.
 *
 * Every helper runs inside the caller's write transaction (SQLite has one writer, so reads here are stable).
 */
import { onDeadOf, type QueueConfig } from '../../core/queue-config.js';
import type { Conn } from './connection.js';

export const HOLD_NONE = 0;
export const HOLD_ORDERING = 1;
export const HOLD_GROUP = 2;

const LIVE = `('scheduled', 'queued', 'active', 'retrying')`;

export function nextOrderingSeq(conn: Conn): number {
  const row = conn
    .stmt(
      `INSERT INTO spool_sequences (name, value) VALUES ('okey', 1)
       ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value`,
    )
    .get() as { value: number };
  return row.value;
}

/**
 * Make sure the key has a head if it may have one: no live job is open, the key is not blocked by a dead
 * job, and a live job waits → open the earliest. Idempotent; call after any job of the key enters or
 * leaves the live states.
 */
export function ensureOrderingHead(conn: Conn, queue: string, key: string, config: QueueConfig): void {
  const open = conn
    .stmt(`SELECT 1 FROM jobs WHERE queue = ? AND ordering_key = ? AND hold != ${HOLD_ORDERING} AND state IN ${LIVE} LIMIT 1`)
    .get(queue, key);
  if (open) return;
  if (onDeadOf(config) === 'block') {
    const dead = conn.stmt(`SELECT 1 FROM jobs WHERE queue = ? AND ordering_key = ? AND state = 'dead' LIMIT 1`).get(queue, key);
    if (dead) return;
  }
  const next = conn
    .stmt(
      `SELECT seq, state, group_key, prank, sort_at FROM jobs
       WHERE queue = ? AND ordering_key = ? AND state IN ${LIVE} ORDER BY okey_seq LIMIT 1`,
    )
    .get(queue, key) as { seq: number; state: string; group_key: string | null; prank: number; sort_at: number } | undefined;
  if (!next) return;
  const hold =
    next.state === 'queued' && next.group_key != null ? groupHoldFor(conn, queue, next.group_key, config, next) : HOLD_NONE;
  conn.stmt('UPDATE jobs SET hold = ? WHERE seq = ?').run(hold, next.seq);
}

function groupLimit(config: QueueConfig): number | null {
  return config.groups?.concurrency ?? null;
}

/**
 * The hold a job entering `queued` (with its ordering gate open) gets from its group: HOLD_NONE when a slot
 * is free or it outranks a queued slot holder (which is then demoted), else HOLD_GROUP.
 */
export function groupHoldFor(
  conn: Conn,
  queue: string,
  group: string,
  config: QueueConfig,
  rank: { prank: number; sort_at: number },
): number {
  const limit = groupLimit(config);
  if (limit == null) return HOLD_NONE;
  const holders = conn
    .stmt(
      `SELECT seq, state, prank, sort_at FROM jobs
       WHERE queue = ? AND group_key = ? AND (state = 'active' OR (state = 'queued' AND hold = 0))`,
    )
    .all(queue, group) as Array<{ seq: number; state: string; prank: number; sort_at: number }>;
  if (holders.length < limit) return HOLD_NONE;
  let worst: { seq: number; prank: number; sort_at: number } | undefined;
  for (const h of holders) {
    if (h.state !== 'queued') continue;
    if (!worst || h.prank > worst.prank || (h.prank === worst.prank && (h.sort_at > worst.sort_at || (h.sort_at === worst.sort_at && h.seq > worst.seq)))) {
      worst = h;
    }
  }
  if (worst && (rank.prank < worst.prank || (rank.prank === worst.prank && rank.sort_at < worst.sort_at))) {
    conn.stmt(`UPDATE jobs SET hold = ${HOLD_GROUP} WHERE seq = ?`).run(worst.seq);
    return HOLD_NONE;
  }
  return HOLD_GROUP;
}

/** After a slot holder of the group left (finished, failed, cancelled): hand free slots to held jobs. */
export function fillGroupSlots(conn: Conn, queue: string, group: string, config: QueueConfig): number {
  const limit = groupLimit(config);
  if (limit == null) {
    // Limit removed: release everything held by the group gate.
    return conn.stmt(`UPDATE jobs SET hold = 0 WHERE queue = ? AND group_key = ? AND state = 'queued' AND hold = ${HOLD_GROUP}`).run(queue, group)
      .changes;
  }
  const used = (
    conn
      .stmt(
        `SELECT count(*) AS n FROM jobs
         WHERE queue = ? AND group_key = ? AND (state = 'active' OR (state = 'queued' AND hold = 0))`,
      )
      .get(queue, group) as { n: number }
  ).n;
  const free = limit - used;
  if (free <= 0) return 0;
  return conn
    .stmt(
      `UPDATE jobs SET hold = 0 WHERE seq IN (
         SELECT seq FROM jobs WHERE queue = ? AND group_key = ? AND state = 'queued' AND hold = ${HOLD_GROUP}
         ORDER BY prank, sort_at, seq LIMIT ?)`,
    )
    .run(queue, group, free).changes;
}

/** Groups of a queue with jobs waiting on the group gate (after a config change raised or removed a limit). */
export function heldGroups(conn: Conn, queue: string): string[] {
  return (
    conn.stmt(`SELECT DISTINCT group_key FROM jobs WHERE queue = ? AND group_key IS NOT NULL AND state = 'queued' AND hold = ${HOLD_GROUP}`).all(queue) as Array<{
      group_key: string;
    }>
  ).map((r) => r.group_key);
}

/** Ordering keys of a queue that have dead jobs (after onDead changed from block to continue). */
export function deadOrderingKeys(conn: Conn, queue: string): string[] {
  return (
    conn.stmt(`SELECT DISTINCT ordering_key FROM jobs WHERE queue = ? AND ordering_key IS NOT NULL AND state = 'dead'`).all(queue) as Array<{
      ordering_key: string;
    }>
  ).map((r) => r.ordering_key);
}
