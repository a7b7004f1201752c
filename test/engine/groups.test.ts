import { describe, expect, it } from 'vitest';
import { forEachStore, openSpool, sleep, waitAllTerminal } from './harness.js';

forEachStore(() => {
  describe('Group keys › groups.concurrency', () => {
    it('never runs more than the group limit at once across two workers on one file, and completes everything', async () => {
      const a = await openSpool();
      const b = await openSpool({ url: a.url });
      await a.spool.declareQueue('tenants', { groups: { concurrency: 2 }, maxAttempts: 3 });

      const active = new Map<string, number>();
      const maxActive = new Map<string, number>();
      let overall = 0;
      let overallMax = 0;
      const handler = async (payload: unknown): Promise<string> => {
        const { group } = payload as { group: string };
        const now = (active.get(group) ?? 0) + 1;
        active.set(group, now);
        maxActive.set(group, Math.max(maxActive.get(group) ?? 0, now));
        overallMax = Math.max(overallMax, ++overall);
        await sleep(5 + Math.random() * 15);
        active.set(group, active.get(group)! - 1);
        overall--;
        return group;
      };
      a.spool.handle('tenants', handler);
      b.spool.handle('tenants', handler);
      await a.spool.work({ queues: ['tenants'], concurrency: 16, prefetch: 8 });
      await b.spool.work({ queues: ['tenants'], concurrency: 16, prefetch: 8 });

      const groups = ['acme', 'globex', 'initech', 'umbrella', 'hooli'];
      const ids: string[] = [];
      for (let round = 0; round < 4; round++) {
        const calls = [];
        for (let i = 0; i < 25; i++) {
          const group = groups[i % groups.length]!;
          // Mix priorities: a better-ranked arrival may take a slot from a queued holder, never exceed the limit.
          const priority = i % 7 === 0 ? ('critical' as const) : i % 3 === 0 ? ('low' as const) : ('normal' as const);
          calls.push((i % 2 === 0 ? a : b).spool.enqueue('tenants', { group }, { groupKey: group, priority }));
        }
        ids.push(...(await Promise.all(calls)).map((r) => r.id));
      }
      const jobs = await waitAllTerminal(a.spool, ids, 30_000);
      expect(jobs.map((j) => j.state)).toEqual(ids.map(() => 'completed'));
      // The limit holds for every group (safety); that a group's two slots were ever busy together depends on
      // scheduling (one run on a loaded machine saw acme's jobs never overlap), so it is asked of the groups
      // together, not of each.
      for (const g of groups) expect(maxActive.get(g), `group ${g}`).toBeLessThanOrEqual(2);
      expect(Math.max(...groups.map((g) => maxActive.get(g) ?? 0))).toBe(2);
      // Groups did not hold each other up: more than one group's slots were busy at a time.
      expect(overallMax).toBeGreaterThan(2);
      expect(overallMax).toBeLessThanOrEqual(groups.length * 2);
      const [stats] = await a.spool.stats('tenants');
      expect(stats!.counts).toMatchObject({ completed: 100, active: 0, queued: 0 });
    });

    it('lets a job without a group key run beside a saturated group', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('mixed-groups', { groups: { concurrency: 1 } });
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      const started: string[] = [];
      spool.handle('mixed-groups', async (payload) => {
        const { name } = payload as { name: string };
        started.push(name);
        if (name.startsWith('busy')) await gate;
        return name;
      });
      await spool.work({ queues: ['mixed-groups'], concurrency: 8 });
      const busy = await Promise.all([1, 2, 3].map((i) => spool.enqueue('mixed-groups', { name: `busy-${i}` }, { groupKey: 'busy' })));
      const free = await spool.enqueue('mixed-groups', { name: 'free' });
      const other = await spool.enqueue('mixed-groups', { name: 'other' }, { groupKey: 'other' });
      const [freeJob, otherJob] = await waitAllTerminal(spool, [free.id, other.id], 10_000);
      expect(freeJob!.state).toBe('completed');
      expect(otherJob!.state).toBe('completed');
      // Only one of the busy group started while its first job holds the only slot.
      expect(started.filter((s) => s.startsWith('busy'))).toEqual(['busy-1']);
      release();
      const done = await waitAllTerminal(spool, busy.map((j) => j.id), 10_000);
      expect(done.map((j) => j.state)).toEqual(['completed', 'completed', 'completed']);
    });
  });
});
