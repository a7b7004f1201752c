/**
 * Schedules through the library: validation, due times in a time zone across a DST change, downtime
 * (one job, not one per missed tick), a crash between enqueue and the record's compare-and-set, and two
 * nodes on one store never enqueueing a due time twice. Time is a ManualClock shared by the store(s).
 */
import { describe, expect } from 'vitest';
import { ManualClock, StoreUnavailableError } from '../../src/index.js';
import type { Spool } from '../../src/spool.js';
import type { Store } from '../../src/storage/store.js';
import { runDueSchedules } from '../../src/worker/maintenance/schedule-runner.js';
import { forEachStore, openSpool, requires, waitUntil } from './harness.js';

const MINUTE = 60_000;
const at = (iso: string) => Date.parse(iso);

async function jobsIn(spool: Spool, queue: string) {
  return (await spool.listJobs({ queue, limit: 500 })).jobs;
}

/** One run of the runner on this process's store, leader or not (as maintenance's runOnce does). */
function runOnce(spool: Spool) {
  return runDueSchedules(spool.store, { jobType: () => undefined });
}

forEachStore((store) => {
  const withClock = requires(store, 'settableClock');

  describe('Spool schedules', () => {
    withClock('refuses a bad cron, time zone, queue, payload or name with pointers, and writes nothing', async () => {
      const clock = new ManualClock(at('2025-01-10T12:00:00Z'));
      const { spool } = await openSpool({ clock });
      await spool.declareQueue('reports', { schema: { type: 'object', required: ['kind'] } });
      const bad = async (config: object, path: string, message?: RegExp) => {
        const error = await spool.putSchedule('nightly', { cron: '0 3 * * *', queue: 'reports', payload: { kind: 'x' }, ...config }).catch((e: unknown) => e);
        expect(error).toMatchObject({ code: 'validation_failed' });
        const hit = (error as { errors: Array<{ path: string; message: string }> }).errors.find((e) => e.path === path);
        expect(hit, `${path} in ${JSON.stringify(error)}`).toBeDefined();
        if (message) expect(hit!.message).toMatch(message);
      };
      await bad({ cron: '61 * * * *' }, '/cron', /minute/);
      await bad({ cron: '* * * *' }, '/cron');
      await bad({ cron: '* * * * * * *' }, '/cron'); // 7 fields (years) are not accepted
      await bad({ cron: '0 0 30 2 *' }, '/cron', /no date/); // February 30th never comes
      await bad({ cron: ' 0 3 * * *' }, '/cron');
      await bad({ timezone: 'Mars/Olympus_Mons' }, '/timezone', /not a known/);
      await bad({ timezone: '+01:00' }, '/timezone');
      await bad({ timezone: 'europe/berlin' }, '/timezone', /Europe\/Berlin/);
      await bad({ queue: 'missing' }, '/queue', /not declared/);
      await bad({ queue: 'bad name' }, '/queue');
      await bad({ payload: { other: 1 } }, '/payload/kind');
      await bad({ payload: undefined }, '/payload');
      await bad({ priority: 'urgent' }, '/priority');
      await expect(spool.putSchedule('bad name', { cron: '0 3 * * *', queue: 'reports', payload: { kind: 'x' } })).rejects.toMatchObject({ code: 'invalid_argument' });
      expect(await spool.listSchedules()).toEqual([]);
      await expect(spool.getSchedule('nightly')).rejects.toMatchObject({ code: 'schedule_not_found' });
    });

    withClock('creates, updates, lists and deletes; an update of the timing recomputes from now, one of the job keeps the pending due time', async () => {
      const clock = new ManualClock(at('2025-01-10T12:00:30Z'));
      const { spool } = await openSpool({ clock });
      await spool.declareQueue('reports');
      const created = await spool.putSchedule('tick', { cron: '*/5 * * * *', queue: 'reports', payload: { n: 1 } });
      expect(created).toMatchObject({ name: 'tick', created: true, timezone: 'UTC', type: null, priority: null, lastRunAt: null, lastJobId: null, lastError: null });
      expect(created.nextRunAt!.toISOString()).toBe('2025-01-10T12:05:00.000Z');
      clock.set(at('2025-01-10T12:06:00Z')); // 12:05 is due and not yet enqueued
      const edited = await spool.putSchedule('tick', { cron: '*/5 * * * *', queue: 'reports', payload: { n: 2 }, priority: 'high' });
      expect(edited).toMatchObject({ created: false, priority: 'high', payload: { n: 2 } });
      expect(edited.nextRunAt!.toISOString()).toBe('2025-01-10T12:05:00.000Z'); // kept: the due time is not dropped
      const retimed = await spool.putSchedule('tick', { cron: '*/7 * * * *', queue: 'reports', payload: { n: 2 } });
      expect(retimed.nextRunAt!.toISOString()).toBe('2025-01-10T12:07:00.000Z'); // from now, no catch-up of 12:05
      await spool.putSchedule('other', { cron: '@daily', timezone: 'Asia/Tokyo', queue: 'reports', payload: null });
      expect((await spool.listSchedules()).map((s) => [s.name, s.nextRunAt?.toISOString()])).toEqual([
        ['other', '2025-01-10T15:00:00.000Z'], // midnight in Tokyo
        ['tick', '2025-01-10T12:07:00.000Z'],
      ]);
      expect(await spool.deleteSchedule('tick')).toBe(true);
      expect(await spool.deleteSchedule('tick')).toBe(false);
      clock.set(at('2025-01-10T12:30:00Z'));
      await runOnce(spool);
      expect(await jobsIn(spool, 'reports')).toHaveLength(0); // a deleted schedule enqueues nothing
    });

    withClock('fires at its due times in its time zone, across a DST change (Europe/Berlin, 9:00 local)', async () => {
      const clock = new ManualClock(at('2025-03-29T06:00:00Z')); // Saturday; clocks go forward on Sunday 30 March
      const { spool } = await openSpool({ clock });
      await spool.declareQueue('reports');
      const s = await spool.putSchedule('morning', { cron: '0 9 * * *', timezone: 'Europe/Berlin', queue: 'reports', payload: { r: 1 }, type: 'report' });
      expect(s.nextRunAt!.toISOString()).toBe('2025-03-29T08:00:00.000Z'); // 09:00 CET (UTC+1)

      clock.set(at('2025-03-29T07:59:59Z'));
      expect((await runOnce(spool)).enqueued).toBe(0);
      clock.set(at('2025-03-29T08:00:00Z'));
      expect(await runOnce(spool)).toEqual({ enqueued: 1, nextDueAt: at('2025-03-30T07:00:00Z') }); // 09:00 CEST (UTC+2)
      expect((await runOnce(spool)).enqueued).toBe(0);
      clock.set(at('2025-03-30T07:00:00.250Z'));
      expect((await runOnce(spool)).enqueued).toBe(1);

      const jobs = (await jobsIn(spool, 'reports')).reverse();
      expect(jobs.map((j) => [j.runAt.toISOString(), j.state, j.type])).toEqual([
        ['2025-03-29T08:00:00.000Z', 'queued', 'report'],
        ['2025-03-30T07:00:00.000Z', 'queued', 'report'],
      ]);
      const after = await spool.getSchedule('morning');
      expect(after.lastRunAt!.toISOString()).toBe('2025-03-30T07:00:00.000Z');
      expect(after.lastJobId).toBe(jobs[1]!.id);
      expect(after.nextRunAt!.toISOString()).toBe('2025-03-31T07:00:00.000Z');
    });

    withClock('runs a fixed local time once on the day the hour repeats (Europe/Berlin, 02:30 on 26 October)', async () => {
      const clock = new ManualClock(at('2025-10-25T12:00:00Z'));
      const { spool } = await openSpool({ clock });
      await spool.declareQueue('reports');
      await spool.putSchedule('late', { cron: '30 2 * * *', timezone: 'Europe/Berlin', queue: 'reports', payload: null });
      for (const iso of ['2025-10-26T00:30:00Z', '2025-10-26T01:30:00Z', '2025-10-26T02:30:00Z', '2025-10-27T01:30:00Z']) {
        clock.set(at(iso));
        await runOnce(spool);
      }
      // 02:30 CEST (00:30Z) on the 26th, not again at 02:30 CET (01:30Z); then 02:30 CET (01:30Z) on the 27th.
      expect((await jobsIn(spool, 'reports')).map((j) => j.runAt.toISOString()).sort()).toEqual(['2025-10-26T00:30:00.000Z', '2025-10-27T01:30:00.000Z']);
    });

    withClock('after downtime of five periods enqueues one job for the missed runs, then carries on', async () => {
      const clock = new ManualClock(at('2025-01-10T12:00:30Z'));
      const { spool } = await openSpool({ clock });
      await spool.declareQueue('reports');
      await spool.putSchedule('tick', { cron: '*/10 * * * *', queue: 'reports', payload: null });
      clock.set(at('2025-01-10T12:00:30Z') + 5 * 10 * MINUTE); // 12:50:30: 12:10 … 12:50 were all missed
      expect((await runOnce(spool)).enqueued).toBe(1);
      expect((await runOnce(spool)).enqueued).toBe(0);
      const [job] = await jobsIn(spool, 'reports');
      expect(job!.runAt.toISOString()).toBe('2025-01-10T12:10:00.000Z'); // the first missed due time stands for all of them
      const s = await spool.getSchedule('tick');
      expect(s.lastRunAt!.toISOString()).toBe('2025-01-10T12:10:00.000Z');
      expect(s.nextRunAt!.toISOString()).toBe('2025-01-10T13:00:00.000Z');
      clock.set(at('2025-01-10T13:00:00Z'));
      expect((await runOnce(spool)).enqueued).toBe(1);
      expect(await jobsIn(spool, 'reports')).toHaveLength(2);
    });

    withClock('a crash between the enqueue and the record update does not double the due time', async () => {
      const clock = new ManualClock(at('2025-01-10T12:00:30Z'));
      const { spool } = await openSpool({ clock });
      await spool.declareQueue('reports');
      await spool.putSchedule('tick', { cron: '*/10 * * * *', queue: 'reports', payload: { a: 1 } });
      clock.set(at('2025-01-10T12:10:00Z'));
      // The store fails the record's compare-and-set, as if the process died right after the job's commit.
      const crashing = new Proxy(spool.store, {
        get(target, prop, receiver) {
          if (prop === 'recordPut') return () => Promise.reject(new StoreUnavailableError('connection lost'));
          const value = Reflect.get(target, prop, receiver) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      }) as Store;
      await expect(runDueSchedules(crashing, { jobType: () => undefined })).rejects.toMatchObject({ code: 'store_unavailable' });
      expect(await jobsIn(spool, 'reports')).toHaveLength(1);
      expect((await spool.getSchedule('tick')).nextRunAt!.toISOString()).toBe('2025-01-10T12:10:00.000Z'); // not advanced
      // Recovery (even after the schedule's payload was edited): the same due time's key, no second job.
      await spool.putSchedule('tick', { cron: '*/10 * * * *', queue: 'reports', payload: { a: 2 } });
      expect((await runOnce(spool)).enqueued).toBe(0);
      const jobs = await jobsIn(spool, 'reports');
      expect(jobs).toHaveLength(1);
      const s = await spool.getSchedule('tick');
      expect(s).toMatchObject({ lastJobId: jobs[0]!.id, lastError: null });
      expect(s.nextRunAt!.toISOString()).toBe('2025-01-10T12:20:00.000Z');
    });

    withClock('skips a due time the queue now refuses, says why, and goes on', async () => {
      const clock = new ManualClock(at('2025-01-10T12:00:30Z'));
      const { spool } = await openSpool({ clock });
      await spool.declareQueue('reports');
      await spool.putSchedule('tick', { cron: '*/10 * * * *', queue: 'reports', payload: { a: 1 } });
      await spool.declareQueue('reports', { schema: { type: 'object', required: ['b'] } }); // the contract changed since
      clock.set(at('2025-01-10T12:10:00Z'));
      expect((await runOnce(spool)).enqueued).toBe(0);
      const s = await spool.getSchedule('tick');
      expect(s.lastError).toMatch(/\/payload\/b/);
      expect(s.nextRunAt!.toISOString()).toBe('2025-01-10T12:20:00.000Z');
    });

    withClock('two nodes running at the same time never enqueue a due time twice', async () => {
      const clock = new ManualClock(at('2025-01-10T12:00:30Z'));
      const a = await openSpool({ clock });
      const b = await openSpool({ clock, url: a.url });
      await a.spool.declareQueue('reports');
      await a.spool.putSchedule('tick', { cron: '* * * * *', queue: 'reports', payload: { same: true } });
      await a.spool.putSchedule('tock', { cron: '*/2 * * * *', queue: 'reports', payload: { same: false } });
      let ran = 0;
      for (let i = 1; i <= 12; i++) {
        clock.set(at('2025-01-10T12:00:30Z') + i * MINUTE);
        // Both run at once, as two leaders would during a takeover; each run sees the same due times.
        const [ra, rb] = await Promise.all([runOnce(a.spool), runOnce(b.spool)]);
        ran += ra.enqueued + rb.enqueued;
      }
      const jobs = await jobsIn(a.spool, 'reports');
      const dueTimes = jobs.map((j) => `${(j.payload as { same: boolean }).same ? 'tick' : 'tock'} ${j.runAt.toISOString()}`);
      expect(new Set(dueTimes).size).toBe(dueTimes.length);
      expect(jobs).toHaveLength(12 + 6);
      expect(ran).toBe(18);
    });

    withClock('two maintainers on one store (two nodes) enqueue each due time once', async () => {
      const clock = new ManualClock(at('2025-01-10T12:00:30Z'));
      const a = await openSpool({ clock });
      const b = await openSpool({ clock, url: a.url });
      // Leases outlast the clock's one-minute jumps: a jump past a running job's lease would (rightly) take the
      // lease over and re-run the job at the new time, which is not what this test is about.
      await a.spool.declareQueue('reports', { leaseSeconds: 3600 });
      await a.spool.putSchedule('tick', { cron: '* * * * *', queue: 'reports', payload: null });
      // A worker maintains in its process (leader-elected); its handler completes the jobs, which stay listed.
      const maintenance = { scheduleRefreshMs: 20, leaderTtlMs: 300, reapIntervalMs: 60_000, cleanIntervalMs: 60_000, foldIntervalMs: 60_000 };
      const work = (spool: Spool) => spool.work({ queues: ['reports'], handlers: { reports: async () => undefined }, maintenance });
      const [wa, wb] = [await work(a.spool), await work(b.spool)];
      await waitUntil(() => wa.maintainer!.isLeader || wb.maintainer!.isLeader, 'a maintenance leader');
      for (let i = 1; i <= 8; i++) {
        // Each jump also runs the leader lease out on the store clock, so leadership may change hands mid-run.
        clock.set(at('2025-01-10T12:00:30Z') + i * MINUTE);
        await waitUntil(async () => (await jobsIn(a.spool, 'reports')).length >= i, `the job of minute ${i}`);
      }
      const jobs = await jobsIn(a.spool, 'reports');
      expect(jobs.map((j) => j.runAt.toISOString()).sort()).toEqual(
        Array.from({ length: 8 }, (_, i) => new Date(at('2025-01-10T12:01:00Z') + i * MINUTE).toISOString()),
      );
    });
  });
});
