/**
 * Store URLs → Store instances. `sqlite:PATH` (relative to the working directory, or absolute) is the
 * embedded default; `postgres://…[?schema=NAME]` opens the PostgreSQL store (schema default `public`).
 */
import { rmSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Clock } from '../core/clock.js';
import { InvalidArgumentError, UnsupportedStoreError } from '../core/errors.js';
import type { Store } from './store.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { dropSchema } from './postgres/connection.js';
import { SqliteStore } from './sqlite/sqlite-store.js';

export const DEFAULT_STORE_URL = 'sqlite:./.spool/spool.db';

export interface OpenStoreOptions {
  readonly clock?: Clock;
  /** Apply pending migrations (default true). */
  readonly migrate?: boolean;
}

export function parseStoreUrl(url: string): { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string } {
  const trimmed = url.trim();
  if (trimmed === '') throw new InvalidArgumentError('store URL is empty');
  if (/^postgres(ql)?:\/\//i.test(trimmed)) return { kind: 'postgres', url: trimmed };
  if (/^sqlite:/i.test(trimmed)) {
    let path = trimmed.slice('sqlite:'.length);
    if (path.startsWith('//')) path = path.slice(2); // sqlite:///abs/path and sqlite://rel/path
    if (path === '') throw new InvalidArgumentError(`store URL "${url}" has no file path`);
    return { kind: 'sqlite', path: path === ':memory:' ? path : resolve(path) };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed)) throw new UnsupportedStoreError(`unsupported store URL scheme in "${url}" (use sqlite:PATH or postgres://…)`);
  return { kind: 'sqlite', path: resolve(trimmed) };
}

export async function openStore(url: string = DEFAULT_STORE_URL, options: OpenStoreOptions = {}): Promise<Store> {
  const parsed = parseStoreUrl(url);
  const clock = options.clock ? { clock: options.clock } : {};
  const store: Store = parsed.kind === 'postgres' ? new PostgresStore({ url: parsed.url, ...clock }) : new SqliteStore({ path: parsed.path, ...clock });
  try {
    if (options.migrate !== false) await store.migrate();
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

/**
 * Prepare the caller's own better-sqlite3 connection to a Spool database file for transactional enqueue:
 * WAL, synchronous=FULL (verified), Spool's busy handling.
 */
export { configureConnection as configureSqliteConnection } from './sqlite/connection.js';

/**
 * Remove a scratch store entirely: a SQLite file with its WAL and shared-memory files, or a PostgreSQL
 * schema whose name starts with `schemaPrefix` (anything else is refused). For the benchmark's per-run stores.
 */
export async function removeScratchStore(url: string, schemaPrefix: string): Promise<void> {
  const parsed = parseStoreUrl(url);
  if (parsed.kind === 'postgres') return dropSchema(parsed.url, schemaPrefix);
  if (parsed.path === ':memory:') return;
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${parsed.path}${suffix}`, { force: true });
}
