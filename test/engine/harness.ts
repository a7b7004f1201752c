/**
 * Shared set-up for the engine tests: a fresh Spool on a fresh, empty store, closed (and the store's location
 * removed) after each test, plus small polling helpers (no fixed sleeps: wait for a condition with a generous
 * deadline). Everything goes through the public library API.
 *
 * Store-parametric: `forEachStore((store) => { describe(...) })` declares the blocks once per store under test
 * (test/helpers/stores.ts: SQLite, plus PostgreSQL when this build has the driver), and `openSpool()` inside
 * them opens on that block's store — a new SQLite file in a temporary directory, or a new PostgreSQL schema.
 * Outside `forEachStore`, `openSpool()` is SQLite, as before; `openSqliteSpool()` is SQLite always (for tests
 * that need the file itself).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'vitest';
import { Spool, type Clock, type Job, type SpoolOptions } from '../../src/index.js';
import { storeOfKind, storesUnderTest, type Capability, type StoreKind, type StoreUnderTest } from '../helpers/stores.js';

export type { StoreUnderTest } from '../helpers/stores.js';

export interface TempSpool {
  readonly spool: Spool;
  /** The store URL: pass it as `openSpool({ url })` for another Spool on the same store. */
  readonly url: string;
  readonly kind: StoreKind;
  /** SQLite only: the database file and its directory. */
  readonly file?: string;
  readonly dir?: string;
}

export interface SqliteTempSpool extends TempSpool {
  readonly kind: 'sqlite';
  readonly file: string;
  readonly dir: string;
}

const cleanups: Array<() => Promise<void> | void> = [];

/** The store of the enclosing `forEachStore` block while its tests run; undefined elsewhere. */
let currentStore: StoreUnderTest | undefined;

afterEach(async () => {
  // Last registered, first cleaned: spools close before their directory (or schema) goes.
  for (const fn of cleanups.splice(0).reverse()) await fn();
  currentStore = undefined;
});

/** Register something to undo after the current test (runs even when the test fails). */
export function onCleanup(fn: () => Promise<void> | void): void {
  cleanups.push(fn);
}

export function tempDir(prefix = 'spool-engine-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  onCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Declare `fn`'s describe blocks once per store under test, each inside a block titled `[sqlite]` /
 * `[postgres]`; `openSpool()` in their tests opens on that store. Gate a case on a capability with
 * `requires(store, capability)`, never on the store's kind.
 */
export function forEachStore(fn: (store: StoreUnderTest) => void): void {
  for (const store of storesUnderTest()) {
    describe(`[${store.kind}]`, () => {
      beforeEach(() => {
        currentStore = store;
      });
      fn(store);
    });
  }
}

/**
 * `it` for a case that needs `capability`: skipped only when the store reports it missing, and then titled
 * so (e.g. ManualClock cases need `settableClock`).
 */
export function requires(store: StoreUnderTest, capability: Capability): (name: string, fn: () => Promise<void>) => void {
  const missing = !store.capabilities[capability];
  return (name, fn) => it.skipIf(missing)(missing ? `${name} [skipped: ${store.kind} lacks ${capability}]` : name, fn);
}

/**
 * Open a Spool on a fresh, empty store of the current block's store kind (SQLite outside `forEachStore`), or
 * on an existing one: `url` (any store, e.g. another TempSpool's `url`) or `file` (SQLite). Closed after the
 * test; a fresh location is removed after the test too.
 */
export async function openSpool(
  options: { clock?: Clock; url?: string; file?: string; store?: StoreUnderTest } & Pick<SpoolOptions, 'logger' | 'openTelemetry'> = {},
): Promise<TempSpool> {
  const store = options.store ?? currentStore ?? storeOfKind('sqlite');
  if (options.clock && !store.capabilities.settableClock) {
    throw new Error(`the ${store.kind} store lacks settableClock: a test with a ManualClock must use requires(store, 'settableClock')`);
  }
  if ('file' in options && options.file === undefined) throw new Error('openSpool({ file: undefined }): no file to reopen (pass { url } to share a store)');
  if ('url' in options && options.url === undefined) throw new Error('openSpool({ url: undefined }): no store to reopen');
  if (options.file !== undefined && store.kind !== 'sqlite') throw new Error(`openSpool({ file }) is SQLite only (this block runs on ${store.kind}); use { url }`);
  let url: string;
  let file: string | undefined;
  if (options.url !== undefined) {
    url = options.url;
    if (url.startsWith('sqlite:')) file = url.slice('sqlite:'.length);
  } else if (options.file !== undefined) {
    file = options.file;
    url = `sqlite:${file}`;
  } else {
    const location = await store.newLocation();
    onCleanup(() => location.dispose());
    url = location.url;
    file = location.file;
  }
  const spool = await Spool.open({
    url,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.openTelemetry !== undefined ? { openTelemetry: options.openTelemetry } : {}),
  });
  onCleanup(() => spool.close({ graceMs: 0 }));
  const kind = spool.store.kind;
  return file !== undefined ? { spool, url, kind, file, dir: join(file, '..') } : { spool, url, kind };
}

/** Open a Spool on a new SQLite file (or on `file`, to reopen one) and close it after the test. */
export async function openSqliteSpool(options: { clock?: Clock; file?: string } = {}): Promise<SqliteTempSpool> {
  const t = await openSpool({ ...options, store: storeOfKind('sqlite') });
  if (t.kind !== 'sqlite' || t.file === undefined || t.dir === undefined) throw new Error('openSqliteSpool did not open a SQLite file');
  return { ...t, kind: 'sqlite', file: t.file, dir: t.dir };
}

/** Poll `check` until it returns a value other than undefined/false, or fail after `timeoutMs`. */
export async function waitUntil<T>(
  check: () => Promise<T | undefined | false> | T | undefined | false,
  what: string,
  options: { timeoutMs?: number; intervalMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(options.intervalMs ?? 20);
  }
}

/** Wait until the job reaches `state` (fails with the state it was last seen in). */
export async function waitForState(spool: Spool, id: string, state: Job['state'], timeoutMs = 20_000): Promise<Job> {
  let last: Job | undefined;
  try {
    return await waitUntil(
      async () => {
        last = await spool.getJob(id);
        return last.state === state ? last : undefined;
      },
      `job ${id} to be ${state}`,
      { timeoutMs },
    );
  } catch (error) {
    throw new Error(`${(error as Error).message} (last seen: ${last?.state ?? 'never'})`);
  }
}

/** Wait until every job is terminal; returns them in the order of `ids`. */
export async function waitAllTerminal(spool: Spool, ids: readonly string[], timeoutMs = 30_000): Promise<Job[]> {
  const deadline = Date.now() + timeoutMs;
  const jobs: Job[] = [];
  for (const id of ids) {
    const job = await spool.waitFor(id, { timeoutMs: Math.max(1, deadline - Date.now()), pollMs: 20 });
    jobs.push(job);
  }
  const stuck = jobs.filter((j) => j.state !== 'completed' && j.state !== 'dead' && j.state !== 'cancelled');
  if (stuck.length > 0) throw new Error(`${stuck.length} jobs not terminal after ${timeoutMs} ms (e.g. ${stuck[0]!.id}: ${stuck[0]!.state})`);
  return jobs;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export interface Deferred<T = void> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Resolves when the signal aborts, with its reason. */
export function aborted(signal: AbortSignal): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((r) => signal.addEventListener('abort', () => r(signal.reason), { once: true }));
}

/** Short retry delays so failing jobs come round again within milliseconds. */
export const FAST_BACKOFF = { initialSeconds: 0.01, maxSeconds: 0.02, multiplier: 1 } as const;
