/**
 * Schedules over real HTTP on both stores: PUT/GET/DELETE /v1/schedules with strict bodies and 422s for bad
 * cron expressions, time zones, queues and payloads; and a due time fired by the maintenance leader showing
 * up as lastRunAt/lastJobId and as a real job. The store runs on a ManualClock.
 */
import { describe, expect } from 'vitest';
import { ManualClock } from '../../src/index.js';
import { buildApp } from '../../src/server/app.js';
import { forEachStore, onCleanup, openSpool, requires, waitUntil } from '../engine/harness.js';
import { call, expectProblem } from './api-harness.js';

async function start(clock: ManualClock) {
  const { spool } = await openSpool({ clock });
  const app = buildApp(spool, { validateResponses: true, adminToken: null });
  await app.listen({ host: '127.0.0.1', port: 0 });
  onCleanup(() => app.close());
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
  await spool.declareQueue('reports', { schema: { type: 'object', required: ['kind'], properties: { kind: { type: 'string' } } } });
  return { spool, call: (method: string, path: string, body?: unknown) => call(base, method, path, body === undefined ? {} : { body }) };
}

const NIGHTLY = { cron: '0 3 * * *', timezone: 'Europe/Berlin', queue: 'reports', payload: { kind: 'nightly' } };

forEachStore((store) => {
  const withClock = requires(store, 'settableClock');

  describe('HTTP schedules', () => {
    withClock('PUT creates (201) and updates (200); GET lists and shows with nextRunAt/lastRunAt; DELETE 204 then 404', async () => {
      const api = await start(new ManualClock(Date.parse('2025-06-01T12:00:00Z')));
      const created = await api.call('PUT', '/v1/schedules/nightly', NIGHTLY);
      expect(created.status).toBe(201);
      expect(created.headers.get('location')).toBe('/v1/schedules/nightly');
      expect(created.body).toEqual({
        name: 'nightly',
        cron: '0 3 * * *',
        timezone: 'Europe/Berlin',
        queue: 'reports',
        payload: { kind: 'nightly' },
        type: null,
        priority: null,
        nextRunAt: '2025-06-02T01:00:00.000Z', // 03:00 CEST
        lastRunAt: null,
        lastJobId: null,
        lastError: null,
        createdAt: expect.any(String),
        updatedAt: expect.any(String),
      });
      const updated = await api.call('PUT', '/v1/schedules/nightly', { ...NIGHTLY, priority: 'low', type: 'report' });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({ priority: 'low', type: 'report', nextRunAt: '2025-06-02T01:00:00.000Z' });
      await api.call('PUT', '/v1/schedules/hourly', { cron: '@hourly', queue: 'reports', payload: { kind: 'h' } });
      const list = await api.call('GET', '/v1/schedules');
      expect(list.status).toBe(200);
      expect(list.body.schedules.map((s: { name: string; nextRunAt: string; timezone: string }) => [s.name, s.nextRunAt, s.timezone])).toEqual([
        ['hourly', '2025-06-01T13:00:00.000Z', 'UTC'],
        ['nightly', '2025-06-02T01:00:00.000Z', 'Europe/Berlin'],
      ]);
      expect((await api.call('GET', '/v1/schedules/hourly')).body).toMatchObject({ name: 'hourly', cron: '@hourly' });
      expect((await api.call('DELETE', '/v1/schedules/hourly')).status).toBe(204);
      expectProblem(await api.call('DELETE', '/v1/schedules/hourly'), 404, 'schedule-not-found');
      expectProblem(await api.call('GET', '/v1/schedules/hourly'), 404, 'schedule-not-found');
      const audit = await api.spool.store.auditList({ limit: 10 });
      expect(audit.entries.map((e) => `${e.action} ${e.target}`)).toEqual(['schedule.delete hourly', 'schedule.put hourly', 'schedule.put nightly', 'schedule.put nightly']);
    });

    withClock('refuses a bad cron, time zone, queue or payload with 422 and pointers; bad shapes and unknown fields with 400', async () => {
      const api = await start(new ManualClock(Date.parse('2025-06-01T12:00:00Z')));
      const unprocessable = async (body: object, path: string) => {
        const r = await api.call('PUT', '/v1/schedules/nightly', { ...NIGHTLY, ...body });
        expectProblem(r, 422, 'validation-failed');
        expect(r.body.errors.map((e: { path: string }) => e.path)).toContain(path);
      };
      await unprocessable({ cron: '0 25 * * *' }, '/cron');
      await unprocessable({ cron: 'every day' }, '/cron');
      await unprocessable({ cron: '0 0 31 2 *' }, '/cron');
      await unprocessable({ timezone: 'Europe/Atlantis' }, '/timezone');
      await unprocessable({ timezone: 'UTC+2' }, '/timezone');
      await unprocessable({ queue: 'missing' }, '/queue');
      await unprocessable({ payload: { kind: 5 } }, '/payload/kind');
      const bad = async (body: unknown) => expectProblem(await api.call('PUT', '/v1/schedules/nightly', body), 400, 'invalid-request');
      await bad({ ...NIGHTLY, every: 'day' });
      await bad({ ...NIGHTLY, cron: 5 });
      await bad({ cron: '0 3 * * *', queue: 'reports' }); // payload is required
      await bad({ ...NIGHTLY, queue: 'bad name' });
      await bad({ ...NIGHTLY, priority: 'urgent' });
      await bad({ ...NIGHTLY, timezone: '' });
      expectProblem(await api.call('PUT', '/v1/schedules/bad%20name', NIGHTLY), 400, 'invalid-request');
      expect((await api.call('GET', '/v1/schedules')).body).toEqual({ schedules: [] });
    });

    withClock('the maintenance leader enqueues a due time once; GET shows lastRunAt, lastJobId and the next run', async () => {
      const clock = new ManualClock(Date.parse('2025-06-01T12:00:30Z'));
      const api = await start(clock);
      api.spool.maintain({ scheduleRefreshMs: 20 });
      expect((await api.call('PUT', '/v1/schedules/tick', { cron: '*/15 * * * *', queue: 'reports', payload: { kind: 't' } })).status).toBe(201);
      clock.set(Date.parse('2025-06-01T13:20:00Z')); // 12:15 … 13:15 missed: one job, for 12:15
      const fired = await waitUntil(async () => {
        const s = (await api.call('GET', '/v1/schedules/tick')).body;
        return s.lastJobId !== null ? s : undefined;
      }, 'the schedule to fire');
      expect(fired).toMatchObject({ lastRunAt: '2025-06-01T12:15:00.000Z', nextRunAt: '2025-06-01T13:30:00.000Z', lastError: null });
      const job = await api.call('GET', `/v1/jobs/${fired.lastJobId}`);
      expect(job.body).toMatchObject({ queue: 'reports', payload: { kind: 't' }, runAt: '2025-06-01T12:15:00.000Z' });
      expect((await api.spool.listJobs({ queue: 'reports' })).jobs).toHaveLength(1);
    });
  });
});
