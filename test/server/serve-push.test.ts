/**
 * Push delivery through the real `spool serve` process: a queue PUT with a loopback target (allow-listed by
 * SPOOL_ALLOW_PRIVATE_TARGETS) is delivered without any handlers module, and SIGTERM lets a delivery in
 * flight finish within the grace period before the process exits 0.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Spool } from '../../src/spool.js';
import { cliTestScope, spoolLong } from '../cli/spawn.js';
import { waitUntil } from '../engine/harness.js';
import { call } from './api-harness.js';
import { startTarget } from './push-target.js';

const { tmp, procs } = cliTestScope();

describe('spool serve: push delivery', () => {
  it('delivers a target queue with no handlers module, and SIGTERM lets the delivery in flight finish', async () => {
    const holds: Array<() => void> = [];
    const target = await startTarget((r, res) => {
      if (r.body?.payload?.hold) holds.push(() => res.writeHead(200, { 'content-type': 'application/json' }).end('{"held":true}'));
      else res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    const db = `sqlite:${join(tmp.make('spool-serve-push-'), 'push.db')}`;
    const server = spoolLong(['serve', '--port', '0', '--db', db, '--grace', '10'], { env: { SPOOL_ALLOW_PRIVATE_TARGETS: '127.0.0.1' } });
    procs.push(server);
    const base = (await server.waitForLine(/listening on (http:\/\/127\.0\.0\.1:\d+)$/m))[1]!;

    expect((await call(base, 'PUT', '/v1/queues/out', { body: { target: { url: `${target.url}/in`, timeoutSeconds: 20 } } })).status).toBe(201);
    const first = await call(base, 'POST', '/v1/queues/out/jobs', { body: { payload: { n: 1 } } });
    const done = await call(base, 'GET', `${first.body.statusUrl}?waitSeconds=20`);
    expect(done.body).toMatchObject({ state: 'completed', result: { ok: true } });
    expect(target.received[0]).toMatchObject({ path: '/in', body: { id: first.body.id, queue: 'out', attempt: 1, payload: { n: 1 } } });

    const second = await call(base, 'POST', '/v1/queues/out/jobs', { body: { payload: { hold: true } } });
    await waitUntil(() => holds.length === 1, 'the held delivery to arrive');
    const exited = server.stop('SIGTERM');
    setTimeout(() => holds.shift()!(), 500);
    expect(await exited).toEqual({ code: 0, signal: null });

    const spool = await Spool.open(db);
    try {
      expect(await spool.getJob(second.body.id)).toMatchObject({ state: 'completed', result: { held: true }, attempts: 1 });
    } finally {
      await spool.close();
    }
  });
});
