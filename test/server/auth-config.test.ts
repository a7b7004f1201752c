/**
 * Keys declared in a `--config` file (cli/config-file.ts → KeyRegistry.declare), on both stores: by full token
 * or by id + SHA-256 of the secret; the key works over HTTP; loading the same file again writes nothing; a
 * change updates the key (audit `key.update`, actor `config`); bad entries stop the load with a clear line.
 */
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../src/cli/config-file.js';
import { forEachStore, tempDir } from '../engine/harness.js';
import { call, startServer } from './auth-harness.js';

function newToken(): { id: string; secret: string; token: string; sha: string } {
  const id = `key_${randomBytes(8).toString('hex')}`;
  const secret = randomBytes(32).toString('base64url');
  return { id, secret, token: `spool_${id}_${secret}`, sha: createHash('sha256').update(secret).digest('hex') };
}

function configFile(content: unknown): string {
  const file = join(tempDir('spool-auth-config-'), 'spool.json');
  writeFileSync(file, JSON.stringify(content));
  return file;
}

forEachStore(() => {
  describe('keys in a --config file', () => {
    it('declares keys by token or by id + secretSha256; idempotent on reload; a change is an update', async () => {
      const server = await startServer();
      const a = newToken();
      const b = newToken();
      const content = {
        queues: { orders: {} },
        keys: {
          publisher: { token: a.token, scopes: ['publish:orders'], rateLimit: { perSecond: 100 } },
          reader: { id: b.id, secretSha256: b.sha, scopes: ['read:*'] },
        },
      };
      await loadConfigFile(server.spool, configFile(content));
      expect((await call(server.base, 'POST', '/v1/queues/orders/jobs', { token: a.token, body: { payload: 1 } })).status).toBe(202);
      expect((await call(server.base, 'GET', '/v1/queues/orders', { token: b.token })).status).toBe(200);
      expect((await call(server.base, 'GET', '/v1/queues/orders', { token: a.token })).status).toBe(403);
      const stored = await server.spool.store.recordGet({ kind: 'key', name: a.id });
      expect(stored!.valueJson).not.toContain(a.secret);
      expect(JSON.parse(stored!.valueJson)).toMatchObject({ name: 'publisher', secretHash: `sha256:${a.sha}` });

      await loadConfigFile(server.spool, configFile(content)); // a restart with the same file
      expect((await server.spool.store.recordGet({ kind: 'key', name: a.id }))!.version).toBe(1);

      const widened = { keys: { ...content.keys, reader: { ...content.keys.reader, scopes: ['read:*', 'publish:*'] } } };
      await loadConfigFile(server.spool, configFile(widened));
      expect((await call(server.base, 'POST', '/v1/queues/orders/jobs', { token: b.token, body: { payload: 2 } })).status).toBe(202);

      const log = (await server.spool.store.auditList({ limit: 10 })).entries.map((e) => [e.actor, e.action, e.target]);
      expect(log).toEqual([
        ['config', 'key.update', b.id],
        ['config', 'key.create', b.id],
        ['config', 'key.create', a.id],
      ]);
    });

    it.each([
      [{ ci: { token: 'spool_key_short_x', scopes: ['read:*'] } }, /keys\.ci\.token: not a key token/],
      [{ ci: { id: 'key_0123456789abcdef', scopes: ['read:*'] } }, /keys\.ci\.secretSha256: /],
      [{ ci: { id: 'nope', secretSha256: 'a'.repeat(64), scopes: ['read:*'] } }, /keys\.ci\.id: /],
      [{ ci: { token: newToken().token, id: 'key_0123456789abcdef', scopes: ['read:*'] } }, /keys\.ci\.token: give token, or id and secretSha256, not both/],
      [{ ci: { token: newToken().token, scopes: ['write:*'] } }, /keys\.ci\.scopes\.0: "write:\*" is not a scope/],
      [{ ci: { token: newToken().token } }, /keys\.ci\.scopes: /],
      [{ ci: { token: newToken().token, scopes: ['read:*'], secret: 'x' } }, /keys\.ci\.secret: is not allowed/],
      [{ ci: 'spool_key_…' }, /keys\.ci must be an object/],
    ])('refuses %j with one clear line, writing no key', async (keys, message) => {
      const server = await startServer();
      await expect(loadConfigFile(server.spool, configFile({ keys }))).rejects.toThrow(message);
      expect(await server.spool.store.recordList({ kind: 'key' })).toEqual([]);
    });
  });
});
