/**
 * queueStatsGet for PostgreSQL: counts and totals are the folded `queue_counters` plus the SUM of the
 * `counter_deltas` rows not folded yet (never a scan of the jobs table); the oldest waiting job per queue
 * comes from the jobs_waiting_age partial index.
 */
import type { QueueStats } from '../store.js';
import { statsFromCounters } from '../stats-rows.js';
import { nowSql } from './job-writes.js';

export type ReadFn = <R extends object>(sql: string, params: unknown[]) => Promise<R[]>;

export async function readQueueStats(read: ReadFn, names: readonly string[], clockNow: number | null): Promise<QueueStats[]> {
  if (names.length === 0) return [];
  const [counters, oldest] = await Promise.all([
    read<{ queue: string; name: string; value: number }>(
      `SELECT queue, name, sum(value)::bigint AS value FROM (
         SELECT queue, name, value FROM queue_counters WHERE queue = ANY($1::text[])
         UNION ALL
         SELECT queue, name, delta FROM counter_deltas WHERE queue = ANY($1::text[])) AS c
       GROUP BY queue, name`,
      [names],
    ),
    read<{ queue: string; t: number | null; now: number }>(
      `SELECT q AS queue, (SELECT min(run_at) FROM jobs WHERE queue = q AND state = 'queued') AS t, ${nowSql('$2')} AS now
       FROM unnest($1::text[]) AS q`,
      [names, clockNow],
    ),
  ]);
  const values = new Map<string, Map<string, number>>();
  for (const c of counters) {
    let q = values.get(c.queue);
    if (!q) values.set(c.queue, (q = new Map()));
    q.set(c.name, Number(c.value));
  }
  const ages = new Map(oldest.map((o) => [o.queue, o.t == null ? 0 : Math.max(0, (Number(o.now) - Number(o.t)) / 1000)]));
  return names.map((queue) => statsFromCounters(queue, values.get(queue) ?? new Map<string, number>(), ages.get(queue) ?? 0));
}
