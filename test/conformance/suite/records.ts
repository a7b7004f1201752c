/** Configuration records (keys, topics, schedules) with compare-and-set by version, and the audit log. */
import { describe, expect, it } from 'vitest';
import type { StoreFactory } from '../factory.js';

export function recordsSuite(factory: StoreFactory): void {
  describe(`records [${factory.name}]`, () => {
    it('creates at version 1, bumps the version on every write, lists by kind in name order, deletes', async () => {
      const store = await factory.open();
      const a = await store.recordPut({ kind: 'topic', name: 'orders', valueJson: '{"queues":["a"]}' });
      expect(a).toMatchObject({ ok: true, created: true, record: { kind: 'topic', name: 'orders', valueJson: '{"queues":["a"]}', version: 1 } });
      const b = await store.recordPut({ kind: 'topic', name: 'orders', valueJson: '{"queues":["a","b"]}' });
      expect(b).toMatchObject({ ok: true, created: false, record: { version: 2, valueJson: '{"queues":["a","b"]}' } });
      expect(b.record!.createdAt.getTime()).toBe(a.record!.createdAt.getTime());
      await store.recordPut({ kind: 'topic', name: 'billing', valueJson: '{}' });
      await store.recordPut({ kind: 'schedule', name: 'nightly', valueJson: '{}' });
      expect((await store.recordList({ kind: 'topic' })).map((r) => r.name)).toEqual(['billing', 'orders']);
      expect((await store.recordList({ kind: 'key' })).length).toBe(0);
      expect(await store.recordGet({ kind: 'schedule', name: 'orders' })).toBeNull();
      expect(await store.recordDelete({ kind: 'topic', name: 'orders' })).toBe(true);
      expect(await store.recordDelete({ kind: 'topic', name: 'orders' })).toBe(false);
      expect(await store.recordGet({ kind: 'topic', name: 'orders' })).toBeNull();
    });

    it('create-only (expectVersion null) refuses an existing record and reports what is stored', async () => {
      const store = await factory.open();
      expect((await store.recordPut({ kind: 'key', name: 'k1', valueJson: '"first"', expectVersion: null })).ok).toBe(true);
      const second = await store.recordPut({ kind: 'key', name: 'k1', valueJson: '"second"', expectVersion: null });
      expect(second).toMatchObject({ ok: false, created: false, record: { valueJson: '"first"', version: 1 } });
    });

    it('compare-and-set writes only over the expected version; of racing writers with one version, one wins', async () => {
      const store = await factory.open();
      await store.recordPut({ kind: 'schedule', name: 's', valueJson: '0' });
      const stale = await store.recordPut({ kind: 'schedule', name: 's', valueJson: 'x', expectVersion: 7 });
      expect(stale).toMatchObject({ ok: false, record: { version: 1, valueJson: '0' } });
      const missing = await store.recordPut({ kind: 'schedule', name: 'nope', valueJson: 'x', expectVersion: 1 });
      expect(missing).toEqual({ ok: false, created: false, record: null });
      const racers = await Promise.all(Array.from({ length: 8 }, (_, i) => store.recordPut({ kind: 'schedule', name: 's', valueJson: String(i + 1), expectVersion: 1 })));
      const winners = racers.filter((r) => r.ok);
      expect(winners).toHaveLength(1);
      const stored = await store.recordGet({ kind: 'schedule', name: 's' });
      expect(stored).toMatchObject({ version: 2, valueJson: winners[0]!.record!.valueJson });
    });
  });

  describe(`audit log [${factory.name}]`, () => {
    it('appends entries and pages them newest first with a cursor', async () => {
      const store = await factory.open();
      for (let i = 0; i < 5; i++) {
        await store.auditAppend({ entries: [{ actor: 'admin-token', action: 'queue.put', target: `q${i}`, detailJson: i % 2 ? null : `{"i":${i}}` }] });
      }
      await store.auditAppend({
        entries: [
          { actor: 'key_1', action: 'dead.replay', target: 'q5', detailJson: '{"replayed":3}' },
          { actor: 'key_1', action: 'dead.purge', target: 'q6', detailJson: null },
        ],
      });
      const first = await store.auditList({ limit: 4 });
      expect(first.entries.map((e) => e.target)).toEqual(['q6', 'q5', 'q4', 'q3']);
      expect(first.entries[1]).toMatchObject({ actor: 'key_1', action: 'dead.replay', detailJson: '{"replayed":3}' });
      expect(first.entries[0]!.at).toBeInstanceOf(Date);
      expect(first.nextCursor).not.toBeNull();
      const second = await store.auditList({ limit: 4, cursor: first.nextCursor });
      expect(second.entries.map((e) => e.target)).toEqual(['q2', 'q1', 'q0']);
      expect(second.entries[2]!.detailJson).toBe('{"i":0}');
      expect(second.nextCursor).toBeNull();
      await expect(store.auditList({ limit: 4, cursor: 'not-a-cursor' })).rejects.toMatchObject({ code: 'invalid_argument' });
    });
  });
}
