/** Row ⇄ domain mapping for the PostgreSQL queues table (jobs rows and history: ../job-rows.ts). */
import type { QueueRecord } from '../store.js';
import { parseConfig } from '../job-rows.js';

export interface QueueRow {
  name: string;
  config: string;
  paused: boolean;
  created_at: number;
  updated_at: number;
}

export const QUEUE_COLUMNS = 'name, config, paused, created_at, updated_at';

export function rowToQueue(row: QueueRow): QueueRecord {
  return {
    name: row.name,
    config: parseConfig(row.config),
    paused: row.paused,
    createdAt: new Date(Number(row.created_at)),
    updatedAt: new Date(Number(row.updated_at)),
  };
}
