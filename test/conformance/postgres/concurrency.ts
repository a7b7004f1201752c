/**
 * PostgreSQL-only: several stores (as several processes would) on one schema at once — concurrent
 * migrations, claims that never hand a job out twice, group limits and ordering heads that hold across stores.
 */
import { describe, expect, it } from 'vitest';
import { MIGRATIONS } from '../../../src/storage/postgres/migrations.js';
import type { ClaimedJob } from '../../../src/storage/store.js';
import { claim, declareQueue, enqueue, insertOk, jobInput, statsOf } from '../../helpers/store-fixtures.js';
import type { PgTestContext } from './helpers.js';

export function concurrencySuite(t: PgTestContext): void {
  describe('PostgresStore across several stores on one schema', () => {
    it('concurrent migrations of a fresh schema apply each migration once', async () => {
      const first = await t.open({ migrate: false });
      await expect(first.ping()).rejects.toMatchObject({ code: 'store_unavailable', message: 'migrations not applied' });
      const others = await Promise.all(Array.from({ length: 4 }, () => t.open({ schema: first.schema, migrate: false })));
      const applied = await Promise.all([first, ...others].map((s) => s.migrate()));
      // One opener applies every migration, in order; the others wait on the lock and find the schema current.
      const appliedLists = applied.map((a) => a.applied).sort((a, b) => a.length - b.length);
      expect(appliedLists).toEqual([[], [], [], [], MIGRATIONS.map((m) => m.version)]);
      await first.ping();
    });

    it('concurrent claims from four stores hand out each job exactly once', async () => {
      const a = await t.open();
      const stores = [a, ...(await Promise.all(Array.from({ length: 3 }, () => t.open({ schema: a.schema }))))];
      await declareQueue(a, 'q');
      const receipts = await insertOk(a, Array.from({ length: 200 }, () => jobInput('q')));
      const seen: string[] = [];
      await Promise.all(
        stores.map(async (s) => {
          for (;;) {
            const batch = await claim(s, 'q', 7);
            if (batch.length === 0) return;
            seen.push(...batch.map((j) => j.id));
          }
        }),
      );
      expect(seen).toHaveLength(200);
      expect(new Set(seen).size).toBe(200);
      expect([...seen].sort()).toEqual(receipts.map((r) => r.id).sort());
      expect((await statsOf(a, 'q')).counts).toMatchObject({ queued: 0, active: 200 });
    });

    it('a group limit holds while several stores insert, claim and complete concurrently', async () => {
      const a = await t.open();
      const stores = [a, ...(await Promise.all(Array.from({ length: 3 }, () => t.open({ schema: a.schema }))))];
      await declareQueue(a, 'q', { groups: { concurrency: 2 } });
      // Inserts race each other from every store.
      await Promise.all(stores.map((s) => Promise.all(Array.from({ length: 10 }, () => enqueue(s, 'q', { groupKey: 'g' })))));
      let active = 0;
      let maxActive = 0;
      let done = 0;
      await Promise.all(
        stores.map(async (s) => {
          while (done < 40) {
            const batch: ClaimedJob[] = await claim(s, 'q', 5);
            active += batch.length;
            maxActive = Math.max(maxActive, active);
            if (batch.length === 0) {
              await new Promise((r) => setTimeout(r, 2));
              continue;
            }
            await new Promise((r) => setTimeout(r, 3));
            active -= batch.length;
            await s.jobCompleteMany({ jobs: batch.map((j) => ({ id: j.id, leaseToken: j.leaseToken, resultJson: null })) });
            done += batch.length;
          }
        }),
      );
      expect(done).toBe(40);
      expect(maxActive).toBeLessThanOrEqual(2);
      const slots = await t.admin.query(
        `SELECT count(*)::int AS n FROM "${a.schema}".jobs WHERE group_key = 'g' AND (state = 'active' OR (state = 'queued' AND hold = 0))`,
      );
      expect(slots.rows[0].n).toBe(0);
    });

    it('one idempotency key raced from four stores makes one job; the others replay it or get a typed reuse error', async () => {
      const a = await t.open();
      const stores = [a, ...(await Promise.all(Array.from({ length: 3 }, () => t.open({ schema: a.schema }))))];
      await declareQueue(a, 'q');
      const results = await Promise.all(
        stores.flatMap((s, i) =>
          Array.from({ length: 5 }, () => s.jobInsertMany({ jobs: [jobInput('q', { idempotency: { key: 'k', fingerprint: i % 2 === 0 ? 'even' : 'odd' } })] })),
        ),
      );
      const items = results.map((r) => r[0]!);
      const created = items.filter((r) => r.ok && !r.replayed);
      expect(created).toHaveLength(1);
      const winner = created[0]!.ok ? created[0]!.receipt.id : '';
      for (const item of items) {
        if (item.ok) expect(item.receipt.id).toBe(winner);
        else expect(item.error.code).toBe('idempotency_key_reused');
      }
      expect((await statsOf(a, 'q')).totals.enqueued).toBe(1);
    });

    it('concurrent inserts of one ordering key from several stores open exactly one head', async () => {
      const a = await t.open();
      const stores = [a, ...(await Promise.all(Array.from({ length: 3 }, () => t.open({ schema: a.schema }))))];
      await declareQueue(a, 'q');
      await Promise.all(stores.map((s) => Promise.all(Array.from({ length: 5 }, () => enqueue(s, 'q', { orderingKey: 'k' })))));
      const heads = await t.admin.query(
        `SELECT count(*)::int AS n FROM "${a.schema}".jobs WHERE ordering_key = 'k' AND hold <> 1 AND state IN ('scheduled', 'queued', 'active', 'retrying')`,
      );
      expect(heads.rows[0].n).toBe(1);
      // Drained one at a time, in order, from any store.
      for (let i = 0; i < 20; i++) {
        const s = stores[i % stores.length]!;
        const batch = await claim(s, 'q', 10);
        expect(batch).toHaveLength(1);
        await s.jobCompleteMany({ jobs: [{ id: batch[0]!.id, leaseToken: batch[0]!.leaseToken, resultJson: null }] });
      }
      expect(await claim(a, 'q', 10)).toEqual([]);
    });
  });
}
