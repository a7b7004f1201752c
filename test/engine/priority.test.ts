import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/index.js';
import { deferred, forEachStore, openSpool, requires, sleep, waitAllTerminal, waitUntil } from './harness.js';

forEachStore((store) => {
  describe('Priorities and aging through the worker', () => {
    it('starts a critical job enqueued behind 30 normal ones next', async () => {
      const { spool } = await openSpool();
      await spool.declareQueue('work', { concurrency: 1 });
      const started: string[] = [];
      const firstMayFinish = deferred();
      spool.handle('work', async (payload) => {
        const { name } = payload as { name: string };
        started.push(name);
        if (name === 'normal-0') await firstMayFinish.promise;
        else await sleep(2);
        return name;
      });
      await spool.work({ queues: ['work'] });
      const ids: string[] = [];
      for (let i = 0; i < 30; i++) ids.push((await spool.enqueue('work', { name: `normal-${i}` })).id);
      await waitUntil(() => started.length === 1, 'the first job to start');
      const critical = await spool.enqueue('work', { name: 'critical' }, { priority: 'critical' });
      firstMayFinish.resolve();
      await waitAllTerminal(spool, [...ids, critical.id]);
      expect(started[0]).toBe('normal-0');
      expect(started[1]).toBe('critical');
      expect(started.slice(2)).toEqual(ids.slice(1).map((_, i) => `normal-${i + 1}`));
    });

    requires(store, 'settableClock')('ages a waiting low job above newer normal work, never above critical', async () => {
      const clock = new ManualClock();
      const { spool } = await openSpool({ clock });
      await spool.declareQueue('aging', { agingSeconds: 60, concurrency: 1 });
      const started: string[] = [];
      spool.handle('aging', async (payload) => {
        started.push((payload as { name: string }).name);
      });
      const old = await spool.enqueue('aging', { name: 'low-old' }, { priority: 'low' });
      // 130 s later the low job has risen two tiers, to high (the ceiling).
      clock.advance(130_000);
      const later = [
        await spool.enqueue('aging', { name: 'normal-1' }),
        await spool.enqueue('aging', { name: 'high-new' }, { priority: 'high' }),
        await spool.enqueue('aging', { name: 'normal-2' }),
        await spool.enqueue('aging', { name: 'low-new' }, { priority: 'low' }),
        await spool.enqueue('aging', { name: 'critical-new' }, { priority: 'critical' }),
      ];
      // However long it waited, the low job stops rising at high: the critical one still goes first.
      await spool.work({ queues: ['aging'] });
      await waitAllTerminal(spool, [old.id, ...later.map((j) => j.id)]);
      expect(started).toEqual(['critical-new', 'low-old', 'high-new', 'normal-1', 'normal-2', 'low-new']);
    });
  });
});
