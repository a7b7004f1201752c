/**
 * Rate-limited claims for PostgreSQL (the design is in ../rate-limits.ts). Differs from the SQLite version in
 * that claims on several nodes run concurrently: each bucket is refilled with an upsert whose ON CONFLICT DO
 * UPDATE locks the row until the claim commits, so two claims on one queue (or group) spend its tokens one
 * after the other. Group buckets are locked in key order within a statement; a deadlock between claims that
 * meet the same groups in different rounds is rerun by the write coalescer. Candidates are read
 * `FOR UPDATE SKIP LOCKED`, so a concurrent claim never waits on them, and the lease is fenced on
 * `state = 'queued' AND hold = 0` again. Called by job-writes.ts `claimJobs` only for a limited queue.
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
import type { TxContext } from './tx-context.js';

/** Refill (creating full) and lock these buckets; their balances by key. */
async function refill(ctx: TxContext, queue: string, keys: readonly string[], perSecond: number): Promise<Map<string, number>> {
  const rows = await ctx.query<{ group_key: string; tokens: number }>(
    `INSERT INTO rate_buckets AS b (queue, group_key, tokens, at)
       SELECT $1, k, $3::float8, $4::bigint FROM unnest($2::text[]) AS k ORDER BY k
     ON CONFLICT (queue, group_key) DO UPDATE SET
       tokens = least($3::float8, b.tokens + greatest(0, $4::bigint - b.at) * $5::float8 / 1000.0), at = greatest(b.at, $4::bigint)
     RETURNING group_key, tokens`,
    [queue, [...keys].sort(), burstOf(perSecond), ctx.now, perSecond],
  );
  return new Map(rows.map((r) => [r.group_key, Number(r.tokens)]));
}

async function spend(ctx: TxContext, queue: string, spent: ReadonlyMap<string, number>): Promise<void> {
  const entries = [...spent].filter(([, n]) => n > 0);
  if (entries.length === 0) return;
  await ctx.query(
    `UPDATE rate_buckets AS b SET tokens = b.tokens - s.n
     FROM unnest($2::text[], $3::float8[]) AS s(k, n) WHERE b.queue = $1 AND b.group_key = s.k`,
    [queue, entries.map(([k]) => k), entries.map(([, n]) => n)],
  );
}

const lastSweep = new WeakMap<object, Map<string, number>>();

/**
 * The seqs a claim of at most `max` jobs may lease, in claim order, locked by this transaction, with the
 * tokens they cost already spent. `owner` is the store (the sweep throttle is kept per store).
 */
export async function pickRateLimited(ctx: TxContext, owner: object, queue: string, max: number, limits: RateLimits): Promise<number[]> {
  let room = max;
  if (limits.queue !== null) {
    const balance = (await refill(ctx, queue, [QUEUE_BUCKET], limits.queue)).get(QUEUE_BUCKET) ?? 0;
    room = Math.min(room, wholeTokens(balance));
  }
  if (room <= 0) return [];
  const skip = new Set<string>();
  if (limits.group !== null) {
    const empty = await ctx.query<{ group_key: string }>(
      `SELECT group_key FROM rate_buckets WHERE queue = $1 AND group_key <> '' AND tokens + greatest(0, $2::bigint - at) * $3::float8 / 1000.0 < 1`,
      [queue, ctx.now, limits.group],
    );
    for (const r of empty) skip.add(r.group_key);
  }
  const tokens = new Map<string, number>();
  const spent = new Map<string, number>();
  const taken: number[] = [];
  for (let round = 0; round < MAX_CLAIM_ROUNDS && taken.length < room; round++) {
    const limit = limits.group === null ? room : candidateLimit(room - taken.length);
    const rows = (
      await ctx.query<{ seq: string | number; group_key: string | null }>(
        `SELECT seq, group_key FROM jobs
         WHERE queue = $1 AND state = 'queued' AND hold = 0
           AND (group_key IS NULL OR NOT (group_key = ANY($2::text[])))
           AND NOT (seq = ANY($3::bigint[]))
         ORDER BY prank, sort_at, seq LIMIT $4
         FOR UPDATE SKIP LOCKED`,
        [queue, [...skip], taken, limit],
      )
    ).map((r): Candidate => ({ seq: Number(r.seq), groupKey: r.group_key }));
    if (rows.length === 0) break;
    if (limits.group === null) {
      for (const r of rows) taken.push(r.seq);
      break;
    }
    const unknown = [...new Set(rows.flatMap((r) => (r.groupKey !== null && !tokens.has(r.groupKey) ? [r.groupKey] : [])))];
    if (unknown.length > 0) for (const [k, t] of await refill(ctx, queue, unknown, limits.group)) tokens.set(k, t);
    const picked = takeWithinGroupTokens(rows, tokens, skip, room - taken.length);
    for (const c of picked.taken) taken.push(c.seq);
    for (const [g, n] of picked.spent) spent.set(g, (spent.get(g) ?? 0) + n);
    if (rows.length < limit) break;
  }
  if (limits.queue !== null && taken.length > 0) spent.set(QUEUE_BUCKET, taken.length);
  await spend(ctx, queue, spent);
  if (limits.group !== null) await sweepFullBuckets(ctx, owner, queue, limits.group);
  return taken;
}

/** A full group bucket is the same as none: drop them now and then, so the table holds only recently busy groups. */
async function sweepFullBuckets(ctx: TxContext, owner: object, queue: string, groupRate: number): Promise<void> {
  let byQueue = lastSweep.get(owner);
  if (!byQueue) lastSweep.set(owner, (byQueue = new Map()));
  const last = byQueue.get(queue);
  if (last !== undefined && ctx.now - last < BUCKET_SWEEP_MS && ctx.now >= last) return;
  byQueue.set(queue, ctx.now);
  // SKIP LOCKED: a bucket another claim holds is busy, not full.
  await ctx.query(
    `DELETE FROM rate_buckets WHERE (queue, group_key) IN (
       SELECT queue, group_key FROM rate_buckets
       WHERE queue = $1 AND group_key <> '' AND tokens + greatest(0, $2::bigint - at) * $3::float8 / 1000.0 >= $4::float8
       FOR UPDATE SKIP LOCKED)`,
    [queue, ctx.now, groupRate, burstOf(groupRate)],
  );
}
