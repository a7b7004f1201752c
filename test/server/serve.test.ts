import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliTestScope, type LongRunning, spool, spoolLong, stderrLines } from '../cli/spawn.js';

const { tmp, procs } = cliTestScope();

const LISTENING = /listening on http:\/\/(127\.0\.0\.1):(\d+)$/m;

/** Start `spool serve` and wait for the contract's start-up line; returns the process and its base URL. */
async function serve(args: string[], env: Record<string, string> = {}): Promise<{ server: LongRunning; base: string; port: number }> {
  const server = spoolLong(['serve', ...args], { env });
  procs.push(server);
  const m = await server.waitForLine(LISTENING);
  const port = Number(m[2]);
  return { server, base: `http://${m[1]}:${port}`, port };
}

async function getJson(url: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, body: await res.json() };
}

describe('spool serve', () => {
  it('SPOOL_PORT=0 picks a free port and prints it; /healthz and /readyz answer 200; SIGTERM exits 0', async () => {
    const file = join(tmp.make('spool-serve-'), 'serve.db');
    const { server, base, port } = await serve(['--db', `sqlite:${file}`], { SPOOL_PORT: '0' });
    expect(port).toBeGreaterThan(0);
    expect(port).not.toBe(7420);
    expect(server.stdout.split('\n').filter(Boolean)).toHaveLength(1); // one start-up line
    expect(server.stdout).toContain(`sqlite:${file}`);
    expect(existsSync(file)).toBe(true);

    expect(await getJson(`${base}/healthz`)).toEqual({ status: 200, body: { status: 'ok' } });
    expect(await getJson(`${base}/readyz`)).toEqual({ status: 200, body: { status: 'ready', store: 'sqlite' } });
    const missing = await fetch(`${base}/v1/nope`, { signal: AbortSignal.timeout(5_000) });
    expect(missing.status).toBe(404);

    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    await expect(fetch(`${base}/healthz`, { signal: AbortSignal.timeout(5_000) })).rejects.toThrow(); // no longer listening
  });

  it('flags win over their variables, and SIGINT also exits 0', async () => {
    const dir = tmp.make('spool-serve-');
    const { server, base } = await serve(['--host', '127.0.0.1', '--port', '0', '--db', `sqlite:${join(dir, 'flag.db')}`], {
      SPOOL_HOST: '0.0.0.0', // would be refused without SPOOL_ADMIN_TOKEN if it won
      SPOOL_PORT: 'not-a-port',
      SPOOL_DB: `sqlite:${join(dir, 'env.db')}`,
    });
    expect((await getJson(`${base}/readyz`)).status).toBe(200);
    expect(existsSync(join(dir, 'flag.db'))).toBe(true);
    expect(existsSync(join(dir, 'env.db'))).toBe(false);
    expect(await server.stop('SIGINT')).toEqual({ code: 0, signal: null });
  });

  it('refuses a non-loopback host without SPOOL_ADMIN_TOKEN, an invalid port or grace: one line, non-zero exit', async () => {
    const dir = tmp.make('spool-serve-');
    const [open, envOpen, badPort, badGrace] = await Promise.all([
      spool(['serve', '--host', '0.0.0.0', '--port', '0', '--db', `sqlite:${join(dir, 'a.db')}`]),
      spool(['serve', '--port', '0', '--db', `sqlite:${join(dir, 'b.db')}`], { env: { SPOOL_HOST: '0.0.0.0' } }),
      spool(['serve', '--port', '70000', '--db', `sqlite:${join(dir, 'c.db')}`]),
      spool(['serve', '--port', '0', '--grace', 'soon', '--db', `sqlite:${join(dir, 'd.db')}`]),
    ]);
    for (const r of [open, envOpen]) {
      expect(r.code).toBe(2);
      expect(r.stdout).not.toMatch(/listening/);
      expect(stderrLines(r)).toEqual([expect.stringMatching(/^spool: refusing to serve without SPOOL_ADMIN_TOKEN on non-loopback host 0\.0\.0\.0$/)]);
    }
    expect(badPort.code).toBe(2);
    expect(stderrLines(badPort)).toEqual(['spool: invalid port "70000"']);
    expect(badGrace.code).toBe(2);
    expect(stderrLines(badGrace)).toEqual(['spool: --grace must be a number of seconds']);
  });

  it('a port already in use: exit 2 with one reason line, nothing left running (it used to keep its workers)', async () => {
    const dir = tmp.make('spool-serve-');
    const { port } = await serve(['--port', '0', '--db', `sqlite:${join(dir, 'a.db')}`]);
    const second = await spool(['serve', '--port', String(port), '--db', `sqlite:${join(dir, 'b.db')}`], { timeoutMs: 15_000 });
    expect(second.code).toBe(2);
    expect(second.stdout).not.toMatch(/listening/);
    const reasons = stderrLines(second).filter((l) => !l.startsWith('{')); // pino's JSON lines aside
    expect(reasons).toEqual([expect.stringMatching(new RegExp(`^spool: cannot listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`))]);
  });

  it('a `spool work` process beside `serve` on the same file runs jobs enqueued through the CLI', async () => {
    const dir = tmp.make('spool-serve-');
    const url = `sqlite:${join(dir, 'shared.db')}`;
    writeFileSync(join(dir, 'handlers.mjs'), `export default { emails: async (payload, ctx) => ({ to: payload.to, pid: process.pid, attempt: ctx.job.attempt }) };\n`);
    const { server, base } = await serve(['--db', url, '--port', '0']);
    expect((await spool(['queues', 'set', 'emails', '{"maxAttempts":2}', '--db', url])).code).toBe(0);
    const worker = spoolLong(['work', '--db', url, '--handlers', join(dir, 'handlers.mjs')]);
    procs.push(worker);
    await worker.waitForLine(/ ready$/m);

    const results = await Promise.all(
      [1, 2, 3].map((n) => spool(['enqueue', 'emails', JSON.stringify({ to: `u${n}` }), '--wait', '--json', '--timeout', '15', '--db', url])),
    );
    results.forEach((r, i) => {
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ state: 'completed', result: { to: `u${i + 1}`, pid: worker.child.pid, attempt: 1 } });
    });
    expect(await getJson(`${base}/readyz`)).toMatchObject({ status: 200 });

    const [w, s] = await Promise.all([worker.stop('SIGTERM'), server.stop('SIGTERM')]);
    expect(w).toEqual({ code: 0, signal: null });
    expect(s).toEqual({ code: 0, signal: null });
  });

  it('--config declares queues and --handlers runs in-process workers', async () => {
    const dir = tmp.make('spool-serve-');
    const url = `sqlite:${join(dir, 'inproc.db')}`;
    writeFileSync(join(dir, 'spool.json'), JSON.stringify({ queues: { reports: { maxAttempts: 3 } } }));
    writeFileSync(join(dir, 'handlers.mjs'), `export async function reports(payload) { return { pages: payload.pages, pid: process.pid }; }\n`);
    const { server } = await serve(['--db', url, '--port', '0', '--handlers', join(dir, 'handlers.mjs')], { SPOOL_CONFIG: join(dir, 'spool.json') });

    const list = await spool(['queues', '--db', url, '--json']);
    expect((JSON.parse(list.stdout) as { queues: { name: string; config: unknown }[] }).queues).toEqual([
      expect.objectContaining({ name: 'reports', config: { maxAttempts: 3 } }),
      expect.objectContaining({ name: 'spool.webhooks' }),
    ]);
    const r = await spool(['enqueue', 'reports', '{"pages":4}', '--wait', '--json', '--timeout', '15', '--db', url]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ state: 'completed', result: { pages: 4, pid: server.child.pid } });
    expect(await server.stop()).toEqual({ code: 0, signal: null });
  });

  it('SIGTERM lets an in-process handler finish within the grace period, then exits 0', async () => {
    const dir = tmp.make('spool-serve-');
    const url = `sqlite:${join(dir, 'drain.db')}`;
    writeFileSync(join(dir, 'spool.json'), JSON.stringify({ queues: { slow: {} } }));
    writeFileSync(
      join(dir, 'handlers.mjs'),
      `export async function slow(payload, ctx) { console.log('started ' + ctx.job.id); await new Promise((r) => setTimeout(r, payload.ms)); return 'done'; }\n`,
    );
    const { server, base } = await serve(['--db', url, '--port', '0', '--config', join(dir, 'spool.json'), '--handlers', join(dir, 'handlers.mjs')]);
    const e = await spool(['enqueue', 'slow', '{"ms":1500}', '--db', url]);
    const id = e.stdout.split(' ')[0]!;
    await server.waitForLine(new RegExp(`^started ${id}$`, 'm'));

    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    await expect(fetch(`${base}/healthz`, { signal: AbortSignal.timeout(5_000) })).rejects.toThrow();
    const s = await spool(['status', id, '--db', url, '--json']);
    expect(JSON.parse(s.stdout)).toMatchObject({ state: 'completed', attempts: 1, result: 'done' });
  });

  it('a bad --config file or a handler for an undeclared queue stops the start with one line, non-zero exit', async () => {
    const dir = tmp.make('spool-serve-');
    writeFileSync(join(dir, 'bad.json'), JSON.stringify({ queues: { reports: { maxAttempts: 0 } } }));
    writeFileSync(join(dir, 'typo.json'), JSON.stringify({ queus: {} }));
    writeFileSync(join(dir, 'handlers.mjs'), 'export default { emails: async () => 1 };\n');
    const [bad, typo, undeclared] = await Promise.all([
      spool(['serve', '--port', '0', '--db', `sqlite:${join(dir, 'a.db')}`, '--config', join(dir, 'bad.json')]),
      spool(['serve', '--port', '0', '--db', `sqlite:${join(dir, 'b.db')}`, '--config', join(dir, 'typo.json')]),
      spool(['serve', '--port', '0', '--db', `sqlite:${join(dir, 'c.db')}`, '--handlers', join(dir, 'handlers.mjs')]),
    ]);
    for (const r of [bad, typo, undeclared]) expect(r.stdout).not.toMatch(/listening/);
    expect(bad.code).toBe(1);
    expect(stderrLines(bad)).toEqual([expect.stringMatching(/^spool: validation_failed: .*maxAttempts/)]);
    expect(typo.code).toBe(2);
    expect(stderrLines(typo)).toEqual([expect.stringMatching(/^spool: config .*: unknown key "queus"$/)]);
    expect(undeclared.code).toBe(2);
    expect(stderrLines(undeclared)).toEqual([expect.stringMatching(/^spool: no queues to work on: "emails" names neither a declared queue nor a defined job type/)]);
  });
});
