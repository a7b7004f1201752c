/**
 * `queue_samples` on SQLite: the stats sampler's rows (insert, read at given instants, prune). Each instant is
 * one primary-key seek (`(queue, at)` descending from the instant), so a 1,000-point series costs 1,001 seeks
 * however many samples lie between the points.
 */
import type { QueueSample, QueueStats } from '../store.js';
import { rowToSample, SAMPLE_COLUMNS, sampleValues, type SampleRow } from '../stats-rows.js';
import type { Conn } from './connection.js';

const COLUMNS = SAMPLE_COLUMNS.join(', ');

export function insertSamples(conn: Conn, at: number, samples: readonly QueueStats[]): void {
  const insert = conn.stmt(`INSERT OR REPLACE INTO queue_samples (${COLUMNS}) VALUES (${SAMPLE_COLUMNS.map(() => '?').join(', ')})`);
  for (const s of samples) insert.run(sampleValues(s, at));
}

export function samplesAt(conn: Conn, queue: string, at: readonly number[], lookbackMs: number): Array<QueueSample | null> {
  const latest = conn.stmt(`SELECT ${COLUMNS} FROM queue_samples WHERE queue = ? AND at <= ? AND at > ? ORDER BY at DESC LIMIT 1`);
  return at.map((t) => {
    const row = latest.get(queue, t, t - lookbackMs) as SampleRow | undefined;
    return row ? rowToSample(row) : null;
  });
}

export function deleteExpiredSamples(conn: Conn, before: number, limit: number): number {
  return conn
    .stmt('DELETE FROM queue_samples WHERE (queue, at) IN (SELECT queue, at FROM queue_samples WHERE at < ? ORDER BY at LIMIT ?)')
    .run(before, limit).changes;
}
