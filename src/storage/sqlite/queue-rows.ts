/** Queue rows: lookups with a parse cache (configs are read inside most write operations). */
import type { QueueConfig } from '../../core/queue-config.js';
import type { QueueRecord } from '../store.js';
import type { Conn } from './connection.js';
import { parseConfig } from '../job-rows.js';

export interface QueueRow {
  name: string;
  config: string;
  paused: number;
  created_at: number;
  updated_at: number;
}

export function queueRow(conn: Conn, name: string): QueueRow | undefined {
  return conn.stmt('SELECT name, config, paused, created_at, updated_at FROM queues WHERE name = ?').get(name) as
    | QueueRow
    | undefined;
}

export function queueConfig(conn: Conn, name: string): QueueConfig | null {
  const row = queueRow(conn, name);
  return row ? parseConfig(row.config) : null;
}

export function rowToQueue(row: QueueRow): QueueRecord {
  return {
    name: row.name,
    config: parseConfig(row.config),
    paused: row.paused === 1,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}
