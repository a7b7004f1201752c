/**
 * The SQLite driver choice (src/storage/sqlite/driver.ts): Node ≥ 22 must load better-sqlite3 13 (Node-API),
 * because 12.x built against Node 24.19+ headers aborts at teardown; Node 20 must load 12.x (13 crashes
 * there). Runs in both the Node 20 suite and scripts/test-node24.sh, so each side checks its own choice.
 */
import { describe, expect, it } from 'vitest';
import { SqliteDriver, sqliteDriverInfo } from '../../src/storage/sqlite/driver.js';

describe('SQLite driver', () => {
  const nodeMajor = Number(process.versions.node.split('.')[0]);

  it(`loads the build meant for Node ${nodeMajor}`, () => {
    if (nodeMajor >= 22) expect(sqliteDriverInfo).toMatchObject({ module: 'better-sqlite3-napi', version: expect.stringMatching(/^13\./) });
    else expect(sqliteDriverInfo).toMatchObject({ module: 'better-sqlite3', version: expect.stringMatching(/^12\./) });
  });

  it('opens a database with it', () => {
    const db = new SqliteDriver(':memory:');
    try {
      expect(db.prepare('select sqlite_version() as v').get()).toMatchObject({ v: expect.stringMatching(/^3\./) });
    } finally {
      db.close();
    }
  });
});
