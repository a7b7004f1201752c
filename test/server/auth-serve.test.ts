/**
 * SPOOL_ADMIN_TOKEN through the real `spool serve` process: with it, a non-loopback bind starts and every
 * /v1 call needs the token (health stays open); without it, loopback is open and any other host is refused
 * (that refusal's exact line is asserted in serve.test.ts).
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliTestScope, spool, spoolLong, stderrLines } from '../cli/spawn.js';

const { tmp, procs } = cliTestScope();

const LISTENING = /listening on http:\/\/([^:]+):(\d+)$/m;

async function status(url: string, token?: string): Promise<number> {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(5_000) });
  await res.arrayBuffer();
  return res.status;
}

describe('spool serve with SPOOL_ADMIN_TOKEN', () => {
  it('binds a non-loopback host and asks every /v1 call for the token; health stays open', async () => {
    const db = `sqlite:${join(tmp.make('spool-auth-serve-'), 'a.db')}`;
    const server = spoolLong(['serve', '--host', '0.0.0.0', '--port', '0', '--db', db], { env: { SPOOL_ADMIN_TOKEN: 'serve-test-token-42' } });
    procs.push(server);
    const m = await server.waitForLine(LISTENING);
    expect(m[1]).toBe('0.0.0.0');
    const base = `http://127.0.0.1:${m[2]}`;
    expect(await status(`${base}/v1/queues`)).toBe(401);
    expect(await status(`${base}/v1/queues`, 'wrong-token')).toBe(401);
    expect(await status(`${base}/v1/queues`, 'serve-test-token-42')).toBe(200);
    expect(await status(`${base}/healthz`)).toBe(200);
    expect(await status(`${base}/readyz`)).toBe(200);
    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });

  it('without it: open on loopback, refused elsewhere, and an empty token counts as none', async () => {
    const dir = tmp.make('spool-auth-serve-');
    const server = spoolLong(['serve', '--port', '0', '--db', `sqlite:${join(dir, 'b.db')}`]);
    procs.push(server);
    const m = await server.waitForLine(LISTENING);
    expect(await status(`http://127.0.0.1:${m[2]}/v1/queues`)).toBe(200);
    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null });

    const refused = await spool(['serve', '--host', '0.0.0.0', '--port', '0', '--db', `sqlite:${join(dir, 'c.db')}`], { env: { SPOOL_ADMIN_TOKEN: '' } });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/refusing to serve without SPOOL_ADMIN_TOKEN on non-loopback host 0\.0\.0\.0/);
  });

  it('refuses an admin token that could never be sent as a Bearer token (spaces, non-ASCII): one line, exit 2', async () => {
    const dir = tmp.make('spool-auth-serve-');
    for (const token of ['two words', 'tab\there', 'pässword']) {
      const r = await spool(['serve', '--port', '0', '--db', `sqlite:${join(dir, 'd.db')}`], { env: { SPOOL_ADMIN_TOKEN: token } });
      expect(r.code, token).toBe(2);
      expect(r.stdout).not.toMatch(/listening/);
      expect(stderrLines(r)).toEqual(['spool: SPOOL_ADMIN_TOKEN must be printable ASCII without spaces (it is sent as "Authorization: Bearer <token>")']);
    }
  });
});
