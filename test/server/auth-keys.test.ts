/**
 * API keys over real HTTP on both stores: creation (secret shown once, only a hash stored), strict scope
 * validation, listing without secrets, revocation seen at once by every node on the store, authorisation
 * before body parsing and validation, per-key rate limits (429 + Retry-After, nothing written), and the
 * 401 answers' shape.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { forEachStore } from '../engine/harness.js';
import { ADMIN, call, createKey, startServer } from './auth-harness.js';

const TOKEN = /^spool_(key_[0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

forEachStore(() => {
  describe('POST /v1/keys', () => {
    it('answers 201 with the secret once; the store keeps only its SHA-256; listing never shows it', async () => {
      const server = await startServer();
      const r = await call(server.base, 'POST', '/v1/keys', { token: ADMIN, body: { name: 'billing worker', scopes: ['consume:billing.*', 'read:*'], rateLimit: { perSecond: 50 } } });
      expect(r.status).toBe(201);
      const key = r.body as { id: string; name: string; scopes: string[]; rateLimit: unknown; secret: string; createdAt: string };
      expect(key).toEqual({
        id: expect.stringMatching(/^key_[0-9a-f]{16}$/),
        name: 'billing worker',
        scopes: ['consume:billing.*', 'read:*'],
        rateLimit: { perSecond: 50 },
        secret: expect.stringMatching(TOKEN),
        createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      });
      const secretPart = TOKEN.exec(key.secret)![2]!;
      expect(TOKEN.exec(key.secret)![1]).toBe(key.id);

      // The record: no secret in clear anywhere, the hash of the secret part.
      const record = await server.spool.store.recordGet({ kind: 'key', name: key.id });
      expect(record).not.toBeNull();
      expect(record!.valueJson).not.toContain(secretPart);
      expect(record!.valueJson).not.toContain(key.secret);
      expect(JSON.parse(record!.valueJson)).toMatchObject({ secretHash: `sha256:${createHash('sha256').update(secretPart).digest('hex')}` });

      const list = await call(server.base, 'GET', '/v1/keys', { token: ADMIN });
      expect(list.status).toBe(200);
      expect(list.body).toEqual({ keys: [{ id: key.id, name: 'billing worker', scopes: ['consume:billing.*', 'read:*'], rateLimit: { perSecond: 50 }, createdAt: key.createdAt }] });
      expect(list.text).not.toContain(secretPart);
      expect(list.text).not.toContain('sha256');
      const one = await call(server.base, 'GET', `/v1/keys/${key.id}`, { token: ADMIN });
      expect(one.body).toEqual({ id: key.id, name: 'billing worker', scopes: ['consume:billing.*', 'read:*'], rateLimit: { perSecond: 50 }, createdAt: key.createdAt });

      // Two keys never share a secret; the new key works for what it holds.
      const other = await createKey(server.base, ['read:*']);
      expect(other.secret).not.toBe(key.secret);
      expect((await call(server.base, 'GET', '/v1/keys', { token: key.secret })).status).toBe(403);
      expect((await call(server.base, 'GET', '/v1/jobs', { token: key.secret })).status).toBe(200);
    });

    it.each([
      [{ name: 'k', scopes: ['publsh:*'] }, '/scopes/0', /not a scope/],
      [{ name: 'k', scopes: ['read:*', 'admin:*'] }, '/scopes/1', /takes no glob/],
      [{ name: 'k', scopes: ['read'] }, '/scopes/0', /needs a queue glob/],
      [{ name: 'k', scopes: ['read:orders/../x'] }, '/scopes/0', /queue-name characters/],
      [{ name: 'k', scopes: ['read:*', 'read:*'] }, '/scopes/1', /repeats/],
      [{ name: 'k', scopes: [] }, '/scopes', /.+/],
      [{ name: 'k', scopes: ['read:*'], rateLimit: { perSecond: 0 } }, '/rateLimit/perSecond', /.+/],
      [{ name: 'k', scopes: ['read:*'], rateLimit: { perSecond: '5' } }, '/rateLimit/perSecond', /.+/],
      [{ name: 'k', scopes: ['read:*'], admin: true }, '/admin', /not allowed/],
      [{ name: '', scopes: ['read:*'] }, '/name', /.+/],
      [{ name: 'tab\there', scopes: ['read:*'] }, '/name', /control characters/],
    ])('refuses %j with a 400 naming the field', async (body, path, message) => {
      const server = await startServer();
      const r = await call(server.base, 'POST', '/v1/keys', { token: ADMIN, body });
      expect(r.status, r.text).toBe(400);
      const problem = r.body as { detail: string; errors: Array<{ path: string; message: string }> };
      expect(problem.errors[0]!.path).toBe(path);
      expect(problem.detail).toMatch(message);
      expect(await server.spool.store.recordList({ kind: 'key' })).toEqual([]);
    });
  });

  describe('revocation', () => {
    it('DELETE /v1/keys/{id} takes effect on the next request, on this node and on another node of the store', async () => {
      const a = await startServer();
      const b = await startServer({ url: a.url }); // a second server process on the same store
      await a.spool.declareQueue('q');
      const key = await createKey(a.base, ['publish:q', 'read:q']);
      for (const node of [a, b]) expect((await call(node.base, 'GET', '/v1/queues/q', { token: key.secret })).status).toBe(200);

      const revoked = await call(b.base, 'DELETE', `/v1/keys/${key.id}`, { token: ADMIN });
      expect(revoked.status).toBe(204);
      for (const node of [a, b]) {
        const r = await call(node.base, 'POST', '/v1/queues/q/jobs', { token: key.secret, body: { payload: 1 } });
        expect(r.status).toBe(401);
        expect(r.headers.get('www-authenticate')).toBe('Bearer realm="spool", error="invalid_token"');
      }
      expect((await call(a.base, 'DELETE', `/v1/keys/${key.id}`, { token: ADMIN })).status).toBe(404);
      expect((await call(a.base, 'GET', `/v1/keys/${key.id}`, { token: ADMIN })).status).toBe(404);
      expect((await a.spool.listJobs({ queue: 'q' })).jobs).toEqual([]);
    });
  });

  describe('authorisation before the body', () => {
    it('a key without publish gets 403 for an invalid, malformed or oversized body; no token gets 401; the admin token gets the 400', async () => {
      const server = await startServer({ maxBodyBytes: 4096 });
      await server.spool.declareQueue('q');
      const reader = await createKey(server.base, ['read:*']);
      const bad = { payload: 1, priority: 'urgent', unknownField: true };
      const huge = { payload: 'x'.repeat(8192) };
      expect((await call(server.base, 'POST', '/v1/queues/q/jobs', { token: ADMIN, body: huge })).status).toBe(413);
      expect((await call(server.base, 'POST', '/v1/queues/q/jobs', { token: reader.secret, body: huge })).status).toBe(403);
      expect((await call(server.base, 'POST', '/v1/queues/q/jobs', { body: huge })).status).toBe(401);
      expect((await call(server.base, 'POST', '/v1/queues/q/jobs', { token: ADMIN, body: bad })).status).toBe(400); // it is invalid
      expect((await call(server.base, 'POST', '/v1/queues/q/jobs', { token: reader.secret, body: bad })).status).toBe(403);
      expect((await call(server.base, 'POST', '/v1/queues/q/jobs', { body: bad })).status).toBe(401);
      expect((await call(server.base, 'POST', '/v1/queues/q/jobs', { token: reader.secret, raw: '{"payload": ' })).status).toBe(403);
      expect((await call(server.base, 'POST', '/v1/queues/q/jobs', { token: reader.secret, raw: 'x=1', contentType: 'text/plain' })).status).toBe(403);
      expect((await call(server.base, 'POST', '/v1/queues/q/jobs', { token: ADMIN, raw: '{"payload": ' })).status).toBe(400);
      // Even an undeclared queue: the key cannot learn whether it exists.
      expect((await call(server.base, 'POST', '/v1/queues/nope/jobs', { token: reader.secret, body: { payload: 1 } })).status).toBe(403);
      expect((await call(server.base, 'POST', '/v1/queues/nope/jobs', { token: ADMIN, body: { payload: 1 } })).status).toBe(404);
      expect((await server.spool.listJobs({ queue: 'q' })).jobs).toEqual([]);
    });
  });

  describe('per-key rate limit', () => {
    it('answers 429 with Retry-After past perSecond and writes nothing; other keys and the admin token are not held back', async () => {
      const server = await startServer();
      await server.spool.declareQueue('q');
      // 0.5/s: a bucket of one token that takes 2 s to come back, so timing on a busy machine cannot blur it.
      const limited = await createKey(server.base, ['publish:q'], { rateLimit: { perSecond: 0.5 } });
      const free = await createKey(server.base, ['publish:q']);
      const answers = [];
      for (let i = 0; i < 4; i++) answers.push(await call(server.base, 'POST', '/v1/queues/q/jobs', { token: limited.secret, body: { payload: i } }));
      expect(answers.map((r) => r.status)).toEqual([202, 429, 429, 429]);
      for (const r of answers.slice(1)) {
        expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        expect(Number(r.headers.get('retry-after'))).toBeLessThanOrEqual(2);
        expect(r.headers.get('content-type')).toMatch(/^application\/problem\+json/);
        expect((r.body as { type: string }).type).toBe('urn:spool:problem:rate-limited');
      }
      const stored = (await server.spool.listJobs({ queue: 'q', limit: 100 })).jobs;
      expect(stored.map((j) => j.id)).toEqual([(answers[0]!.body as { id: string }).id]);

      // A wrong secret for the limited key's id is a 401 and does not refill (or reset) the key's bucket.
      expect((await call(server.base, 'POST', '/v1/queues/q/jobs', { token: `spool_${limited.id}_${'B'.repeat(43)}`, body: { payload: 'x' } })).status).toBe(401);
      expect((await call(server.base, 'POST', '/v1/queues/q/jobs', { token: limited.secret, body: { payload: 'x' } })).status).toBe(429);

      for (let i = 0; i < 5; i++) expect((await call(server.base, 'POST', '/v1/queues/q/jobs', { token: free.secret, body: { payload: i } })).status).toBe(202);
      for (let i = 0; i < 5; i++) expect((await call(server.base, 'POST', '/v1/queues/q/jobs', { token: ADMIN, body: { payload: i } })).status).toBe(202);
    });
  });

  describe('401 answers', () => {
    it('say Bearer in WWW-Authenticate, and tell a missing token from an invalid one', async () => {
      const server = await startServer();
      const missing = await call(server.base, 'GET', '/v1/queues');
      expect(missing.status).toBe(401);
      expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="spool"');
      expect(missing.body).toMatchObject({ type: 'urn:spool:problem:unauthorized', status: 401, title: expect.any(String), detail: expect.stringMatching(/Bearer/) });
      for (const authorization of ['Bearer', 'Bearer  ', 'Token abc', `Bearer ${ADMIN} extra`, 'Bearer spool_key_0123456789abcdef_' + 'A'.repeat(43)]) {
        const r = await call(server.base, 'GET', '/v1/queues', { authorization });
        expect(r.status, authorization).toBe(401);
        expect(r.headers.get('www-authenticate'), authorization).toMatch(/^Bearer realm="spool", error="invalid_(token|request)"$/);
      }
      // The scheme is case-insensitive (RFC 7235).
      expect((await call(server.base, 'GET', '/v1/queues', { authorization: `bearer ${ADMIN}` })).status).toBe(200);
    });
  });
});
