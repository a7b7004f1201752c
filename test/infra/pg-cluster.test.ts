/**
 * The private throwaway cluster for restart tests: a real initdb + postgres in a temporary folder on its own
 * port. Committed data survives a clean restart and a SIGKILL of every server process; terminateBackends
 * cuts exactly the named connections; the folder is gone afterwards; the machine's cluster is untouched.
 */
import { existsSync, statSync } from 'node:fs';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { startPgCluster, usePgCluster, type PgCluster } from '../helpers/pg-cluster.js';
import { createTestSchema, schemaOf, testDatabaseUrl, withClient } from '../helpers/pg-schema.js';

async function sharedStartTime(): Promise<string> {
  return withClient(testDatabaseUrl(), async (c) => (await c.query<{ t: string }>('SELECT pg_postmaster_start_time()::text AS t')).rows[0]!.t);
}

async function connect(url: string, applicationName = 'spool-test'): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: applicationName });
  await client.connect();
  return client;
}

describe('pg-cluster helper', () => {
  let cluster: PgCluster | undefined;
  let sharedBefore = '';

  afterAll(async () => {
    await cluster?.destroy();
  });

  it('starts a private cluster on its own port, owned by its folder, with fsync on', async () => {
    sharedBefore = await sharedStartTime();
    cluster = await startPgCluster();
    expect(cluster.port).not.toBe(5432);
    expect(cluster.url).toBe(`postgres://postgres@127.0.0.1:${cluster.port}/postgres`);
    expect(existsSync(`${cluster.dataDir}/PG_VERSION`)).toBe(true);
    expect(cluster.running).toBe(true);
    if (process.getuid?.() === 0) expect(statSync(cluster.dataDir).uid).not.toBe(0); // PostgreSQL refuses root
    const client = await connect(cluster.url);
    try {
      const { rows } = await client.query(
        `SELECT current_setting('fsync') AS fsync, current_setting('synchronous_commit') AS sc,
                current_setting('listen_addresses') AS listen, current_setting('port') AS port,
                current_setting('data_directory') AS data`,
      );
      expect(rows[0]).toEqual({ fsync: 'on', sc: 'on', listen: '127.0.0.1', port: String(cluster.port), data: cluster.dataDir });
    } finally {
      await client.end();
    }
  });

  it('keeps committed data across a clean restart', async () => {
    const c = cluster!;
    const before = await connect(c.url);
    before.on('error', () => undefined);
    await before.query('CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL)');
    await before.query(`INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 1000) g`);
    const pid = c.pid;
    await c.restart();
    expect(c.pid).not.toBe(pid);
    // The old connection was cut by the shutdown.
    await expect(before.query('SELECT 1')).rejects.toThrow();
    await before.end().catch(() => undefined);

    const after = await connect(c.url);
    try {
      const { rows } = await after.query('SELECT count(*)::int AS n, max(v) AS last FROM t');
      expect(rows[0]).toEqual({ n: 1000, last: 'row 999' });
    } finally {
      await after.end();
    }
  });

  it('terminates exactly the backends of one application_name', async () => {
    const c = cluster!;
    const victims = [await connect(c.url, 'spool-victim'), await connect(c.url, 'spool-victim')];
    const errors: Error[] = [];
    for (const v of victims) v.on('error', (e) => errors.push(e));
    const bystander = await connect(c.url, 'bystander');
    try {
      expect(await c.terminateBackends('spool-victim')).toBe(2);
      for (const v of victims) await expect(v.query('SELECT 1')).rejects.toThrow();
      expect((await bystander.query('SELECT 1 AS ok')).rows).toEqual([{ ok: 1 }]);
      expect(await c.terminateBackends('spool-victim')).toBe(0);
    } finally {
      for (const v of victims) await v.end().catch(() => undefined);
      await bystander.end();
    }
  });

  it('survives a SIGKILL of every server process: crash recovery keeps every committed row', async () => {
    const c = cluster!;
    const client = await connect(c.url);
    client.on('error', () => undefined);
    await client.query(`INSERT INTO t SELECT g, 'late ' || g FROM generate_series(1001, 1500) g`);
    // An open, uncommitted transaction: must be gone after the crash.
    await client.query('BEGIN');
    await client.query(`INSERT INTO t VALUES (9999, 'uncommitted')`);
    const pid = c.pid!;
    await c.kill();
    expect(c.running).toBe(false);
    expect(() => process.kill(pid, 0)).toThrow();
    await expect(client.query('COMMIT')).rejects.toThrow();
    await client.end().catch(() => undefined);

    await c.start();
    expect(c.log()).toMatch(/database system was interrupted|not properly shut down|redo/i);
    const after = await connect(c.url);
    try {
      const { rows } = await after.query('SELECT count(*)::int AS n, count(*) FILTER (WHERE id = 9999)::int AS uncommitted FROM t');
      expect(rows[0]).toEqual({ n: 1500, uncommitted: 0 });
      expect(await c.createDatabase('spool_other')).toBe(c.urlFor('spool_other'));
    } finally {
      await after.end();
    }
    const other = await connect(c.urlFor('spool_other'));
    expect((await other.query('SELECT current_database() AS db')).rows).toEqual([{ db: 'spool_other' }]);
    await other.end();
  });

  it('hosts test schemas too (pg-schema with databaseUrl: the cluster), so a store can run on it', async () => {
    const c = cluster!;
    const schema = await createTestSchema({ file: import.meta.url, databaseUrl: c.url });
    expect(schema.url).toBe(`${c.url}?schema=${schema.name}`);
    expect(schemaOf(schema.url)).toBe(schema.name);
    await withClient(c.url, (client) => client.query(`CREATE TABLE ${pg.escapeIdentifier(schema.name)}.t (v int)`));
    await c.restart();
    const n = await withClient(c.url, async (client) => (await client.query('SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1', [schema.name])).rows[0]);
    expect(n).toEqual({ n: 1 });
    await schema.drop();
    const gone = await withClient(c.url, async (client) => (await client.query('SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1', [schema.name])).rows[0]);
    expect(gone).toEqual({ n: 0 });
  });

  it('stops, then destroy() removes the folder; the machine\'s shared cluster was never touched', async () => {
    const c = cluster!;
    await c.stop();
    expect(c.running).toBe(false);
    await expect(connect(c.url)).rejects.toThrow();
    await c.destroy();
    await c.destroy(); // twice is fine
    expect(existsSync(c.dir)).toBe(false);
    expect(await sharedStartTime()).toBe(sharedBefore);
  });
});

let blockCluster: PgCluster | undefined;

describe('pg-cluster helper › usePgCluster (one cluster for a block)', () => {
  const cluster = usePgCluster({ settings: { max_connections: '20' } });

  it('is running while the block\'s tests run, with the extra settings', async () => {
    blockCluster = cluster();
    expect(blockCluster.running).toBe(true);
    const setting = await withClient(blockCluster.url, async (c) => (await c.query('SHOW max_connections')).rows[0]);
    expect(setting).toEqual({ max_connections: '20' });
  });
});

describe('pg-cluster helper › after usePgCluster', () => {
  it('destroyed the block\'s cluster: server gone, folder removed', () => {
    expect(blockCluster).toBeDefined();
    expect(blockCluster!.running).toBe(false);
    expect(existsSync(blockCluster!.dir)).toBe(false);
  });
});
