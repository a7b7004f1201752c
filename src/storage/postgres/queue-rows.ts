/** Row ⇄ domain mapping for the PostgreSQL queues table (jobs rows and history: ../job-rows.ts). */
import type { QueueRecord } from '../store.js';
import { parseConfig } from '../job-rows.js';
import { decodeWebhookState } from '../../core/webhooks.js';

export interface QueueRow {
  name: string;
  config: string;
  paused: boolean;
  created_at: number;
  updated_at: number;
  webhook_state: string | null;
}

export const QUEUE_COLUMNS = 'name, config, paused, created_at, updated_at, webhook_state';

export function rowToQueue(row: QueueRow): QueueRecord {
  return {
    name: row.name,
    config: parseConfig(row.config),
    paused: row.paused,
    webhookState: decodeWebhookState(row.webhook_state),
    createdAt: new Date(Number(row.created_at)),
    updatedAt: new Date(Number(row.updated_at)),
  };
}
