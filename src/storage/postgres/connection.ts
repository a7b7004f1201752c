/**
 * PostgreSQL connections: the pool, error listeners, error classification and the transaction runner.
 *
 * Every pool and every client gets an 'error' listener: an idle client whose backend dies (restart,
 * pg_terminate_backend) emits 'error' outside any query, and an unhandled 'error' event crashes the process
 * (node-postgres#2635). Connection-level failures surface to callers as StoreUnavailableError; SQL errors
 * (constraint violations, bugs) pass through unchanged.
 *
 * Every connection sets `search_path` to the store's schema, so one database can hold many Spool
 * installations (and the tests use a schema per test file).
 */
import pg from 'pg';
import { StoreUnavailableError } from '../../core/errors.js';

export type PgClient = pg.PoolClient | pg.Client;

/** int8 (BIGINT: seq, ms timestamps, counts) as a JS number: every value Spool stores fits in 2^53. */
const INT8_OID = 20;
const types = {
  getTypeParser(oid: number, format?: string): (value: string) => unknown {
    if (oid === INT8_OID && format !== 'binary') return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

export interface ConnectionOptions {
  readonly connectionString: string;
  readonly schema: string;
  readonly max?: number;
}

/** `postgres://…?schema=name` → the URL without Spool's own parameter, and the schema (default `public`). */
export function splitSchema(url: string): { connectionString: string; schema: string | null } {
  const parsed = new URL(url);
  const schema = parsed.searchParams.get('schema');
  parsed.searchParams.delete('schema');
  return { connectionString: parsed.toString(), schema };
}

export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

export function clientConfig(options: ConnectionOptions): pg.ClientConfig {
  return {
    connectionString: options.connectionString,
    types,
    // search_path as a startup parameter: no extra round trip per connection.
    options: `-c search_path=${quoteIdent(options.schema).replace(/ /g, '\\ ')}`,
    // Names the schema: operators (and the outage tests) can tell one installation's connections apart.
    application_name: `spool ${options.schema}`.slice(0, 63),
    connectionTimeoutMillis: 5000,
    keepAlive: true,
  };
}

export function createPool(options: ConnectionOptions, onError: (error: Error) => void): pg.Pool {
  const pool = new pg.Pool({ ...clientConfig(options), max: options.max ?? 10, idleTimeoutMillis: 30_000 });
  pool.on('error', onError); // idle client lost (its own 'error' listener is the pool's)
  pool.on('connect', (client) => client.on('error', onError));
  return pool;
}

/** SQLSTATE classes and driver errors that mean "the database cannot be reached right now". */
export function isConnectionError(error: unknown): boolean {
  if (error instanceof StoreUnavailableError) return true;
  const e = error as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (code.startsWith('08')) return true; // connection exception
  if (code === '57P01' || code === '57P02' || code === '57P03') return true; // admin/crash shutdown, cannot connect now
  if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'EAI_AGAIN'].includes(code)) return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  return /Connection terminated|connection timeout|Client has encountered a connection error|Client was closed|timeout exceeded when trying to connect/i.test(
    message,
  );
}

/** The server could not be reached at all (as opposed to an established connection that died). */
export function isConnectFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'EAI_AGAIN' || code === '57P03') return true;
  return /timeout exceeded when trying to connect|connection timeout/i.test(String((error as { message?: unknown } | null)?.message ?? ''));
}

/** Deadlocks and serialization failures: the transaction may simply be run again. */
export function isRetryableTxError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

export function asStoreError(error: unknown): unknown {
  if (error instanceof StoreUnavailableError) return error;
  if (isConnectionError(error)) return new StoreUnavailableError(`PostgreSQL: ${(error as Error).message}`, { cause: error });
  return error;
}

/**
 * Drop a whole Spool schema (the benchmark's per-run schemas). Refuses `public` and names not starting with
 * `prefix`, so a mistyped URL cannot take an installation with it.
 */
export async function dropSchema(url: string, prefix: string): Promise<void> {
  const { connectionString, schema } = splitSchema(url);
  if (!schema || schema === 'public' || !schema.startsWith(prefix)) throw new Error(`refusing to drop schema "${schema ?? 'public'}"`);
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 5000 });
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${quoteIdent(schema)} CASCADE`);
  } finally {
    await client.end();
  }
}
