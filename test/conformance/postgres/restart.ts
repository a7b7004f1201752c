/**
 * PostgreSQL-only: a database restart during a burst of enqueues, on a private throwaway cluster (never the
 * machine's shared one). Nothing acknowledged is lost; while the database is down, calls fail fast with
 * StoreUnavailableError; afterwards the store (pool and LISTEN connection) recovers by itself.
 */
import { describe, expect, it } from 'vitest';
import { StoreUnavailableError } from '../../../src/core/errors.js';
import { PostgresStore } from '../../../src/storage/postgres/postgres-store.js';
import type { StoreEvent } from '../../../src/storage/store.js';
import { declareQueue, jobInput } from '../../helpers/store-fixtures.js';
import { startPgCluster } from '../../helpers/pg-cluster.js';

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export function restartSuite(): void {
  describe('PostgresStore across a database restart (private cluster)', () => {
    it('keeps every acknowledged enqueue, fails fast while down, and recovers pool and LISTEN by itself', async () => {
      const cluster = await startPgCluster();
      const store = new PostgresStore({ url: cluster.url, schema: 'spool', pollIntervalMs: 50 });
      try {
        await store.migrate();
        await declareQueue(store, 'q');
        const events: StoreEvent[] = [];
        store.subscribe((e) => events.push(e));
        await until(() => store.listening, 'LISTEN');

        const acknowledged: string[] = [];
        const refused: unknown[] = [];
        let stop = false;
        const producers = Array.from({ length: 4 }, async () => {
          while (!stop) {
            const job = jobInput('q');
            try {
              const [result] = await store.jobInsertMany({ jobs: [job] });
              if (result?.ok) acknowledged.push(job.id);
            } catch (error) {
              refused.push(error);
              await new Promise((r) => setTimeout(r, 20));
            }
          }
        });
        await until(() => acknowledged.length >= 50, 'enqueues before the restart');
        await cluster.stop();
        const t0 = Date.now();
        await expect(store.jobInsertMany({ jobs: [jobInput('q')] })).rejects.toBeInstanceOf(StoreUnavailableError);
        expect(Date.now() - t0).toBeLessThan(2000);
        await until(() => events.some((e) => e.queues === null), 'polling wake-ups while LISTEN is down');
        const beforeStart = acknowledged.length;
        await cluster.start();
        await until(() => acknowledged.length > beforeStart + 50, 'enqueues after the restart');
        stop = true;
        await Promise.all(producers);

        expect(refused.length).toBeGreaterThan(0);
        for (const error of refused) expect(error).toBeInstanceOf(StoreUnavailableError);
        const stored = await store.jobGetMany({ ids: acknowledged });
        expect(stored.map((j) => j.id).sort()).toEqual([...acknowledged].sort());
        const [stats] = await store.queueStatsGet({ queues: ['q'] });
        expect(stats!.counts.queued).toBe(stored.length);
        await until(() => store.listening, 'LISTEN after the restart');
      } finally {
        await store.close();
        await cluster.destroy();
      }
    });
  });
}
