/**
 * The stores the suites run on. SQLite always; PostgreSQL as soon as this build has the driver — detected
 * by asking `openStore('postgres://…')` itself: while it throws UnsupportedStoreError PostgreSQL is simply not
 * in the list (one entry), and the moment it opens a store PostgreSQL joins every suite that iterates
 * `storesUnderTest()`. No environment variable turns it on or off, and nothing is skipped quietly:
 * test/infra/stores.test.ts asserts and prints the list.
 *
 * Any other failure of the probe (a malformed TEST_DATABASE_URL, a driver that throws on open) fails the
 * importing test file loudly instead of dropping PostgreSQL from the list; a database that is down fails the
 * first test that asks for a PostgreSQL location (the probe opens without migrating, and a lazy pool may not
 * connect at all).
 *
 * Each descriptor hands out fresh, empty store locations: a new SQLite file in its own temporary directory,
 * or a new PostgreSQL schema (`?schema=NAME`, see pg-schema.ts) in TEST_DATABASE_URL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ManualClock } from '../../src/core/clock.js';
import { UnsupportedStoreError } from '../../src/core/errors.js';
import { openStore } from '../../src/storage/open-store.js';
import type { Store, StoreCapabilities } from '../../src/storage/store.js';
import { createTestSchema, currentTestFile, testDatabaseUrl } from './pg-schema.js';

export type StoreKind = 'sqlite' | 'postgres';
export type Capability = keyof StoreCapabilities;

/** A fresh, empty place for a store: its URL, and how to remove it (after every store on it is closed). */
export interface StoreLocation {
  readonly url: string;
  /** SQLite only: the database file (and its directory). */
  readonly file?: string;
  readonly dir?: string;
  dispose(): Promise<void>;
}

/** An open, migrated store on a fresh location; `close()` closes it and removes the location. */
export interface OpenedStore {
  readonly store: Store;
  readonly url: string;
  close(): Promise<void>;
}

export interface StoreUnderTest {
  readonly kind: StoreKind;
  /** What the driver reports (`store.capabilities`); suites gate cases on these, never on `kind`. */
  readonly capabilities: StoreCapabilities;
  /** A new, empty location; `file` names the test file it is for (PostgreSQL schema names carry its slug). */
  newLocation(options?: { file?: string }): Promise<StoreLocation>;
  /** A fresh, migrated store (`openStore(url, { clock })`) on a new location. */
  open(options?: { clock?: ManualClock; file?: string }): Promise<OpenedStore>;
}

/** The SQLite descriptor (exported for the helper's own test). */
export const sqliteDescriptor = (capabilities: StoreCapabilities): StoreUnderTest => ({
  kind: 'sqlite',
  capabilities,
  async newLocation() {
    const dir = mkdtempSync(join(tmpdir(), 'spool-store-'));
    const file = join(dir, 'spool.db');
    return {
      url: `sqlite:${file}`,
      file,
      dir,
      async dispose() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  },
  open(options) {
    return openOn(this, options);
  },
});

/** The PostgreSQL descriptor (exported for the helper's own test: its locations work before the driver does). */
export const postgresDescriptor = (capabilities: StoreCapabilities, databaseUrl: string = testDatabaseUrl()): StoreUnderTest => ({
  kind: 'postgres',
  capabilities,
  async newLocation(options = {}) {
    const schema = await createTestSchema({ file: options.file ?? currentTestFile(), databaseUrl });
    return { url: schema.url, dispose: () => schema.drop() };
  },
  open(options) {
    return openOn(this, options);
  },
});

async function openOn(sut: StoreUnderTest, options: { clock?: ManualClock; file?: string } = {}): Promise<OpenedStore> {
  if (options.clock && !sut.capabilities.settableClock) throw new Error(`the ${sut.kind} store lacks settableClock: it cannot take a ManualClock`);
  const location = await sut.newLocation(options.file ? { file: options.file } : {});
  let store: Store;
  try {
    store = await openStore(location.url, options.clock ? { clock: options.clock } : {});
  } catch (error) {
    await location.dispose();
    throw error;
  }
  return {
    store,
    url: location.url,
    async close() {
      try {
        await store.close();
      } finally {
        await location.dispose();
      }
    },
  };
}

let postgresUnsupportedReason: string | null = null;

/** Why PostgreSQL is not under test in this build (the UnsupportedStoreError's message), or null when it is. */
export function whyPostgresIsNotUnderTest(): string | null {
  return postgresUnsupportedReason;
}

async function probeSqlite(): Promise<StoreCapabilities> {
  const dir = mkdtempSync(join(tmpdir(), 'spool-probe-'));
  try {
    const store = await openStore(`sqlite:${join(dir, 'probe.db')}`, { migrate: false });
    try {
      return { ...store.capabilities };
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The PostgreSQL driver's capabilities, or null when this build has no PostgreSQL driver. */
async function probePostgres(databaseUrl: string): Promise<StoreCapabilities | null> {
  let store: Store;
  try {
    // No migration: the probe must not write anything into the database.
    store = await openStore(databaseUrl, { migrate: false });
  } catch (error) {
    if (error instanceof UnsupportedStoreError) {
      postgresUnsupportedReason = error.message;
      return null;
    }
    throw new Error(`the PostgreSQL store exists in this build but could not be opened on ${databaseUrl}: ${(error as Error).message}`, { cause: error });
  }
  try {
    if (store.kind !== 'postgres') throw new Error(`openStore(${databaseUrl}) returned a ${store.kind} store`);
    return { ...store.capabilities };
  } finally {
    await store.close();
  }
}

async function detect(): Promise<readonly StoreUnderTest[]> {
  const list: StoreUnderTest[] = [sqliteDescriptor(await probeSqlite())];
  const databaseUrl = testDatabaseUrl();
  const pgCapabilities = await probePostgres(databaseUrl);
  if (pgCapabilities) list.push(postgresDescriptor(pgCapabilities, databaseUrl));
  return Object.freeze(list);
}

// Probed once per test file (module instance), at import: describe blocks are declared synchronously.
const detected = await detect();

/** SQLite first, then PostgreSQL when the driver exists. */
export function storesUnderTest(): readonly StoreUnderTest[] {
  return detected;
}

/** The descriptor of one kind (throws when that store is not under test in this build). */
export function storeOfKind(kind: StoreKind): StoreUnderTest {
  const found = detected.find((s) => s.kind === kind);
  if (!found) throw new Error(`the ${kind} store is not under test in this build${kind === 'postgres' && postgresUnsupportedReason ? ` (${postgresUnsupportedReason})` : ''}`);
  return found;
}
