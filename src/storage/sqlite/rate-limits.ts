/**
 * Rate-limited claims for SQLite (the design is in ../rate-limits.ts): which jobs a claim on a rate-limited
 * queue may take, with the token buckets refilled and spent in the claim's transaction. SQLite has one writer,
 * so the buckets need no locks; the statements are the same shape as PostgreSQL's, which locks the bucket rows.
 * Called by job-writes.ts `claimJobs` only when the queue row carries a limit.
 */
import {
  BUCKET_SWEEP_MS,
  burstOf,
  candidateLimit,
  MAX_CLAIM_ROUNDS,
  QUEUE_BUCKET,
  takeWithinGroupTokens,
  wholeTokens,
  type Candidate,
  type RateLimits,
} from '../rate-limits.js';
import type { Conn } from './connection.js';
import type { TxContext } from './write-coalescer.js';

/** Refill a bucket to now (creating it full) and return its balance. */
function refill(conn: Conn, now: number, queue: string, key: string, perSecond: number): number {
  const row = conn
    .stmt(
      `INSERT INTO rate_buckets (queue, group_key, tokens, at) VALUES (@queue, @key, @burst, @now)
       ON CONFLICT (queue, group_key) DO UPDATE SET
         tokens = min(@burst, tokens + max(0, @now - at) * @rate / 1000.0), at = max(at, @now)
       RETURNING tokens`,
    )
    .get({ queue, key, burst: burstOf(perSecond), now, rate: perSecond }) as { tokens: number };
  return row.tokens;
}

function spend(conn: Conn, queue: string, key: string, n: number): void {
  if (n > 0) conn.stmt('UPDATE rate_buckets SET tokens = tokens - ? WHERE queue = ? AND group_key = ?').run(n, queue, key);
}

const lastSweep = new WeakMap<Conn, Map<string, number>>();

/**
 * The seqs a claim of at most `max` jobs may lease, in claim order, with the tokens already spent. The caller
 * leases exactly these (they are queued and gate-open: nothing else writes in between on SQLite).
 */
export function pickRateLimited(ctx: TxContext, queue: string, max: number, limits: RateLimits): number[] {
  const { conn, now } = ctx;
  let room = max;
  if (limits.queue !== null) room = Math.min(room, wholeTokens(refill(conn, now, queue, QUEUE_BUCKET, limits.queue)));
  if (room <= 0) return [];

  let seqs: number[];
  if (limits.group === null) {
    seqs = (
      conn
        .stmt(`SELECT seq FROM jobs WHERE queue = ? AND state = 'queued' AND hold = 0 ORDER BY prank, sort_at, seq LIMIT ?`)
        .all(queue, room) as Array<{ seq: number }>
    ).map((r) => r.seq);
  } else {
    seqs = pickWithinGroups(ctx, queue, room, limits.group);
  }
  if (limits.queue !== null) spend(conn, queue, QUEUE_BUCKET, seqs.length);
  return seqs;
}

function pickWithinGroups(ctx: TxContext, queue: string, room: number, groupRate: number): number[] {
  const { conn, now } = ctx;
  // Groups whose bucket is below one token now: their jobs are stepped over in the candidate read itself.
  const skip = new Set(
    (
      conn
        .stmt(`SELECT group_key FROM rate_buckets WHERE queue = ? AND group_key <> '' AND tokens + max(0, ? - at) * ? / 1000.0 < 1`)
        .all(queue, now, groupRate) as Array<{ group_key: string }>
    ).map((r) => r.group_key),
  );
  const tokens = new Map<string, number>();
  const spent = new Map<string, number>();
  const taken: number[] = [];
  const candidates = conn.stmt(
    `SELECT seq, group_key AS groupKey FROM jobs
     WHERE queue = @queue AND state = 'queued' AND hold = 0
       AND (group_key IS NULL OR group_key NOT IN (SELECT value FROM json_each(@skip)))
       AND seq NOT IN (SELECT value FROM json_each(@taken))
     ORDER BY prank, sort_at, seq LIMIT @limit`,
  );
  for (let round = 0; round < MAX_CLAIM_ROUNDS && taken.length < room; round++) {
    const limit = candidateLimit(room - taken.length);
    const rows = candidates.all({ queue, skip: JSON.stringify([...skip]), taken: JSON.stringify(taken), limit }) as Candidate[];
    if (rows.length === 0) break;
    for (const r of rows) {
      if (r.groupKey !== null && !tokens.has(r.groupKey)) tokens.set(r.groupKey, refill(conn, now, queue, r.groupKey, groupRate));
    }
    const round_ = takeWithinGroupTokens(rows, tokens, skip, room - taken.length);
    for (const c of round_.taken) taken.push(c.seq);
    for (const [g, n] of round_.spent) spent.set(g, (spent.get(g) ?? 0) + n);
    if (rows.length < limit) break;
  }
  for (const [g, n] of spent) spend(conn, queue, g, n);
  sweepFullBuckets(ctx, queue, groupRate);
  return taken;
}

/** A full group bucket is the same as none: drop them now and then, so the table holds only recently busy groups. */
function sweepFullBuckets(ctx: TxContext, queue: string, groupRate: number): void {
  let byQueue = lastSweep.get(ctx.conn);
  if (!byQueue) lastSweep.set(ctx.conn, (byQueue = new Map()));
  const last = byQueue.get(queue);
  if (last !== undefined && ctx.now - last < BUCKET_SWEEP_MS && ctx.now >= last) return;
  byQueue.set(queue, ctx.now);
  ctx.conn
    .stmt(`DELETE FROM rate_buckets WHERE queue = ? AND group_key <> '' AND tokens + max(0, ? - at) * ? / 1000.0 >= ?`)
    .run(queue, ctx.now, groupRate, burstOf(groupRate));
}
