import { describe, expect, it } from 'vitest';
import { openSpool, sleep, waitAllTerminal } from './harness.js';

interface Event {
  readonly kind: 'start' | 'end';
  readonly key: string;
  readonly n: number;
  readonly attempt: number;
}

async function runKeyedWorkload(options: { failFirstAttemptEvery?: number }): Promise<{ events: Event[]; expected: Map<string, number[]> }> {
  const { spool } = await openSpool();
  await spool.declareQueue('keyed', { maxAttempts: 3, backoff: { initialSeconds: 0.01, maxSeconds: 0.03, multiplier: 1 } });
  const events: Event[] = [];
  spool.handle('keyed', async (payload, ctx) => {
    const { key, n } = payload as { key: string; n: number };
    events.push({ kind: 'start', key, n, attempt: ctx.job.attempt });
    await sleep(Math.random() * 8);
    const fail = options.failFirstAttemptEvery !== undefined && n % options.failFirstAttemptEvery === 0 && ctx.job.attempt === 1;
    events.push({ kind: 'end', key, n, attempt: ctx.job.attempt });
    if (fail) throw new Error(`first attempt of ${key}#${n} fails`);
    return n;
  });
  await spool.work({ queues: ['keyed'], concurrency: 32, prefetch: 16, claimBatch: 50 });

  const expected = new Map<string, number[]>();
  const ids: string[] = [];
  // Enqueue while the worker runs, in bursts of 20 concurrent calls (one shared commit each, call order kept).
  for (let burst = 0; burst < 10; burst++) {
    const calls = [];
    for (let i = 0; i < 20; i++) {
      const n = burst * 20 + i;
      const key = `key-${(n * 7) % 10}`;
      expected.set(key, [...(expected.get(key) ?? []), n]);
      calls.push(spool.enqueue('keyed', { key, n }, { orderingKey: key }));
    }
    ids.push(...(await Promise.all(calls)).map((r) => r.id));
    await sleep(Math.random() * 10);
  }
  const jobs = await waitAllTerminal(spool, ids, 40_000);
  expect(jobs.filter((j) => j.state !== 'completed')).toEqual([]);
  return { events, expected };
}

function checkPerKey(events: readonly Event[], expected: Map<string, number[]>): void {
  for (const [key, order] of expected) {
    const mine = events.filter((e) => e.key === key);
    // Never two jobs of one key active at once: every start follows the previous end.
    let active = 0;
    let maxActive = 0;
    for (const e of mine) {
      active += e.kind === 'start' ? 1 : -1;
      maxActive = Math.max(maxActive, active);
    }
    expect(maxActive, `key ${key}: jobs active at once`).toBe(1);
    // Starts follow enqueue order; a retried job is started again before the next job of its key.
    const starts = mine.filter((e) => e.kind === 'start').map((e) => e.n);
    const firstStarts = starts.filter((n, i) => starts.indexOf(n) === i);
    expect(firstStarts, `key ${key}: start order`).toEqual(order);
    const deduped = starts.filter((n, i) => i === 0 || starts[i - 1] !== n);
    expect(deduped, `key ${key}: no job of the key started between two attempts of another`).toEqual(order);
  }
}

describe('Ordering keys under batched claims and prefetch', () => {
  it('runs 200 jobs over 10 keys one at a time per key, in enqueue order (concurrency 32, prefetch 16)', async () => {
    const { events, expected } = await runKeyedWorkload({});
    expect(events.filter((e) => e.kind === 'start')).toHaveLength(200);
    checkPerKey(events, expected);
    // The keys did run side by side: one key at a time is not what this asserts.
    let active = 0;
    let maxActive = 0;
    for (const e of events) {
      active += e.kind === 'start' ? 1 : -1;
      maxActive = Math.max(maxActive, active);
    }
    expect(maxActive).toBeGreaterThan(1);
    expect(maxActive).toBeLessThanOrEqual(10);
  });

  it('holds later jobs of a key while its head retries', async () => {
    const { events, expected } = await runKeyedWorkload({ failFirstAttemptEvery: 9 });
    const retried = events.filter((e) => e.kind === 'start' && e.attempt === 2);
    expect(retried.length).toBe(23); // n = 0, 9, …, 198
    checkPerKey(events, expected);
  });
});
