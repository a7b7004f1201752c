/** Queue rows: lookups with a parse cache (configs are read inside most write operations). */
import type { QueueConfig } from '../../core/queue-config.js';
import type { QueueRecord } from '../store.js';
import type { Conn } from './connection.js';
import { parseConfig } from '../job-rows.js';
import { decodeWebhookState } from '../../core/webhooks.js';

export interface QueueRow {
  name: string;
  config: string;
  paused: number;
  created_at: number;
  updated_at: number;
  webhook_state: string | null;
}

export const QUEUE_COLUMNS = 'name, config, paused, created_at, updated_at, webhook_state';

export function queueRow(conn: Conn, name: string): QueueRow | undefined {
  return conn.stmt(`SELECT ${QUEUE_COLUMNS} FROM queues WHERE name = ?`).get(name) as
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
    webhookState: decodeWebhookState(row.webhook_state),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

/** The queue's `webhook` column (url and events; null without a webhook): what completions read per queue. */
export function queueWebhook(conn: Conn, name: string): string | null {
  const row = conn.stmt('SELECT webhook FROM queues WHERE name = ?').get(name) as { webhook: string | null } | undefined;
  return row?.webhook ?? null;
}
