/**
 * Job types: a name, the queue it goes to, a payload schema per version with upcasters from older versions,
 * run-setting overrides, and (optionally) the handler. Producers validate against the schema at enqueue;
 * workers upcast an old job's payload to the current version before the handler sees it.
 */
import { InvalidArgumentError, ValidationError } from '../core/errors.js';
import type { Priority } from '../core/priority.js';
import type { RunSettings } from '../core/queue-config.js';
import { validate } from '../core/validation.js';
import type { Handler } from '../worker/handler.js';

export type Upcaster = (payload: unknown) => unknown;

export interface JobTypeDefinition<P = unknown, R = unknown> extends RunSettings {
  /** The job type's name, stored on each job (`type`). */
  readonly type: string;
  readonly queue: string;
  /** JSON Schema (a TypeBox schema is one) of the current version's payload. */
  readonly schema?: object;
  /** Current payload version (default 1). */
  readonly version?: number;
  /** `upcasters[n]` turns a version-n payload into a version-(n+1) payload. */
  readonly upcasters?: Readonly<Record<number, Upcaster>>;
  /** Default priority for jobs of this type. */
  readonly priority?: Priority;
  readonly handler?: Handler<P, R>;
}

export class JobTypeRegistry {
  readonly #types = new Map<string, JobTypeDefinition<unknown, unknown>>();

  define(def: JobTypeDefinition<unknown, unknown>): void {
    if (typeof def.type !== 'string' || def.type.length === 0 || def.type.length > 128) {
      throw new InvalidArgumentError('job type name must be a string of 1–128 characters');
    }
    const version = def.version ?? 1;
    if (!Number.isInteger(version) || version < 1) throw new InvalidArgumentError(`job type "${def.type}": version must be an integer ≥ 1`);
    for (let v = 1; v < version; v++) {
      if (def.upcasters && typeof def.upcasters[v] !== 'function') {
        throw new InvalidArgumentError(`job type "${def.type}": missing upcaster from version ${v} to ${v + 1}`);
      }
    }
    this.#types.set(def.type, def);
  }

  get(type: string): JobTypeDefinition<unknown, unknown> | undefined {
    return this.#types.get(type);
  }

  all(): JobTypeDefinition<unknown, unknown>[] {
    return [...this.#types.values()];
  }
}

export function currentVersion(def: JobTypeDefinition<unknown, unknown>): number {
  return def.version ?? 1;
}

/** Bring a payload of `fromVersion` up to the type's current version. */
export function upcast(def: JobTypeDefinition<unknown, unknown>, payload: unknown, fromVersion: number): unknown {
  const target = currentVersion(def);
  if (fromVersion > target) {
    throw new InvalidArgumentError(`job type "${def.type}" has no version ${fromVersion} (current is ${target})`);
  }
  let value = payload;
  for (let v = fromVersion; v < target; v++) {
    const step = def.upcasters?.[v];
    if (!step) throw new InvalidArgumentError(`job type "${def.type}": no upcaster from version ${v} to ${v + 1}`);
    value = step(value);
  }
  return value;
}

/** Validate a payload given at `version` (older versions are upcast first, then checked against the schema). */
export function validatePayload(def: JobTypeDefinition<unknown, unknown>, payload: unknown, version: number): void {
  if (!def.schema) return;
  const current = upcast(def, payload, version);
  const errors = validate(def.schema, current, '/payload');
  if (errors.length > 0) {
    const first = errors[0]!;
    throw new ValidationError(`payload of job type "${def.type}" is invalid: ${first.path} ${first.message}`, errors);
  }
}
