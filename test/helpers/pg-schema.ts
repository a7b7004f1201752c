/**
 * A private PostgreSQL schema for a test (or a test file) on the machine's database: created with the `pg`
 * client, handed out as the database URL plus `?schema=NAME` (the PostgreSQL driver reads its schema from
 * that query parameter), and dropped (`DROP SCHEMA … CASCADE`) afterwards.
 *
 * Names are `spool_t_<file-slug>_<random>`: unique per call, and readable enough to tell which test file
 * left one behind if a run is killed before its clean-up (`listTestSchemas()` finds them).
 *
 * The database comes from TEST_DATABASE_URL (default `postgres://root@127.0.0.1:5432/test`).
 */
import { randomBytes } from 'node:crypto';
import { basename } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect } from 'vitest';

export const DEFAULT_TEST_DATABASE_URL = 'postgres://root@127.0.0.1:5432/test';

/** The database the PostgreSQL suites use: TEST_DATABASE_URL, or the default above. */
export function testDatabaseUrl(): string {
  const fromEnv = process.env.TEST_DATABASE_URL?.trim();
  return fromEnv ? fromEnv : DEFAULT_TEST_DATABASE_URL;
}

/** Every test schema starts with this. */
export const TEST_SCHEMA_PREFIX = 'spool_t_';

/** PostgreSQL truncates identifiers to 63 bytes; keep names well inside. */
const MAX_SLUG = 30;

export interface TestSchema {
  /** The schema's name (a plain lower-case identifier: no quoting needed, but quote it anyway in SQL). */
  readonly name: string;
  /** The database URL with `?schema=NAME` (other query parameters of the base URL are kept). */
  readonly url: string;
  /** The database URL the schema lives in, without the schema parameter. */
  readonly databaseUrl: string;
  /** `DROP SCHEMA IF EXISTS … CASCADE`; safe to call twice. Close every pool using the schema first. */
  drop(): Promise<void>;
}

/** `test/engine/lease.test.ts` → `engine_lease`-like slug: lower-case letters, digits and `_`. */
export function fileSlug(file: string): string {
  const base = basename(file).replace(/\.(test|spec)\.[cm]?[jt]sx?$/i, '').replace(/\.[cm]?[jt]sx?$/i, '');
  const slug = base
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, MAX_SLUG)
    .replace(/_+$/, '');
  return slug === '' ? 'x' : slug;
}

/** A fresh name `spool_t_<slug>_<8 hex>` for `file` (a path, a file URL or a plain slug). */
export function testSchemaName(file: string): string {
  const path = file.startsWith('file:') ? new URL(file).pathname : file;
  return `${TEST_SCHEMA_PREFIX}${fileSlug(path)}_${randomBytes(4).toString('hex')}`;
}

/** `url` with its `schema` query parameter set to `schema`. */
export function withSchema(url: string, schema: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('schema', schema);
  return parsed.toString();
}

/** The `schema` query parameter of a URL, or undefined. */
export function schemaOf(url: string): string | undefined {
  return new URL(url).searchParams.get('schema') ?? undefined;
}

/** Quote an identifier for SQL. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Run `fn` on a short-lived client of `databaseUrl` (no pool is left open behind a test). */
export async function withClient<T>(databaseUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: withoutSchema(databaseUrl), application_name: 'spool-test-admin' });
  // An idle client whose server goes away emits 'error'; without a listener that would crash the process.
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

function withoutSchema(url: string): string {
  const parsed = new URL(url);
  if (!parsed.searchParams.has('schema')) return url;
  parsed.searchParams.delete('schema');
  return parsed.toString();
}

/**
 * Create a new, empty schema named after `file` (default: the running test's file) in the test database.
 * The caller drops it (or use `useTestSchema()`, which does).
 */
export async function createTestSchema(options: { file?: string; databaseUrl?: string } = {}): Promise<TestSchema> {
  const databaseUrl = options.databaseUrl ?? testDatabaseUrl();
  const name = testSchemaName(options.file ?? currentTestFile());
  await withClient(databaseUrl, (c) => c.query(`CREATE SCHEMA ${quoteIdent(name)}`));
  let dropped = false;
  return {
    name,
    url: withSchema(databaseUrl, name),
    databaseUrl,
    async drop() {
      if (dropped) return;
      await dropTestSchema(name, databaseUrl);
      dropped = true;
    },
  };
}

/** `DROP SCHEMA IF EXISTS name CASCADE`, refusing names that are not test schemas. */
export async function dropTestSchema(name: string, databaseUrl: string = testDatabaseUrl()): Promise<void> {
  if (!name.startsWith(TEST_SCHEMA_PREFIX)) throw new Error(`refusing to drop "${name}": not a test schema (${TEST_SCHEMA_PREFIX}…)`);
  await withClient(databaseUrl, async (c) => {
    // A connection still inside the schema (a pool not closed) would make the drop wait forever: fail instead.
    await c.query(`SET lock_timeout = '10s'`);
    await c.query(`DROP SCHEMA IF EXISTS ${quoteIdent(name)} CASCADE`);
  });
}

/** Names of the test schemas that exist now (all of them, or those of one file slug). */
export async function listTestSchemas(options: { file?: string; databaseUrl?: string } = {}): Promise<string[]> {
  const prefix = options.file ? `${TEST_SCHEMA_PREFIX}${fileSlug(options.file)}_` : TEST_SCHEMA_PREFIX;
  return withClient(options.databaseUrl ?? testDatabaseUrl(), async (c) => {
    const { rows } = await c.query<{ nspname: string }>(
      `SELECT nspname FROM pg_namespace WHERE starts_with(nspname, $1) ORDER BY nspname`,
      [prefix],
    );
    return rows.map((r) => r.nspname);
  });
}

/**
 * One schema for the whole test file: created before its first test, dropped after its last. Call at the top
 * level of a test file (or inside a describe); the returned function gives the schema inside tests.
 */
export function useTestSchema(file: string, options: { databaseUrl?: string } = {}): () => TestSchema {
  let schema: TestSchema | undefined;
  beforeAll(async () => {
    schema = await createTestSchema({ file, ...(options.databaseUrl ? { databaseUrl: options.databaseUrl } : {}) });
  });
  afterAll(async () => {
    await schema?.drop();
  });
  return () => {
    if (!schema) throw new Error('useTestSchema: the schema exists only while the file\'s tests run');
    return schema;
  };
}

/** The running test's file (vitest), or `x` outside a test. */
export function currentTestFile(): string {
  try {
    return expect.getState().testPath ?? 'x';
  } catch {
    return 'x';
  }
}
