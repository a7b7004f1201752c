/** `--config FILE`: a JSON file declaring queues: `{ "queues": { "emails": { "maxAttempts": 3 } } }`. */
import { readFile } from 'node:fs/promises';
import type { Spool } from '../spool.js';
import type { QueueConfig } from '../core/queue-config.js';
import { UsageError } from './shared.js';

export async function loadConfigFile(spool: Spool, path: string): Promise<void> {
  let config: { queues?: Record<string, QueueConfig> };
  try {
    config = JSON.parse(await readFile(path, 'utf8')) as typeof config;
  } catch (error) {
    throw new UsageError(`cannot read config ${path}: ${(error as Error).message}`);
  }
  if (!config || typeof config !== 'object' || Array.isArray(config)) throw new UsageError(`config ${path} must be a JSON object`);
  for (const key of Object.keys(config)) if (key !== 'queues') throw new UsageError(`config ${path}: unknown key "${key}"`);
  for (const [name, qc] of Object.entries(config.queues ?? {})) await spool.declareQueue(name, qc);
}
