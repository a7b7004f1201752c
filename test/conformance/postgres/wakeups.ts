/** PostgreSQL-only: wake-ups across stores through LISTEN/NOTIFY, and the polling fallback while LISTEN is down. */
import { describe, expect, it } from 'vitest';
import type { StoreEvent } from '../../../src/storage/store.js';
import { declareQueue, enqueue, jobInput } from '../../helpers/store-fixtures.js';
import type { PgTestContext } from './helpers.js';

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function wakeupSuite(t: PgTestContext): void {
  describe('PostgresStore.subscribe', () => {
    it('another store’s commit wakes a subscriber with the queue names, one event per transaction', async () => {
      const listener = await t.open();
      const writer = await t.open({ schema: listener.schema });
      await declareQueue(writer, 'emails');
      await declareQueue(writer, 'reports');
      const events: StoreEvent[] = [];
      const unsubscribe = listener.subscribe((e) => events.push(e));
      await until(() => listener.listening, 'LISTEN');
      await writer.jobInsertMany({ jobs: ['emails', 'reports', 'emails'].map((queue) => jobInput(queue)) });
      await until(() => events.length > 0, 'a NOTIFY');
      await new Promise((r) => setTimeout(r, 100));
      expect(events).toHaveLength(1);
      expect([...(events[0]!.queues ?? [])].sort()).toEqual(['emails', 'reports']);
      // A delayed job makes nothing claimable: no NOTIFY.
      await enqueue(writer, 'emails', { delayMs: 60_000 });
      await new Promise((r) => setTimeout(r, 150));
      expect(events).toHaveLength(1);
      unsubscribe();
    });

    it('polls ({queues: null}) while the LISTEN connection is down, and listens again after reconnecting', async () => {
      const listener = await t.open();
      const writer = await t.open({ schema: listener.schema });
      await declareQueue(writer, 'q');
      const events: StoreEvent[] = [];
      listener.subscribe((e) => events.push(e));
      await until(() => listener.listening, 'LISTEN');
      await t.admin.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1`, [`LISTEN "spool_wake:${listener.schema}"`]);
      await until(() => events.some((e) => e.queues === null), 'a polling wake-up');
      await until(() => listener.listening, 'LISTEN again');
      events.length = 0;
      await enqueue(writer, 'q');
      await until(() => events.some((e) => e.queues?.includes('q') === true), 'a NOTIFY after reconnecting');
    });
  });
}
