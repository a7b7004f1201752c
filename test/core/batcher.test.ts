/** The Batcher: microtask bursts become one flush; while flushes are outstanding, later calls are gathered. */
import { describe, expect, it } from 'vitest';
import { Batcher } from '../../src/core/batcher.js';

/** A flush function whose calls stay open until released, recording each batch. */
function controlledFlush() {
  const batches: number[][] = [];
  const releases: Array<() => void> = [];
  const flush = (items: number[]): Promise<Array<number | Error>> => {
    batches.push(items);
    return new Promise((resolve) => releases.push(() => resolve(items.map((n) => (n < 0 ? new Error(`bad ${n}`) : n * 10)))));
  };
  return { batches, releases, flush };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('Batcher', () => {
  it('flushes one microtask burst as one call and maps each result or error to its caller', async () => {
    const { batches, releases, flush } = controlledFlush();
    const b = new Batcher(flush);
    const calls = [b.add(1), b.add(-2), b.add(3)];
    await turn();
    expect(batches).toEqual([[1, -2, 3]]);
    releases[0]!();
    const settled = await Promise.allSettled(calls);
    expect(settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).message))).toEqual([10, 'bad -2', 30]);
  });

  it('keeps at most two flushes outstanding and gathers calls from later event-loop turns into one', async () => {
    const { batches, releases, flush } = controlledFlush();
    const b = new Batcher(flush);
    const results: Array<Promise<number>> = [];
    for (let i = 0; i < 6; i++) {
      results.push(b.add(i)); // one call per event-loop turn, like HTTP requests
      await turn();
    }
    expect(batches).toEqual([[0], [1]]); // two outstanding; 2..5 gathered
    releases[0]!();
    await turn();
    expect(batches).toEqual([[0], [1], [2, 3, 4, 5]]);
    releases[1]!();
    releases[2]!();
    expect(await Promise.all(results)).toEqual([0, 10, 20, 30, 40, 50]);
    // Idle again: the next call goes out at once.
    const next = b.add(7);
    await turn();
    expect(batches.at(-1)).toEqual([7]);
    releases[3]!();
    expect(await next).toBe(70);
  });

  it('a failed flush rejects its callers only, and gathered calls still go out afterwards', async () => {
    let n = 0;
    let fail!: () => void;
    const gate = new Promise<void>((r) => (fail = r));
    const b = new Batcher<number, number>(
      async (items) => {
        if (n++ === 0) {
          await gate;
          throw new Error('store down');
        }
        return items;
      },
      { maxInFlight: 1 },
    );
    const first = expect(b.add(1)).rejects.toThrow('store down');
    await turn();
    const second = b.add(2); // gathered behind the outstanding flush (maxInFlight 1)
    await turn();
    expect(n).toBe(1);
    fail();
    await first;
    expect(await second).toBe(2);
    expect(n).toBe(2);
  });

  it('sends a full batch even while flushes are outstanding', async () => {
    const { batches, flush } = controlledFlush();
    const b = new Batcher(flush, { maxBatch: 3, maxInFlight: 1 });
    void b.add(1);
    await turn();
    for (let i = 2; i <= 4; i++) void b.add(i);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });
});
