/**
 * The audit log over real HTTP on both stores: every admin action appends an entry with the right actor
 * (key id, `admin-token`, `open`), action and target; refused requests append nothing; `GET /v1/audit`
 * pages newest first with a cursor and is admin-only.
 */
import { describe, expect, it } from 'vitest';
import { forEachStore, waitForState } from '../engine/harness.js';
import { ADMIN, call, createKey, startServer, type Server } from './auth-harness.js';

interface Entry {
  seq: number;
  at: string;
  actor: string;
  action: string;
  target: string;
  detail: unknown;
}

async function auditLog(server: Server, token?: string): Promise<Entry[]> {
  const r = await call(server.base, 'GET', '/v1/audit?limit=500', token === undefined ? {} : { token });
  expect(r.status, r.text).toBe(200);
  return (r.body as { entries: Entry[] }).entries;
}

/** A dead job in `queue`, through the library (maxAttempts 1, a handler that throws). */
async function deadJob(server: Server, queue: string): Promise<string> {
  await server.spool.declareQueue(queue, { maxAttempts: 1 });
  const job = await server.spool.enqueue(queue, { boom: true });
  const worker = await server.spool.work({ queues: [queue], handlers: { [queue]: async () => { throw new Error('boom'); } } });
  await waitForState(server.spool, job.id, 'dead');
  await worker.stop({ graceMs: 0 });
  return job.id;
}

