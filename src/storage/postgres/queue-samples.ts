/**
 * `queue_samples` on PostgreSQL: the stats sampler's rows (insert, read at given instants, prune).
 * Differs from the SQLite version in that the instants travel as one array and each is answered by a LATERAL
 * primary-key seek in a single statement (one round trip for a 1,000-point series), and samples are
 * written with one multi-row INSERT … ON CONFLICT.
 */
import type { QueueSample, QueueStats } from '../store.js';
import { rowToSample, SAMPLE_COLUMNS, sampleValues, type SampleRow } from '../stats-rows.js';
import type { ReadFn } from './queue-stats.js';
import type { TxContext } from './tx-context.js';

const COLUMNS = SAMPLE_COLUMNS.join(', ');
const TYPES = SAMPLE_COLUMNS.map((c) => (c === 'queue' || c.endsWith('_buckets') ? 'text[]' : 'bigint[]'));

export async function insertSamples(ctx: TxContext, samples: readonly QueueStats[]): Promise<void> {
  if (samples.length === 0) return;
  const rows = samples.map((s) => sampleValues(s, ctx.now));
  const columns = SAMPLE_COLUMNS.map((_, c) => rows.map((r) => r[c]));
  await ctx.query(
    `INSERT INTO queue_samples (${COLUMNS})
     SELECT * FROM unnest(${TYPES.map((t, i) => `$${i + 1}::${t}`).join(', ')})
     ON CONFLICT (queue, at) DO UPDATE SET ${SAMPLE_COLUMNS.filter((c) => c !== 'queue' && c !== 'at')
       .map((c) => `${c} = excluded.${c}`)
       .join(', ')}`,
    columns,
  );
}

export async function samplesAt(read: ReadFn, queue: string, at: readonly number[], lookbackMs: number): Promise<Array<QueueSample | null>> {
  if (at.length === 0) return [];
  const rows = await read<SampleRow & { i: string }>(
    `SELECT b.i, s.* FROM unnest($2::bigint[]) WITH ORDINALITY AS b(t, i)
     CROSS JOIN LATERAL (
       SELECT ${COLUMNS} FROM queue_samples WHERE queue = $1 AND at <= b.t AND at > b.t - $3::bigint ORDER BY at DESC LIMIT 1) AS s`,
    [queue, at, lookbackMs],
  );
  const out: Array<QueueSample | null> = at.map(() => null);
  for (const r of rows) out[Number(r.i) - 1] = rowToSample(r);
  return out;
}

export async function deleteExpiredSamples(ctx: TxContext, olderThanMs: number, limit: number): Promise<number> {
  const rows = await ctx.query(
    `DELETE FROM queue_samples WHERE (queue, at) IN (
       SELECT queue, at FROM queue_samples WHERE at < $1::bigint ORDER BY at LIMIT $2) RETURNING 1`,
    [ctx.now - olderThanMs, limit],
  );
  return rows.length;
}
