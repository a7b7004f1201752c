/**
 * `--config FILE`: a JSON or YAML file (by extension: `.yaml`/`.yml` is YAML, anything else JSON) declaring
 * queues, then topics and schedules (which name those queues), applied at start through the facade in that
 * order — each entry is a create-or-update, so starting twice is harmless — plus the handlers module:
 *
 *   { "queues":    { "emails": { "maxAttempts": 3 }, "audit": {} },
 *     "topics":    { "signups": { "queues": ["emails", "audit"] } },
 *     "schedules": { "digest": { "cron": "0 8 * * MON", "timezone": "Europe/Berlin", "queue": "emails", "payload": {} } },
 *     "keys":      { "ci": { "id": "key_…", "secretSha256": "…", "scopes": ["publish:emails"] } },
 *     "handlers":  "./handlers.js" }
 *
 * `handlers` (a module path, relative to the config file) is returned for the caller to load; `--handlers`
 * and SPOOL_HANDLERS win over it.
 *
 * Keys (server/auth/keys.ts `declare`) are given by their full `token` or by `id` + `secretSha256`, created or
 * updated (audit actor `config`, only when something changed); a key left out of the file is not revoked.
 *
 * An unknown section is a UsageError; a refused entry fails with the engine's own error (e.g. a ValidationError
 * naming the topic or schedule and the field), as a refused queue always has.
 */
import { readFile } from 'node:fs/promises';
import { dirname, extname, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Spool } from '../spool.js';
import type { QueueConfig } from '../core/queue-config.js';
import type { ScheduleConfig } from '../engine/schedules.js';
import type { TopicConfig } from '../engine/topics.js';
import { KeyInputError, KeyRegistry } from '../server/auth/keys.js';
import { UsageError } from './shared.js';

interface ConfigFile {
  queues?: Record<string, QueueConfig>;
  topics?: Record<string, TopicConfig>;
  schedules?: Record<string, ScheduleConfig>;
  keys?: Record<string, Record<string, unknown>>;
  handlers?: string;
}

const SECTIONS = ['queues', 'topics', 'schedules', 'keys'] as const;

/** What the file asks of the caller beyond the store: the handlers module (absolute path), if any. */
export interface LoadedConfig {
  readonly handlers: string | null;
}

export async function loadConfigFile(spool: Spool, path: string): Promise<LoadedConfig> {
  let config: ConfigFile;
  try {
    const text = await readFile(path, 'utf8');
    const yaml = ['.yaml', '.yml'].includes(extname(path).toLowerCase());
    // YAML: one document, duplicate keys refused, no custom tags (the core schema: plain data only).
    config = (yaml ? parseYaml(text, { schema: 'core', uniqueKeys: true, maxAliasCount: 100 }) : JSON.parse(text)) as ConfigFile;
  } catch (error) {
    throw new UsageError(`cannot read config ${path}: ${(error as Error).message.split('\n')[0]}`);
  }
  if (!config || typeof config !== 'object' || Array.isArray(config)) throw new UsageError(`config ${path} must be an object at the top level`);
  let handlers: string | null = null;
  if (config.handlers !== undefined) {
    if (typeof config.handlers !== 'string' || config.handlers.length === 0) throw new UsageError(`config ${path}: "handlers" must be a module path`);
    handlers = resolve(dirname(path), config.handlers);
  }
  for (const key of Object.keys(config)) {
    if (key === 'handlers') continue;
    if (!(SECTIONS as readonly string[]).includes(key)) throw new UsageError(`config ${path}: unknown key "${key}"`);
    const section: unknown = config[key as keyof ConfigFile];
    if (!section || typeof section !== 'object' || Array.isArray(section)) throw new UsageError(`config ${path}: "${key}" must be an object keyed by name`);
  }
  for (const [name, qc] of Object.entries(config.queues ?? {})) await spool.declareQueue(name, qc);
  for (const [name, tc] of Object.entries(config.topics ?? {})) await spool.putTopic(name, tc);
  for (const [name, sc] of Object.entries(config.schedules ?? {})) await spool.putSchedule(name, sc);
  const keys = new KeyRegistry(spool.store);
  for (const [name, kc] of Object.entries(config.keys ?? {})) {
    if (!kc || typeof kc !== 'object' || Array.isArray(kc)) throw new UsageError(`config ${path}: keys.${name} must be an object`);
    const r = await keys.declare({ scopes: undefined, ...kc, name }).catch((error: unknown) => {
      throw error instanceof KeyInputError ? new UsageError(`config ${path}: keys.${name}${error.path.replaceAll('/', '.')}: ${error.reason}`) : error;
    });
    if (!r.changed) continue;
    const detail = JSON.stringify({ name: r.key.name, scopes: r.key.scopes, rateLimit: r.key.rateLimit });
    await spool.store.auditAppend({ entries: [{ actor: 'config', action: r.created ? 'key.create' : 'key.update', target: r.key.id, detailJson: detail }] });
  }
  return { handlers };
}
