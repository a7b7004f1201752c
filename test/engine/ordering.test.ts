import { describe, expect, it } from 'vitest';
import { forEachStore, openSpool, sleep, waitAllTerminal, waitForState } from './harness.js';

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

forEachStore(() => {
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

    it('with ordering.onDead "block", a dead head stops its key until it is replayed; other keys go on', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('blocking', { maxAttempts: 1, ordering: { onDead: 'block' } });
      let broken = true;
      const ran: string[] = [];
      spool.handle('blocking', async (payload) => {
        const { name } = payload as { name: string };
        ran.push(name);
        if (name === 'a1' && broken) throw new Error('a1 fails');
        return name;
      });
      await spool.work({ queues: ['blocking'] });
      const a1 = await spool.enqueue('blocking', { name: 'a1' }, { orderingKey: 'a' });
      const a2 = await spool.enqueue('blocking', { name: 'a2' }, { orderingKey: 'a' });
      const b1 = await spool.enqueue('blocking', { name: 'b1' }, { orderingKey: 'b' });
      await waitForState(spool, a1.id, 'dead');
      await waitForState(spool, b1.id, 'completed');
      await sleep(200);
      expect((await spool.getJob(a2.id)).state).toBe('queued');
      expect(ran).not.toContain('a2');

      broken = false;
      await spool.dlq.replay('blocking', { ids: [a1.id] });
      const [first, second] = await waitAllTerminal(spool, [a1.id, a2.id]);
      expect([first!.state, second!.state]).toEqual(['completed', 'completed']);
      expect(ran.filter((n) => n.startsWith('a'))).toEqual(['a1', 'a1', 'a2']);
    });

    it('with ordering.onDead "continue" (default), the key moves on past a dead head', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('continuing', { maxAttempts: 1 });
      const ran: string[] = [];
      spool.handle('continuing', async (payload) => {
        const { name } = payload as { name: string };
        ran.push(name);
        if (name === 'a1') throw new Error('a1 fails');
        return name;
      });
      await spool.work({ queues: ['continuing'] });
      const a1 = await spool.enqueue('continuing', { name: 'a1' }, { orderingKey: 'a' });
      const a2 = await spool.enqueue('continuing', { name: 'a2' }, { orderingKey: 'a' });
      const [dead, next] = await waitAllTerminal(spool, [a1.id, a2.id]);
      expect([dead!.state, next!.state]).toEqual(['dead', 'completed']);
      expect(ran).toEqual(['a1', 'a2']);
    });
  });
});
