/**
 * What every CLI command shares: the store option, output in text or `--json`, and failure as one line on
 * stderr with a non-zero exit code (1 for a failed operation, 2 for bad usage).
 */
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { isSpoolError, InvalidArgumentError } from '../core/errors.js';
import { Spool } from '../spool.js';
import { createLogger, silentLogger } from '../logger.js';
import type { Handler } from '../worker/handler.js';

export interface StoreFlags {
  db?: string;
  url?: string;
  json?: boolean;
}

export class UsageError extends Error {}

export function storeUrl(flags: StoreFlags): string {
  if (flags.url) throw new UsageError('--url (a server) is not available yet: this build talks to a store with --db');
  return flags.db ?? process.env['SPOOL_DB'] ?? 'sqlite:./.spool/spool.db';
}

export async function openSpool(flags: StoreFlags, opts: { log?: boolean } = {}): Promise<Spool> {
  return Spool.open({ url: storeUrl(flags), logger: opts.log ? createLogger() : silentLogger });
}

export function print(flags: { json?: boolean }, data: unknown, text: () => string): void {
  process.stdout.write(flags.json ? `${JSON.stringify(data, null, 2)}\n` : `${text()}\n`);
}

export function parseJsonArg(name: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${name} is not valid JSON: ${(error as Error).message}`);
  }
}

/** Run a command action: errors become one line on stderr and an exit code. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (error) {
      process.exitCode = failure(error);
    }
  };
}

export function failure(error: unknown): number {
  const message = error instanceof Error ? error.message : String(error);
  const oneLine = message.split('\n')[0];
  if (error instanceof UsageError || error instanceof InvalidArgumentError) {
    process.stderr.write(`spool: ${oneLine}\n`);
    return 2;
  }
  process.stderr.write(`spool: ${isSpoolError(error) ? `${error.code}: ` : ''}${oneLine}\n`);
  return 1;
}

/**
 * Load a handlers module. It may export:
 *  - `default` as an object mapping job type or queue name → handler,
 *  - `default` as a function `(spool) => void | Promise<void>` that defines job types and handlers itself
 *    (`spool` is the facade, or with `spool work --url` a stand-in with defineJob / handle / declareQueue),
 *  - named function exports (handlers keyed by export name).
 */
export async function loadHandlers(spool: Spool | object, modulePath: string): Promise<Record<string, Handler>> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(resolve(modulePath)).href)) as Record<string, unknown>;
  } catch (error) {
    throw new UsageError(`cannot load handlers module ${modulePath}: ${(error as Error).message}`);
  }
  const handlers: Record<string, Handler> = {};
  const def = mod['default'];
  if (typeof def === 'function') await (def as (s: Spool | object) => unknown)(spool);
  else if (def && typeof def === 'object') {
    for (const [k, v] of Object.entries(def)) if (typeof v === 'function') handlers[k] = v as Handler;
  }
  for (const [k, v] of Object.entries(mod)) if (k !== 'default' && typeof v === 'function') handlers[k] = v as Handler;
  return handlers;
}

export function parseList(value: string | undefined): string[] | undefined {
  if (!value) return undefined;
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

export function positiveInt(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new UsageError(`${name} must be a non-negative integer`);
  return n;
}
