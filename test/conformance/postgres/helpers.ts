/** What the PostgreSQL-only checks get from postgres.test.ts: stores on fresh (or shared) schemas, and an admin client. */
import type pg from 'pg';
import type { ManualClock } from '../../../src/core/clock.js';
import type { PostgresStore } from '../../../src/storage/postgres/postgres-store.js';

export interface PgTestContext {
  /** A migrated store on a new schema, or on `schema` (another store's) to share it; closed and dropped after the test. */
  open(opts?: { clock?: ManualClock; schema?: string; migrate?: boolean; url?: string }): Promise<PostgresStore>;
  /** A pool on the test database (no schema), for the test's own SQL. */
  readonly admin: pg.Pool;
  readonly databaseUrl: string;
}
