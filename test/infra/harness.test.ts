/**
 * The engine harness's store parametrisation: one block per store under test, `openSpool()` on the block's
 * store, `{ url }` to share one store between two Spools, capability gating that says why it skips, and
 * fresh locations removed after each test.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/index.js';
import { forEachStore, openSpool, openSqliteSpool, requires, type StoreUnderTest } from '../engine/harness.js';
import { schemaOf, testDatabaseUrl, withClient } from '../helpers/pg-schema.js';
import { storesUnderTest } from '../helpers/stores.js';

const blocks: string[] = [];
const locations: Array<{ kind: string; url: string }> = [];

async function locationExists(kind: string, url: string): Promise<boolean> {
  if (kind === 'sqlite') return existsSync(url.slice('sqlite:'.length));
  return withClient(testDatabaseUrl(), async (c) => (await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schemaOf(url)])).rowCount === 1);
}

forEachStore((store) => {
  blocks.push(store.kind);

  describe('openSpool inside forEachStore', () => {
    it('opens a fresh, empty store of the block\'s kind', async () => {
      const t = await openSpool();
      expect(t.kind).toBe(store.kind);
      expect(t.spool.store.kind).toBe(store.kind);
      expect(t.spool.store.capabilities).toEqual(store.capabilities);
      expect((await t.spool.listQueues()).map((q) => q.name), 'only the internal queue').toEqual(['spool.webhooks']);
      if (store.kind === 'sqlite') expect(t.url).toBe(`sqlite:${t.file}`);
      else expect(schemaOf(t.url)).toMatch(/^spool_t_harness_[0-9a-f]{8}$/);
      locations.push({ kind: store.kind, url: t.url });
      expect(await locationExists(store.kind, t.url)).toBe(true);
    });

    it('removed the previous test\'s location after it', async () => {
      const previous = locations.filter((l) => l.kind === store.kind);
      expect(previous).toHaveLength(1);
      expect(await locationExists(store.kind, previous[0]!.url)).toBe(false);
    });

    it('shares one store between two Spools with { url }; two plain calls get two stores', async () => {
      const a = await openSpool();
      const b = await openSpool({ url: a.url });
      const c = await openSpool();
      await a.spool.declareQueue('shared');
      const { id } = await a.spool.enqueue('shared', { n: 1 });
      expect((await b.spool.getJob(id)).payload).toEqual({ n: 1 });
      expect(c.url).not.toBe(a.url);
      expect((await c.spool.listQueues()).map((q) => q.name)).toEqual(['spool.webhooks']);
    });

    requires(store, 'settableClock')('takes a ManualClock when the store can be given one', async () => {
      const clock = new ManualClock(Date.UTC(2030, 0, 1));
      const { spool } = await openSpool({ clock });
      expect(await spool.store.clockNow()).toBe(Date.UTC(2030, 0, 1));
      clock.advance(60_000);
      expect(await spool.store.clockNow()).toBe(Date.UTC(2030, 0, 1, 0, 1));
    });
  });
});

describe('harness outside forEachStore', () => {
  it('declared one block per store under test, in order', () => {
    expect(blocks).toEqual(storesUnderTest().map((s) => s.kind));
  });

  it('openSpool() is SQLite, and openSqliteSpool() gives the file', async () => {
    const t = await openSpool();
    expect(t.kind).toBe('sqlite');
    const s = await openSqliteSpool({ file: t.file! });
    expect(s.file).toBe(t.file);
    expect(s.url).toBe(t.url);
  });

  it('refuses a ManualClock on a store without settableClock, and { file } off SQLite', async () => {
    const noClock: StoreUnderTest = { ...storesUnderTest()[0]!, kind: 'postgres', capabilities: { settableClock: false, transactionalEnqueue: false, multiProcess: true } };
    await expect(openSpool({ store: noClock, clock: new ManualClock() })).rejects.toThrow(/lacks settableClock/);
    await expect(openSpool({ store: noClock, file: '/tmp/x.db' })).rejects.toThrow(/SQLite only/);
    await expect(openSpool({ file: undefined })).rejects.toThrow(/no file to reopen/);
  });
});
