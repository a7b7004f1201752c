/**
 * The HTTP API through the real `spool serve` process: jobs accepted over HTTP run on the in-process
 * workers, requests are logged as JSON lines with their request id, SPOOL_MAX_BODY_BYTES caps bodies, and
 * SIGTERM drains — new requests get 503 or a refused connection (never a 202), a long poll answers at once,
 * the running handler finishes within the grace period, the process exits 0.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliTestScope, type LongRunning, spool, spoolLong, stderrLines } from '../cli/spawn.js';
import { waitUntil } from '../engine/harness.js';
import { call } from './api-harness.js';

const { tmp, procs } = cliTestScope();

async function serve(args: string[], env: Record<string, string> = {}): Promise<{ server: LongRunning; base: string }> {
  const server = spoolLong(['serve', '--port', '0', ...args], { env });
  procs.push(server);
  const m = await server.waitForLine(/listening on (http:\/\/127\.0\.0\.1:\d+)$/m);
  return { server, base: m[1]! };
}

describe('spool serve: the HTTP API', () => {
  it('accepts a job over HTTP, runs it in-process, and logs each request as a JSON line with its request id', async () => {
    const dir = tmp.make('spool-serve-http-');
    writeFileSync(join(dir, 'handlers.mjs'), `export async function emails(payload, ctx) { return { to: payload.to, correlationId: ctx.job.correlationId }; }\n`);
    writeFileSync(join(dir, 'spool.json'), JSON.stringify({ queues: { emails: {} } }));
    const { server, base } = await serve(['--db', `sqlite:${join(dir, 'a.db')}`, '--config', join(dir, 'spool.json'), '--handlers', join(dir, 'handlers.mjs')], {
      SPOOL_LOG_LEVEL: 'debug', // answered requests are logged at debug; refusals at info
    });

    const accepted = await call(base, 'POST', '/v1/queues/emails/jobs', { body: { payload: { to: 'ada' } }, headers: { 'x-request-id': 'req-abc-1', 'x-correlation-id': 'corr-9' } });
    expect(accepted.status).toBe(202);
    expect(accepted.headers.get('x-request-id')).toBe('req-abc-1');
    const done = await call(base, 'GET', `${accepted.body.statusUrl}?waitSeconds=15`);
    expect(done.body).toMatchObject({ state: 'completed', result: { to: 'ada', correlationId: 'corr-9' } });

    // pino writes asynchronously: wait for the line rather than read stderr once.
    const line = await waitUntil(
      () =>
        server.stderr
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Record<string, unknown>)
          .find((l) => l['msg'] === 'request' && l['reqId'] === 'req-abc-1'),
      'the request log line',
    );
    expect(line).toMatchObject({ method: 'POST', route: '/v1/queues/:queue/jobs', status: 202, ms: expect.any(Number) });
    const generated = (await call(base, 'GET', '/v1/queues')).headers.get('x-request-id');
    expect(generated).toMatch(/^[0-9a-f-]{36}$/);
    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });

  it('SPOOL_MAX_BODY_BYTES caps request bodies (413); an invalid value stops the start with one line', async () => {
    const dir = tmp.make('spool-serve-http-');
    const { server, base } = await serve(['--db', `sqlite:${join(dir, 'b.db')}`], { SPOOL_MAX_BODY_BYTES: '1024' });
    expect((await call(base, 'PUT', '/v1/queues/q', { body: {} })).status).toBe(201);
    expect((await call(base, 'POST', '/v1/queues/q/jobs', { body: { payload: 'x'.repeat(900) } })).status).toBe(202);
    const big = await call(base, 'POST', '/v1/queues/q/jobs', { body: { payload: 'x'.repeat(2000) } });
    expect(big.status).toBe(413);
    expect(big.body.type).toBe('urn:spool:problem:payload-too-large');
    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null });

    const bad = await spool(['serve', '--port', '0', '--db', `sqlite:${join(dir, 'c.db')}`], { env: { SPOOL_MAX_BODY_BYTES: 'lots' } });
    expect(bad.code).toBe(2);
    expect(stderrLines(bad)).toEqual(['spool: SPOOL_MAX_BODY_BYTES must be a positive integer, not "lots"']);
  });

  it('SIGTERM: a long poll answers at once, new requests get 503 or a refused connection, the running handler finishes, exit 0', async () => {
    const dir = tmp.make('spool-serve-http-');
    const url = `sqlite:${join(dir, 'd.db')}`;
    writeFileSync(join(dir, 'spool.json'), JSON.stringify({ queues: { slow: {} } }));
    writeFileSync(
      join(dir, 'handlers.mjs'),
      `export async function slow(payload, ctx) { console.log('started ' + ctx.job.id); await new Promise((r) => setTimeout(r, payload.ms)); return 'done'; }\n`,
    );
    const { server, base } = await serve(['--db', url, '--config', join(dir, 'spool.json'), '--handlers', join(dir, 'handlers.mjs'), '--grace', '20']);
    const { body } = await call(base, 'POST', '/v1/queues/slow/jobs', { body: { payload: { ms: 2000 } } });
    await server.waitForLine(new RegExp(`^started ${body.id}$`, 'm'));
    const longPoll = call(base, 'GET', `/v1/jobs/${body.id}?waitSeconds=30`);
    await new Promise((r) => setTimeout(r, 200)); // let the long poll reach the server

    const started = Date.now();
    const exit = server.stop('SIGTERM');
    const polled = await longPoll;
    expect(polled.status).toBe(200);
    expect(polled.body.state).toBe('active'); // answered as it was, not after 30 s
    expect(Date.now() - started).toBeLessThan(10_000);
    const late = await call(base, 'POST', '/v1/queues/slow/jobs', { body: { payload: { ms: 1 } } }).catch((error: Error) => error);
    if (!(late instanceof Error)) {
      expect(late.status).toBe(503);
      expect(late.body.type).toBe('urn:spool:problem:shutting-down');
    }
    expect(await exit).toEqual({ code: 0, signal: null });
    const status = await spool(['status', body.id, '--db', url, '--json']);
    expect(JSON.parse(status.stdout)).toMatchObject({ state: 'completed', attempts: 1, result: 'done' });
    const list = await spool(['queues', '--db', url, '--json']);
    expect((JSON.parse(list.stdout) as { queues: Array<{ stats: { totals: { enqueued: number } } }> }).queues[0]!.stats.totals.enqueued).toBe(1);
  });
});
