/**
 * A queue's payload contract: its `schema` (JSON Schema for every payload) or `contracts` keyed by job type
 * and version (`{"send-welcome": {"1": {...}, "2": {...}}}`). `checkQueueContract` returns the field errors
 * (JSON Pointers under `/payload`) and the version a job without an explicit one is enqueued at (the
 * highest declared). Pure: the HTTP accept path calls it with the queue it already read; the library's own
 * `enqueue` does not apply queue contracts yet (job types carry their schemas there).
 */
import type { FieldError } from '../core/errors.js';
import type { QueueConfig } from '../core/queue-config.js';
import { validate } from '../core/validation.js';

/**
 * Queue records are re-read often (the server caches them for a fraction of a second), and each read makes
 * new schema objects; the validator cache is keyed by object, so equal schemas are interned by their JSON
 * text to compile each one once. Bounded: the oldest entry goes first.
 */
const interned = new Map<string, object>();
const MAX_INTERNED = 1000;

function intern(schema: object): object {
  const key = JSON.stringify(schema);
  const found = interned.get(key);
  if (found) return found;
  if (interned.size >= MAX_INTERNED) interned.delete(interned.keys().next().value!);
  interned.set(key, schema);
  return schema;
}

export interface ContractCheck {
  readonly errors: FieldError[];
  /** The version to enqueue at when the request gave none (undefined: leave it to the engine). */
  readonly version: number | undefined;
}

export function checkQueueContract(config: QueueConfig, job: { type?: string | undefined; version?: number | undefined; payload: unknown }): ContractCheck {
  const byType = job.type !== undefined && config.contracts ? config.contracts[job.type] : undefined;
  if (byType) {
    const versions = Object.keys(byType)
      .map(Number)
      .filter((v) => Number.isInteger(v) && v >= 1)
      .sort((a, b) => a - b);
    const version = job.version ?? versions[versions.length - 1];
    const schema = version !== undefined ? byType[String(version)] : undefined;
    if (!schema || typeof schema !== 'object') {
      return {
        errors: [{ path: job.version !== undefined ? '/version' : '/type', message: `no contract for job type "${job.type}" version ${version ?? '?'} (declared: ${versions.join(', ') || 'none'})` }],
        version: job.version,
      };
    }
    return { errors: validate(intern(schema), job.payload, '/payload'), version: job.version ?? version };
  }
  if (config.contracts && !config.schema) {
    const known = Object.keys(config.contracts);
    if (known.length > 0) {
      return {
        errors: [{ path: '/type', message: job.type === undefined ? `is required on this queue (one of: ${known.join(', ')})` : `has no contract on this queue (one of: ${known.join(', ')})` }],
        version: job.version,
      };
    }
  }
  if (config.schema) return { errors: validate(intern(config.schema), job.payload, '/payload'), version: job.version };
  return { errors: [], version: job.version };
}
