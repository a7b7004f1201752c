/**
 * The better-sqlite3 build this process loads — the one place that chooses it.
 *
 * better-sqlite3 12.x is the last line that runs on Node 20, and it wraps its objects in Node's
 * `node::ObjectWrap`, whose header changed in Node 24.19 (nodejs/node#65446): an addon compiled against 24.19+
 * headers aborts with `Assertion failed: (env) != nullptr` when a statement is finalised after the
 * environment's teardown (at exit, or at a test worker's end). 13.x is Node-API (no ObjectWrap, prebuilt
 * binaries inside the package) but needs Node ≥ 22. So the package depends on 12 and, optionally, on 13 under
 * the alias `better-sqlite3-napi`: Node ≥ 22 loads 13 when it is installed, Node 20 always loads 12 (13
 * crashes there). Both expose the same API; the type is 12's.
 */
import type BetterSqlite3 from 'better-sqlite3';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export interface SqliteDriverInfo {
  /** The package the constructor came from. */
  readonly module: 'better-sqlite3' | 'better-sqlite3-napi';
  /** Its version, from its package.json. */
  readonly version: string;
}

function load(): { Database: typeof BetterSqlite3; info: SqliteDriverInfo } {
  const nodeMajor = Number(process.versions.node.split('.')[0]);
  if (nodeMajor >= 22) {
    try {
      const Database = require('better-sqlite3-napi') as typeof BetterSqlite3;
      return { Database, info: { module: 'better-sqlite3-napi', version: versionOf('better-sqlite3-napi') } };
    } catch (error) {
      // Not installed (optional dependencies may be omitted): 12.x still works where it was built for this Node.
      if ((error as { code?: unknown }).code !== 'MODULE_NOT_FOUND') throw error;
    }
  }
  const Database = require('better-sqlite3') as typeof BetterSqlite3;
  return { Database, info: { module: 'better-sqlite3', version: versionOf('better-sqlite3') } };
}

function versionOf(name: string): string {
  return (require(`${name}/package.json`) as { version: string }).version;
}

const loaded = load();

/** The better-sqlite3 `Database` constructor. */
export const SqliteDriver: typeof BetterSqlite3 = loaded.Database;
export const sqliteDriverInfo: SqliteDriverInfo = loaded.info;
