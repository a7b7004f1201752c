import { describe, expect, it } from 'vitest';
import type { Job } from '../../src/index.js';
import { startChild } from '../helpers/fault-process.js';
import { openSqliteSpool, sleep, waitUntil } from './harness.js';

// SQLite only by nature: its subject is two processes sharing one database file (the PostgreSQL
// multi-process tests are their own, over one database).
describe('Two processes on one SQLite file', () => {
  it('a child-process worker and an in-process worker run 2,000 jobs enqueued meanwhile exactly once', async () => {
    const { spool, url } = await openSqliteSpool();
    await spool.declareQueue('shared', { maxAttempts: 3 });
    const child = startChild('test/faults/children/worker.ts', { url, queue: 'shared', mode: 'record', concurrency: 16, delayMs: 3, maintenance: true });
    await child.waitForLine((l) => l === 'READY', 30_000);

    const runsHere = new Map<string, number>();
    spool.handle('shared', async (_payload, ctx) => {
      runsHere.set(ctx.job.id, (runsHere.get(ctx.job.id) ?? 0) + 1);
      await sleep(Math.random() * 3);
      return { pid: process.pid };
    });
    await spool.work({ queues: ['shared'], concurrency: 8 });

    const ids: string[] = [];
    for (let burst = 0; burst < 40; burst++) {
      const receipts = await Promise.all(Array.from({ length: 50 }, (_, i) => spool.enqueue('shared', { n: burst * 50 + i })));
      ids.push(...receipts.map((r) => r.id));
      await sleep(5);
    }
    expect(new Set(ids).size).toBe(2000);

    await waitUntil(async () => (await spool.stats('shared'))[0]!.counts.completed === 2000, 'all 2,000 jobs to complete', { timeoutMs: 45_000, intervalMs: 100 });

    const jobs: Job[] = [];
    let cursor: string | null = null;
    do {
      const page = await spool.listJobs({ queue: 'shared', limit: 1000, cursor });
      jobs.push(...page.jobs);
      cursor = page.nextCursor;
    } while (cursor);
    expect(jobs).toHaveLength(2000);
    expect(jobs.filter((j) => j.state !== 'completed' || j.attempts !== 1)).toEqual([]);

    // Each id ran exactly once, in one process or the other, and the stored result names that process.
    const runsThere = new Map<string, number>();
    for (const line of child.ledger()) {
      const m = /^RUN (\S+) (\d+)$/.exec(line);
      if (m) runsThere.set(m[1]!, (runsThere.get(m[1]!) ?? 0) + 1);
    }
    for (const job of jobs) {
      const here = runsHere.get(job.id) ?? 0;
      const there = runsThere.get(job.id) ?? 0;
      expect(here + there, `runs of ${job.id}`).toBe(1);
      expect((job.result as { pid: number }).pid).toBe(here === 1 ? process.pid : child.process.pid);
    }
    expect(runsHere.size + runsThere.size).toBe(2000);
    // Both processes took part.
    expect(runsHere.size).toBeGreaterThan(0);
    expect(runsThere.size).toBeGreaterThan(0);

    child.kill('SIGTERM');
    expect(await child.exited).toEqual({ code: 0, signal: null });
  });
});
