import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, LongRunning, ROOT, spool, TempDirs } from '../cli/spawn.js';

const tmp = new TempDirs();
const procs: LongRunning[] = [];
let buildDir = '';
beforeAll(async () => {
  buildDir = await buildCli();
});
afterEach(() => {
  for (const p of procs.splice(0)) p.kill();
  tmp.cleanup();
});

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string>; bin: Record<string, string> };

/** `npm start`, run from `cwd`: the start script's command against the compiled build. */
function npmStart(cwd: string, env: Record<string, string> = {}): LongRunning {
  const [node, entry, ...args] = pkg.scripts['start']!.split(' ');
  expect(node).toBe('node');
  const p = new LongRunning([join(buildDir, entry!), ...args], { cwd, env });
  procs.push(p);
  return p;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const probe = createServer();
    probe.once('error', () => res(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => res(true)));
  });
}

describe('npm start', () => {
  it('is `spool serve` from the compiled CLI', () => {
    expect(pkg.scripts['start']).toBe('node dist/cli/main.js serve');
    expect(pkg.bin['spool']).toBe('dist/cli/main.js');
    expect(pkg.scripts['prepare']).toMatch(/^tsc -p tsconfig\.build\.json$/); // npm install builds dist/
  });

  it('serves the embedded default store ./.spool/spool.db relative to the working directory', async () => {
    const cwd = tmp.make('spool-start-');
    const server = npmStart(cwd, { SPOOL_PORT: '0' });
    const m = await server.waitForLine(/^spool sqlite:(\S+) listening on http:\/\/127\.0\.0\.1:(\d+)$/m);
    const file = join(cwd, '.spool', 'spool.db');
    expect(m[1]).toMatch(/\.spool\/spool\.db$/);
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).size).toBeGreaterThan(0);
    const res = await fetch(`http://127.0.0.1:${m[2]}/readyz`, { signal: AbortSignal.timeout(5_000) });
    expect(res.status).toBe(200);

    // The CLI run from the same directory sees the same default store, and the server keeps serving.
    const set = await spool(['queues', 'set', 'emails'], { cwd });
    expect(set.code).toBe(0);
    const list = await spool(['queues', '--json'], { cwd });
    expect((JSON.parse(list.stdout) as { queues: { name: string }[] }).queues.map((q) => q.name)).toEqual(['emails', 'spool.webhooks']);

    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });

  it('listens on 127.0.0.1:7420 by default', async (ctx) => {
    if (!(await portIsFree(7420))) ctx.skip(); // someone is running `npm start` on this machine
    const cwd = tmp.make('spool-start-');
    const server = npmStart(cwd);
    await server.waitForLine(/listening on http:\/\/127\.0\.0\.1:7420$/m);
    const res = await fetch('http://127.0.0.1:7420/healthz', { signal: AbortSignal.timeout(5_000) });
    expect(res.status).toBe(200);
    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  });
});
