/**
 * Which stores the suites run on in this build — asserted and printed, so a store that drops out of the
 * list is visible in every run instead of its tests going quietly missing.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UnsupportedStoreError } from '../../src/core/errors.js';
import { openStore } from '../../src/storage/open-store.js';
import { schemaOf, testDatabaseUrl, withClient } from '../helpers/pg-schema.js';
import { postgresDescriptor, storeOfKind, storesUnderTest, whyPostgresIsNotUnderTest } from '../helpers/stores.js';

/** What openStore says about PostgreSQL right now, asked independently of the helper. */
async function postgresSupported(): Promise<boolean> {
  try {
    const store = await openStore(testDatabaseUrl(), { migrate: false });
    await store.close();
    return true;
  } catch (error) {
    if (error instanceof UnsupportedStoreError) return false;
    throw error;
  }
}

describe('stores under test', () => {
  it('is SQLite, plus PostgreSQL exactly when this build can open a postgres:// store', async () => {
    const kinds = storesUnderTest().map((s) => s.kind);
    const supported = await postgresSupported();
    console.log(
      `stores under test: ${kinds.join(', ')}` +
        (supported ? ` (TEST_DATABASE_URL=${testDatabaseUrl()})` : ` (postgres not in this build: ${whyPostgresIsNotUnderTest()})`),
    );
    expect(kinds).toEqual(supported ? ['sqlite', 'postgres'] : ['sqlite']);
    expect(whyPostgresIsNotUnderTest() === null).toBe(supported);
    if (!supported) expect(() => storeOfKind('postgres')).toThrow(/not under test/);
  });

  for (const sut of storesUnderTest()) {
    it(`${sut.kind}: open() gives a fresh, migrated store reporting the descriptor's capabilities; close() removes it`, async () => {
      const opened = await sut.open({ file: import.meta.url });
      let closed = false;
      try {
        expect(opened.store.kind).toBe(sut.kind);
        expect(opened.store.capabilities).toEqual(sut.capabilities);
        expect((await opened.store.queueList()).map((q) => q.name), 'only the internal queue').toEqual(['spool.webhooks']);
        await opened.store.queueUpsert({ name: 'probe', config: {} });
        expect((await opened.store.queueList()).map((q) => q.name)).toEqual(['probe', 'spool.webhooks']);
        // Each location is new: a second store does not see the first one's queue.
        const other = await sut.open({ file: import.meta.url });
        try {
          expect(other.url).not.toBe(opened.url);
          expect((await other.store.queueList()).map((q) => q.name)).toEqual(['spool.webhooks']);
        } finally {
          await other.close();
        }
        await opened.close();
        closed = true;
        if (sut.kind === 'sqlite') {
          expect(existsSync(opened.url.slice('sqlite:'.length))).toBe(false);
        } else {
          const schema = schemaOf(opened.url)!;
          const left = await withClient(testDatabaseUrl(), async (c) => (await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rowCount);
          expect(left).toBe(0);
        }
      } finally {
        if (!closed) await opened.close();
      }
    });
  }
});

describe('store locations', () => {
  async function schemaExists(name: string): Promise<boolean> {
    return withClient(testDatabaseUrl(), async (c) => (await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [name])).rowCount === 1);
  }

  // The PostgreSQL descriptor's locations need only the database, not the driver: checked in every build.
  it('postgres: each location is a new schema named after the test file, dropped by dispose()', async () => {
    const sut = postgresDescriptor({ settableClock: true, transactionalEnqueue: true, multiProcess: true });
    const a = await sut.newLocation({ file: import.meta.url });
    const b = await sut.newLocation();
    try {
      expect(schemaOf(a.url)).toMatch(/^spool_t_stores_[0-9a-f]{8}$/);
      expect(schemaOf(b.url)).toMatch(/^spool_t_stores_[0-9a-f]{8}$/); // the running test's file by default
      expect(schemaOf(a.url)).not.toBe(schemaOf(b.url));
      expect(a.url.startsWith(testDatabaseUrl())).toBe(true);
      expect(await schemaExists(schemaOf(a.url)!)).toBe(true);
    } finally {
      await a.dispose();
      await b.dispose();
    }
    expect(await schemaExists(schemaOf(a.url)!)).toBe(false);
    expect(await schemaExists(schemaOf(b.url)!)).toBe(false);
  });

  it('sqlite: each location is a new directory, removed by dispose()', async () => {
    const sut = storeOfKind('sqlite');
    const a = await sut.newLocation();
    const b = await sut.newLocation();
    expect(a.url).toBe(`sqlite:${a.file}`);
    expect(a.dir).not.toBe(b.dir);
    expect(existsSync(a.dir!)).toBe(true);
    await a.dispose();
    await b.dispose();
    expect(existsSync(a.dir!)).toBe(false);
    expect(existsSync(b.dir!)).toBe(false);
  });
});
