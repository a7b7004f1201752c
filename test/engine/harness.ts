/**
 * Shared set-up for the engine tests: a fresh Spool on a real SQLite file in its own temporary directory,
 * closed and removed after each test, plus small polling helpers (no fixed sleeps: wait for a condition with
 * a generous deadline). Everything goes through the public library API.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { Spool, type Clock, type Job } from '../../src/index.js';

export interface TempSpool {
  readonly spool: Spool;
  readonly dir: string;
  readonly file: string;
  readonly url: string;
}

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  // Last registered, first cleaned: spools close before their directory goes.
  for (const fn of cleanups.splice(0).reverse()) await fn();
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

/** Open a Spool on a new file (or on `file`, to reopen one) and close it after the test. */
export async function openSpool(options: { clock?: Clock; file?: string } = {}): Promise<TempSpool> {
  const file = options.file ?? join(tempDir(), 'spool.db');
  const url = `sqlite:${file}`;
  const spool = await Spool.open(options.clock ? { url, clock: options.clock } : url);
  onCleanup(() => spool.close({ graceMs: 0 }));
  return { spool, dir: join(file, '..'), file, url };
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