forEachStore(() => {
  describe('audit log', () => {
    it('records admin actions with the acting key or token; refused ones leave no entry', async () => {
      const server = await startServer();
      const deadId = await deadJob(server, 'dq');
      const admin = await createKey(server.base, ['admin']);
      const reader = await createKey(server.base, ['read:*', 'publish:*']);
      const ok = async (method: string, path: string, token: string, body?: unknown): Promise<void> => {
        const r = await call(server.base, method, path, { token, ...(body !== undefined ? { body } : {}) });
        expect(r.status, `${method} ${path}: ${r.text}`).toBeLessThan(300);
      };
      await ok('PUT', '/v1/queues/orders', admin.secret, { maxAttempts: 3, webhook: { url: 'https://hooks.example.com/x', secret: 'whsec_c2VjcmV0LXZhbHVlLTEyMzQ1Njc4', events: ['dead'] } });
      await ok('POST', '/v1/queues/orders/pause', ADMIN);
      await ok('POST', '/v1/queues/orders/resume', admin.secret);
      const job = (await call(server.base, 'POST', '/v1/queues/orders/jobs', { token: reader.secret, body: { payload: { n: 1 } } })).body as { id: string };
      await ok('POST', `/v1/jobs/${job.id}/cancel`, admin.secret);
      await ok('POST', '/v1/queues/dq/dead/replay', ADMIN, { ids: [deadId], dryRun: true });
      await ok('POST', '/v1/queues/dq/dead/replay', ADMIN, { ids: [deadId] });
      await waitForState(server.spool, deadId, 'queued');
      // Back to dead to purge it: one more failed attempt.
      const worker = await server.spool.work({ queues: ['dq'], handlers: { dq: async () => { throw new Error('boom again'); } } });
      await waitForState(server.spool, deadId, 'dead');
      await worker.stop({ graceMs: 0 });
      await ok('DELETE', `/v1/queues/dq/dead/${deadId}`, admin.secret);
      await ok('DELETE', `/v1/keys/${reader.id}`, admin.secret);

      // Refused: no scope (403), no token (401) — nothing is recorded for them.
      const readOnly = await createKey(server.base, ['read:*']);
      expect((await call(server.base, 'PUT', '/v1/queues/orders', { token: readOnly.secret, body: {} })).status).toBe(403);
      expect((await call(server.base, 'POST', '/v1/queues/orders/pause')).status).toBe(401);

      const entries = await auditLog(server, ADMIN);
      const seen = entries.map((e) => [e.actor, e.action, e.target]).reverse();
      expect(seen).toEqual([
        ['admin-token', 'key.create', admin.id],
        ['admin-token', 'key.create', reader.id],
        [admin.id, 'queue.put', 'orders'],
        ['admin-token', 'queue.pause', 'orders'],
        [admin.id, 'queue.resume', 'orders'],
        [admin.id, 'job.cancel', job.id],
        ['admin-token', 'dead.replay', 'dq'], // the dry run changed nothing and is not recorded
        [admin.id, 'dead.purge', deadId],
        [admin.id, 'key.revoke', reader.id],
        ['admin-token', 'key.create', readOnly.id],
      ]);
      const byAction = (action: string) => entries.filter((e) => e.action === action);
      expect(byAction('key.create').find((e) => e.target === reader.id)!.detail).toEqual({ name: 'read:* publish:*', scopes: ['read:*', 'publish:*'], rateLimit: null });
      expect(byAction('queue.put')[0]!.detail).toMatchObject({ created: true, config: { maxAttempts: 3, webhook: { url: 'https://hooks.example.com/x', secret: '[redacted]' } } });
      expect(byAction('dead.replay').map((e) => e.detail)).toEqual([{ ids: [deadId], all: false, replayed: 1 }]);
      expect(byAction('job.cancel')[0]!.detail).toMatchObject({ queue: 'orders' });
      expect(byAction('dead.purge')[0]!.detail).toMatchObject({ queue: 'dq' });
      for (const e of entries) expect(e.at).toMatch(/Z$/);
      expect(JSON.stringify(entries)).not.toMatch(/spool_key_|whsec_/); // no secret ever lands in the log
    });

    it('pages newest first with a cursor; limit and cursor are checked; admin only', async () => {
      const server = await startServer();
      for (let i = 0; i < 5; i++) expect((await call(server.base, 'PUT', `/v1/queues/q${i}`, { token: ADMIN, body: {} })).status).toBe(201);
      const first = await call(server.base, 'GET', '/v1/audit?limit=2', { token: ADMIN });
      expect(first.status).toBe(200);
      const page1 = first.body as { entries: Entry[]; nextCursor: string | null };
      expect(page1.entries.map((e) => e.target)).toEqual(['q4', 'q3']);
      expect(page1.nextCursor).toEqual(expect.any(String));
      const page2 = (await call(server.base, 'GET', `/v1/audit?limit=2&cursor=${encodeURIComponent(page1.nextCursor!)}`, { token: ADMIN })).body as { entries: Entry[]; nextCursor: string | null };
      expect(page2.entries.map((e) => e.target)).toEqual(['q2', 'q1']);
      const page3 = (await call(server.base, 'GET', `/v1/audit?limit=2&cursor=${encodeURIComponent(page2.nextCursor!)}`, { token: ADMIN })).body as { entries: Entry[]; nextCursor: string | null };
      expect(page3).toMatchObject({ entries: [{ target: 'q0' }], nextCursor: null });

      for (const query of ['limit=0', 'limit=501', 'limit=x', 'cursor=not-a-cursor', 'other=1']) {
        const r = await call(server.base, 'GET', `/v1/audit?${query}`, { token: ADMIN });
        expect(r.status, query).toBe(400);
      }
      const reader = await createKey(server.base, ['read:*', 'publish:*', 'consume:*']);
      expect((await call(server.base, 'GET', '/v1/audit', { token: reader.secret })).status).toBe(403);
      expect((await call(server.base, 'GET', '/v1/audit')).status).toBe(401);
    });

    it('records topic and schedule configuration with the acting key', async () => {
      const server = await startServer();
      await server.spool.declareQueue('q');
      const admin = await createKey(server.base, ['admin']);
      const put = async (path: string, body: unknown) => expect((await call(server.base, 'PUT', path, { token: admin.secret, body })).status).toBeLessThan(300);
      await put('/v1/topics/orders', { queues: ['q'] });
      await put('/v1/schedules/nightly', { cron: '0 3 * * *', queue: 'q', payload: { report: true } });
      expect((await call(server.base, 'DELETE', '/v1/schedules/nightly', { token: ADMIN })).status).toBeLessThan(300);
      expect((await call(server.base, 'DELETE', '/v1/topics/orders', { token: admin.secret })).status).toBeLessThan(300);
      const entries = (await auditLog(server, ADMIN)).filter((e) => e.action !== 'key.create');
      expect(entries.map((e) => [e.actor, e.action, e.target])).toEqual([
        [admin.id, 'topic.delete', 'orders'],
        ['admin-token', 'schedule.delete', 'nightly'],
        [admin.id, 'schedule.put', 'nightly'],
        [admin.id, 'topic.put', 'orders'],
      ]);
      expect(entries[3]!.detail).toMatchObject({ created: true, queues: ['q'] });
      expect(entries[2]!.detail).toMatchObject({ created: true, cron: '0 3 * * *', queue: 'q' });
    });

    it('open access records the actor as open', async () => {
      const server = await startServer({ adminToken: null });
      expect((await call(server.base, 'PUT', '/v1/queues/q', { body: {} })).status).toBe(201);
      const created = await call(server.base, 'POST', '/v1/keys', { body: { name: 'ci', scopes: ['publish:q'] } });
      expect(created.status).toBe(201);
      const entries = await auditLog(server);
      expect(entries.map((e) => [e.actor, e.action, e.target])).toEqual([
        ['open', 'key.create', (created.body as { id: string }).id],
        ['open', 'queue.put', 'q'],
      ]);
    });
  });
});
