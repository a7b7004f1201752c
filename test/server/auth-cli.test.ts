/**
 * `spool keys create | list | revoke` as a real process: straight in a store (`--db`, audit actor `cli`) and
 * through a running server (`--url --token`), against a server on the same SQLite file.
 */
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/app.js';
import { Spool } from '../../src/spool.js';
import { buildCli, spool, stderrLines, TempDirs } from '../cli/spawn.js';

const tmp = new TempDirs();
const closers: Array<() => Promise<void>> = [];
beforeAll(buildCli);
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
  tmp.cleanup();
});

const ADMIN = 'cli-test-admin-token';

async function serveOn(url: string): Promise<{ base: string; spool: Spool }> {
  const s = await Spool.open(url);
  closers.push(() => s.close({ graceMs: 0 }));
  const app = buildApp(s, { adminToken: ADMIN });
  await app.listen({ host: '127.0.0.1', port: 0 });
  closers.push(() => app.close());
  const address = app.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return { base: `http://127.0.0.1:${address.port}`, spool: s };
}

async function status(base: string, path: string, token: string): Promise<number> {
  const res = await fetch(base + path, { headers: { authorization: `Bearer ${token}` } });
  await res.arrayBuffer();
  return res.status;
}

describe('spool keys', () => {
  it('creates in the store (secret printed once), lists without secrets, revokes over HTTP; audit names cli and admin-token', async () => {
    const db = `sqlite:${join(tmp.make('spool-keys-cli-'), 'k.db')}`;
    const created = await spool(['keys', 'create', 'ci deploy', '--scope', 'publish:orders,read:*', '--scope', 'consume:orders', '--rate-limit', '5', '--db', db, '--json']);
    expect(created.code, created.stderr).toBe(0);
    const key = JSON.parse(created.stdout) as { id: string; secret: string; scopes: string[]; rateLimit: unknown };
    expect(key).toMatchObject({ id: expect.stringMatching(/^key_[0-9a-f]{16}$/), scopes: ['publish:orders', 'read:*', 'consume:orders'], rateLimit: { perSecond: 5 } });
    expect(key.secret).toMatch(new RegExp(`^spool_${key.id}_`));

    const text = await spool(['keys', 'create', 'reader', '--scope', 'read:*', '--db', db]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^key_[0-9a-f]{16} created \(read:\*\)\nsecret \(shown once, store it now\): spool_key_/);

    const list = await spool(['keys', 'list', '--db', db, '--json']);
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as { keys: Array<{ id: string }> }).keys.map((k) => k.id)).toContain(key.id);
    expect(list.stdout).not.toContain(key.secret.slice(-43));

    const { base, spool: s } = await serveOn(db);
    expect(await status(base, '/v1/queues', key.secret)).toBe(200);
    const viaHttp = await spool(['keys', 'list', '--url', base, '--json'], { env: { SPOOL_TOKEN: ADMIN } });
    expect(viaHttp.code, viaHttp.stderr).toBe(0);
    expect((JSON.parse(viaHttp.stdout) as { keys: unknown[] }).keys).toHaveLength(2);

    const revoked = await spool(['keys', 'revoke', key.id, '--url', base, '--token', ADMIN]);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout.trim()).toBe(`${key.id} revoked`);
    expect(await status(base, '/v1/queues', key.secret)).toBe(401);

    const again = await spool(['keys', 'revoke', key.id, '--db', db]);
    expect(again.code).toBe(1);
    expect(stderrLines(again)).toEqual([`spool: key ${key.id} not found`]);

    const entries = (await s.store.auditList({ limit: 10 })).entries.map((e) => [e.actor, e.action, e.target]);
    expect(entries[0]).toEqual(['admin-token', 'key.revoke', key.id]);
    expect(entries).toContainEqual(['cli', 'key.create', key.id]);
  });

  it('refuses bad scopes, a missing scope, --db with --url, and a server without a token: one line, non-zero', async () => {
    const dir = tmp.make('spool-keys-cli-');
    const db = `sqlite:${join(dir, 'k.db')}`;
    const { base } = await serveOn(db);
    const [bad, none, both, noToken, badRate] = await Promise.all([
      spool(['keys', 'create', 'x', '--scope', 'publsh:*', '--db', db]),
      spool(['keys', 'create', 'x', '--db', db]),
      spool(['keys', 'list', '--db', db, '--url', base]),
      spool(['keys', 'list', '--url', base]),
      spool(['keys', 'create', 'x', '--scope', 'read:*', '--rate-limit', 'lots', '--db', db]),
    ]);
    expect(bad.code).toBe(2);
    expect(stderrLines(bad)).toEqual([expect.stringMatching(/^spool: scopes\/0: "publsh:\*" is not a scope/)]);
    expect(none.code).toBe(2);
    expect(stderrLines(none)).toEqual([expect.stringMatching(/--scope/)]);
    expect(both.code).toBe(2);
    expect(noToken.code).toBe(1);
    expect(stderrLines(noToken)).toEqual([expect.stringMatching(/^spool: 401: /)]);
    expect(badRate.code).toBe(2);
    const help = await spool(['keys', 'create', '--help']);
    expect(help.code).toBe(0);
    for (const m of [/<name>/, /--scope/, /--rate-limit/, /--db/, /--url/, /--token/, /--json/]) expect(help.stdout).toMatch(m);
  });
});
