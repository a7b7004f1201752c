/**
 * The per-test-file schema helper against the machine's real PostgreSQL (TEST_DATABASE_URL): a schema is
 * created, usable through the URL it hands out, and gone after the drop — tables and all.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import {
  createTestSchema,
  dropTestSchema,
  fileSlug,
  listTestSchemas,
  schemaOf,
  testDatabaseUrl,
  testSchemaName,
  useTestSchema,
  withClient,
  withSchema,
  type TestSchema,
} from '../helpers/pg-schema.js';

async function schemaExists(name: string): Promise<boolean> {
  return withClient(testDatabaseUrl(), async (c) => {
    const { rows } = await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [name]);
    return rows.length === 1;
  });
}

describe('pg-schema helper', () => {
  it('names schemas spool_t_<file-slug>_<random>, unique per call, valid identifiers', () => {
    expect(fileSlug('/repo/test/engine/cancel-delay.test.ts')).toBe('cancel_delay');
    expect(fileSlug('file-with.Dots And Spaces.spec.ts')).toBe('file_with_dots_and_spaces');
    const a = testSchemaName('/repo/test/engine/lease.test.ts');
    const b = testSchemaName('/repo/test/engine/lease.test.ts');
    expect(a).toMatch(/^spool_t_lease_[0-9a-f]{8}$/);
    expect(a).not.toBe(b);
    const long = testSchemaName(`/x/${'very-long-name-'.repeat(10)}.test.ts`);
    expect(long).toMatch(/^[a-z_][a-z0-9_]*$/);
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(63);
    expect(testSchemaName(import.meta.url)).toMatch(/^spool_t_pg_schema_[0-9a-f]{8}$/);
  });

  it('puts the schema into the URL as ?schema=NAME and keeps other parameters', () => {
    expect(withSchema('postgres://root@127.0.0.1:5432/test', 's1')).toBe('postgres://root@127.0.0.1:5432/test?schema=s1');
    const url = withSchema('postgres://u:p@h:5433/db?sslmode=disable&schema=old', 's2');
    expect(schemaOf(url)).toBe('s2');
    expect(new URL(url).searchParams.get('sslmode')).toBe('disable');
    expect(new URL(url).pathname).toBe('/db');
  });

  it('creates a schema, which is usable through its URL, and drops it with everything in it', async () => {
    const schema = await createTestSchema({ file: import.meta.url });
    try {
      expect(schema.name).toMatch(/^spool_t_pg_schema_[0-9a-f]{8}$/);
      expect(schemaOf(schema.url)).toBe(schema.name);
      expect(schema.databaseUrl).toBe(testDatabaseUrl());
      expect(await schemaExists(schema.name)).toBe(true);
      expect(await listTestSchemas({ file: import.meta.url })).toContain(schema.name);

      // Use it the way a driver will: connect with the URL (the `schema` parameter is read, not passed to the
      // server), set search_path from it, create a table and write to it.
      const client = new pg.Client({ connectionString: schema.url });
      await client.connect();
      try {
        await client.query(`SET search_path TO ${pg.escapeIdentifier(schemaOf(schema.url)!)}`);
        await client.query('CREATE TABLE jobs (id integer PRIMARY KEY, name text NOT NULL)');
        await client.query(`INSERT INTO jobs VALUES (1, 'a'), (2, 'b')`);
        const { rows } = await client.query('SELECT current_schema() AS s, count(*)::int AS n FROM jobs');
        expect(rows).toEqual([{ s: schema.name, n: 2 }]);
      } finally {
        await client.end();
      }
      // The table landed in the schema, not in public.
      const where = await withClient(testDatabaseUrl(), async (c) => {
        const { rows } = await c.query<{ table_schema: string }>(
          `SELECT table_schema FROM information_schema.tables WHERE table_name = 'jobs' AND table_schema = $1`,
          [schema.name],
        );
        return rows.map((r) => r.table_schema);
      });
      expect(where).toEqual([schema.name]);
    } finally {
      await schema.drop();
    }
    expect(await schemaExists(schema.name)).toBe(false);
    expect(await listTestSchemas({ file: import.meta.url })).not.toContain(schema.name);
    await schema.drop(); // twice is fine
  });

  it('gives two schemas created at once different names, each with its own tables', async () => {
    const [a, b] = await Promise.all([createTestSchema({ file: 'same' }), createTestSchema({ file: 'same' })]);
    try {
      expect(a!.name).not.toBe(b!.name);
      await withClient(testDatabaseUrl(), async (c) => {
        await c.query(`CREATE TABLE ${pg.escapeIdentifier(a!.name)}.t (v int)`);
        await c.query(`CREATE TABLE ${pg.escapeIdentifier(b!.name)}.t (v int)`);
        await c.query(`INSERT INTO ${pg.escapeIdentifier(a!.name)}.t VALUES (1)`);
        const { rows } = await c.query(`SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(b!.name)}.t`);
        expect(rows).toEqual([{ n: 0 }]);
      });
    } finally {
      await Promise.all([a!.drop(), b!.drop()]);
    }
    expect(await schemaExists(a!.name)).toBe(false);
    expect(await schemaExists(b!.name)).toBe(false);
  });

  it('refuses to drop a schema that is not a test schema', async () => {
    await expect(dropTestSchema('public')).rejects.toThrow(/not a test schema/);
  });
});

let first: TestSchema | undefined;

describe('pg-schema helper › useTestSchema (one schema for the file)', () => {
  const schema = useTestSchema(import.meta.url);

  it('exists while the tests run', async () => {
    first = schema();
    expect(await schemaExists(first.name)).toBe(true);
    await withClient(testDatabaseUrl(), (c) => c.query(`CREATE TABLE ${pg.escapeIdentifier(first!.name)}.kept (v int)`));
  });

  it('is the same schema in every test of the block', async () => {
    expect(schema().name).toBe(first!.name);
    const n = await withClient(testDatabaseUrl(), async (c) => (await c.query(`SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(first!.name)}.kept`)).rows[0]);
    expect(n).toEqual({ n: 0 });
  });
});

describe('pg-schema helper › after useTestSchema', () => {
  it('dropped the file schema after the block', async () => {
    // Blocks run in order: the previous block's afterAll has run by now.
    expect(first).toBeDefined();
    expect(await schemaExists(first!.name)).toBe(false);
  });
});
