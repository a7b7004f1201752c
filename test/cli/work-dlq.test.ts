import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliTestScope, inTurn, type LongRunning, spool, spoolLong, stderrLines } from './spawn.js';

const { tmp, procs } = cliTestScope();

interface JobJson {
  id: string;
  state: string;
  attempts: number;
  maxAttempts: number;
  result: unknown;
  lastError: { message: string; retryable?: boolean } | null;
  history: { state: string; attempt: number; reason?: string; error?: { message: string } }[];
}

/**
 * The handlers module the worker loads, in the shape the README documents (`default` maps a job type or
 * queue name to a handler), written with the handlers of the test's queues only (`spool work` works every
 * queue a handler is named after, and each must be declared). Handlers announce themselves on stdout so the
 * test can wait on them; `poison` and `fragile` fail until a `fixed` file appears beside the module ("fix
 * the cause, then replay").
 */
const HANDLERS: Record<string, string> = {
  emails: `async (payload, ctx) => ({ sent: payload.to, attempt: ctx.job.attempt })`,
  slow: `async (payload, ctx) => {
    console.log('started ' + ctx.job.id);
    await new Promise((r) => setTimeout(r, payload.ms));
    return { slept: payload.ms };
  }`,
  stuck: `(payload, ctx) => new Promise(() => console.log('started ' + ctx.job.id))`, // ignores its signal
  poison: `async (payload) => {
    if (!fixed()) throw new Error('cannot render report ' + payload.n);
    return 'rendered';
  }`,
  fragile: `async () => {
    if (!fixed()) throw Object.assign(new Error('bad address, do not retry'), { retryable: false });
    return 'sent';
  }`,
  'render-invoice': `async (payload, ctx) => ({ invoice: payload.n, type: ctx.job.type })`,
};

function handlersModule(names: string[]): string {
  return [
    `import { existsSync } from 'node:fs';`,
    `const fixed = () => existsSync(new URL('./fixed', import.meta.url));`,
    `export default {`,
    ...names.map((n) => `  ${JSON.stringify(n)}: ${HANDLERS[n]!},`),
    `};`,
  ].join('\n');
}

/** A temp dir with a migrated store, the given queues declared, and a handlers module for `handlers`. */
async function setup(queues: Record<string, string>, handlerNames = Object.keys(queues)): Promise<{ dir: string; url: string; handlers: string }> {
  const dir = tmp.make('spool-work-');
  const url = `sqlite:${join(dir, 'work.db')}`;
  const handlers = join(dir, 'handlers.mjs');
  writeFileSync(handlers, handlersModule(handlerNames));
  if (Object.keys(queues).length === 0) expect((await spool(['migrate', '--db', url])).code).toBe(0); // `queues set` migrates too
  const results = await inTurn(Object.entries(queues).map(([name, config]) => () => spool(['queues', 'set', name, config, '--db', url])));
  for (const r of results) expect(r.code).toBe(0);
  return { dir, url, handlers };
}

async function startWorker(url: string, handlers: string, extra: string[] = []): Promise<LongRunning> {
  const w = spoolLong(['work', '--db', url, '--handlers', handlers, ...extra]);
  procs.push(w);
  await w.waitForLine(/^spool worker \S+ on sqlite:\S+ ready$/m);
  return w;
}

async function enqueue(url: string, queue: string, payload: unknown, extra: string[] = []): Promise<string> {
  const r = await spool(['enqueue', queue, JSON.stringify(payload), '--db', url, ...extra]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout.split(' ')[0]!;
}

async function status(url: string, id: string): Promise<JobJson> {
  const r = await spool(['status', id, '--db', url, '--json']);
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as JobJson;
}

/** Poll `spool status` (a bounded number of times) until the job reaches `state`. */
async function waitForState(url: string, id: string, state: string, timeoutMs = 15_000): Promise<JobJson> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await status(url, id);
    if (job.state === state) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} is ${job.state}, not ${state}, after ${timeoutMs} ms`);
  }
}

describe('spool work', () => {
  it('runs jobs enqueued before and while it runs, and exits 0 on SIGTERM', async () => {
    const { url, handlers } = await setup({ emails: '{}' });
    const before = await inTurn([1, 2, 3].map((n) => () => enqueue(url, 'emails', { to: `user${n}@example.com` })));

    const worker = await startWorker(url, handlers);
    // --wait returns once this job is finished; exit 0 only if it completed.
    const waited = await spool(['enqueue', 'emails', '{"to":"late@example.com"}', '--wait', '--json', '--timeout', '15', '--db', url]);
    expect(waited.stderr).toBe('');
    expect(waited.code).toBe(0);
    expect(JSON.parse(waited.stdout)).toMatchObject({ state: 'completed', attempts: 1, result: { sent: 'late@example.com', attempt: 1 } });

    for (const [i, id] of before.entries()) {
      const job = await waitForState(url, id, 'completed');
      expect(job.result).toEqual({ sent: `user${i + 1}@example.com`, attempt: 1 });
      expect(job.history.map((h) => h.state)).toEqual(['queued', 'active', 'completed']);
    }

    expect(await worker.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    const list = await spool(['queues', '--db', url, '--json']);
    const [q] = (JSON.parse(list.stdout) as { queues: { stats: { counts: Record<string, number> } }[] }).queues;
    expect(q!.stats.counts).toMatchObject({ queued: 0, active: 0, completed: 4, dead: 0 });
  });

  it('a handler keyed by job type runs that type on the queues given with --queues', async () => {
    const { url, handlers } = await setup({ billing: '{}' }, ['render-invoice']);
    const worker = await startWorker(url, handlers, ['--queues', 'billing']);
    const r = await spool(['enqueue', 'billing', '{"n":12}', '--type', 'render-invoice', '--wait', '--json', '--timeout', '15', '--db', url]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ state: 'completed', result: { invoice: 12, type: 'render-invoice' } });
    expect(await worker.stop()).toEqual({ code: 0, signal: null });
  });

  it('a handlers module whose default export is a function defines job types on the engine itself', async () => {
    const { dir, url } = await setup({ images: '{}' }, []);
    const module = join(dir, 'define.mjs');
    writeFileSync(
      module,
      `export default (spool) => {\n  spool.defineJob({ type: 'resize', queue: 'images', handler: async (p, ctx) => ({ width: p.width / 2, type: ctx.job.type }) });\n};\n`,
    );
    const worker = await startWorker(url, module); // no --queues: the job type's queue is worked
    const r = await spool(['enqueue', 'images', '{"width":640}', '--type', 'resize', '--wait', '--json', '--timeout', '15', '--db', url]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ state: 'completed', result: { width: 320, type: 'resize' } });
    expect(await worker.stop()).toEqual({ code: 0, signal: null });
  });

  it('SIGTERM lets a running handler finish within the grace period, then exits 0', async () => {
    const { url, handlers } = await setup({ slow: '{}' });
    const worker = await startWorker(url, handlers, ['--grace', '20']);
    const id = await enqueue(url, 'slow', { ms: 1500 });
    await worker.waitForLine(new RegExp(`^started ${id}$`, 'm'));

    expect(await worker.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    const job = await status(url, id);
    expect(job).toMatchObject({ state: 'completed', attempts: 1, result: { slept: 1500 } });
  });

  it('past the grace period it releases running jobs to queued without spending the attempt, and exits 0', async () => {
    const { url, handlers } = await setup({ stuck: '{}' });
    const worker = await startWorker(url, handlers, ['--grace', '0.5']);
    const id = await enqueue(url, 'stuck', {});
    await worker.waitForLine(new RegExp(`^started ${id}$`, 'm'));

    const t0 = Date.now();
    expect(await worker.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    expect(Date.now() - t0).toBeLessThan(10_000);
    const job = await status(url, id);
    expect(job.state).toBe('queued');
    expect(job.attempts).toBe(0);
    expect(job.history.at(-1)).toMatchObject({ state: 'queued', reason: 'release' });
  });

  it('fails to start with one line: a handlers module that cannot be loaded, an undeclared queue, bad numbers', async () => {
    const { dir, url, handlers } = await setup({ emails: '{}' });
    writeFileSync(join(dir, 'broken.mjs'), 'export default {\n');
    const cases: [string[], number, RegExp][] = [
      [['--handlers', join(dir, 'nope.mjs')], 2, /^spool: cannot load handlers module .*nope\.mjs/],
      [['--handlers', join(dir, 'broken.mjs')], 2, /^spool: cannot load handlers module .*broken\.mjs/],
      [['--handlers', handlers, '--queues', 'emails,nosuch'], 1, /^spool: queue_not_found: queue "nosuch" is not declared$/],
      [['--handlers', handlers, '--concurrency', 'lots'], 2, /^spool: --concurrency must be a non-negative integer$/],
      [['--handlers', handlers, '--grace', 'soon'], 2, /^spool: --grace must be a number of seconds$/],
    ];
    const results = await inTurn(cases.map(([args]) => () => spool(['work', '--db', url, ...args], { timeoutMs: 10_000 })));
    results.forEach((r, i) => {
      const [args, code, line] = cases[i]!;
      expect({ args, code: r.code, stdout: r.stdout, lines: stderrLines(r) }).toEqual({ args, code, stdout: '', lines: [expect.stringMatching(line)] });
    });
  });
});

describe('spool dlq', () => {
  it('lists dead jobs (paged), replays them (dry run, by id, --all) with attempts reset, and they run again', async () => {
    const { dir, url, handlers } = await setup({ poison: '{"maxAttempts":1}', fragile: '{"maxAttempts":5}' });
    const [early1, early2] = await inTurn([() => enqueue(url, 'poison', { n: 8 }), () => enqueue(url, 'poison', { n: 9 })]);
    let worker = await startWorker(url, handlers);

    // maxAttempts 1: the first failure is the last. --wait exits 1 because the job did not complete.
    const [poisoned, fragile] = await Promise.all([
      spool(['enqueue', 'poison', '{"n":7}', '--wait', '--json', '--timeout', '15', '--db', url]),
      spool(['enqueue', 'fragile', '{}', '--wait', '--json', '--timeout', '15', '--db', url]),
    ]);
    expect(poisoned.code).toBe(1);
    const deadJob = JSON.parse(poisoned.stdout) as JobJson;
    expect(deadJob).toMatchObject({ state: 'dead', attempts: 1, maxAttempts: 1, lastError: { message: 'cannot render report 7' } });
    // retryable: false goes straight to the DLQ with attempts to spare.
    expect(fragile.code).toBe(1);
    const fragileJob = JSON.parse(fragile.stdout) as JobJson;
    expect(fragileJob).toMatchObject({ state: 'dead', attempts: 1, maxAttempts: 5, lastError: { message: 'bad address, do not retry', retryable: false } });
    await waitForState(url, early1!, 'dead');
    await waitForState(url, early2!, 'dead');
    expect(await worker.stop()).toEqual({ code: 0, signal: null });

    const [first, listText] = await inTurn([
      () => spool(['dlq', 'list', 'poison', '--db', url, '--json', '--limit', '2']),
      () => spool(['dlq', 'list', 'poison', '--db', url]),
    ]);
    expect(first.code).toBe(0);
    const page1 = JSON.parse(first.stdout) as { jobs: JobJson[]; nextCursor: string | null };
    expect(page1.jobs).toHaveLength(2);
    expect(page1.nextCursor).toEqual(expect.any(String));
    const second = await spool(['dlq', 'list', 'poison', '--db', url, '--json', '--limit', '2', '--cursor', page1.nextCursor!]);
    expect(second.code).toBe(0);
    const page2 = JSON.parse(second.stdout) as { jobs: JobJson[]; nextCursor: string | null };
    expect(page2.jobs).toHaveLength(1);
    expect(page2.nextCursor).toBeNull();
    const listed = [...page1.jobs, ...page2.jobs];
    expect(listed.map((j) => j.id).sort()).toEqual([deadJob.id, early1, early2].sort());
    expect(listed.every((j) => j.state === 'dead' && /^cannot render report [789]$/.test(j.lastError?.message ?? ''))).toBe(true);
    expect(listText.code).toBe(0);
    expect(listText.stdout).toMatch(new RegExp(`^${deadJob.id}\\s+attempts=1\\s+died \\S+\\s+cannot render report 7$`, 'm'));
    expect(listText.stdout.trim().split('\n')).toHaveLength(3);

    const dry = await spool(['dlq', 'replay', 'poison', '--all', '--dry-run', '--db', url, '--json']);
    expect(dry.code).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ replayed: 3, dryRun: true });
    expect((await status(url, deadJob.id)).state).toBe('dead'); // a dry run changes nothing

    const [byId, all] = await inTurn([
      () => spool(['dlq', 'replay', 'poison', '--id', deadJob.id, '--db', url, '--json']),
      () => spool(['dlq', 'replay', 'fragile', '--all', '--db', url]),
    ]);
    expect(byId.code).toBe(0);
    expect(JSON.parse(byId.stdout)).toEqual({ replayed: 1, dryRun: false, ids: [deadJob.id] });
    expect(all.code).toBe(0);
    expect(all.stdout.trim()).toBe('1 job(s) replayed');

    for (const id of [deadJob.id, fragileJob.id]) {
      const job = await status(url, id);
      expect(job.state).toBe('queued');
      expect(job.attempts).toBe(0);
      expect(job.history.map((h) => h.state)).toEqual(['queued', 'active', 'dead', 'queued']);
      expect(job.history.at(-1)!.reason).toMatch(/replay/);
    }
    const remaining = async (): Promise<string[]> =>
      (JSON.parse((await spool(['dlq', 'list', 'poison', '--db', url, '--json'])).stdout) as { jobs: JobJson[] }).jobs.map((j) => j.id).sort();
    expect(await remaining()).toEqual([early1, early2].sort()); // replay by id leaves the others dead

    // Fix the cause, run a worker again: the replayed jobs complete; the others stay in the DLQ.
    writeFileSync(join(dir, 'fixed'), '');
    expect(existsSync(join(dir, 'fixed'))).toBe(true);
    worker = await startWorker(url, handlers);
    expect(await waitForState(url, deadJob.id, 'completed')).toMatchObject({ attempts: 1, result: 'rendered' });
    expect(await waitForState(url, fragileJob.id, 'completed')).toMatchObject({ attempts: 1, result: 'sent' });
    expect(await remaining()).toEqual([early1, early2].sort());
    expect(await worker.stop()).toEqual({ code: 0, signal: null });
  }, 150_000); // about twenty CLI processes in turn: slow on a busy 2-core machine

  it('fails with one line: unknown queue (1), no ids and no --all, or both (2)', async () => {
    const { url } = await setup({ poison: '{}' });
    const cases: [string[], number, RegExp][] = [
      [['dlq', 'list', 'nosuch'], 1, /^spool: queue_not_found: /],
      [['dlq', 'replay', 'nosuch', '--all'], 1, /^spool: queue_not_found: /],
      [['dlq', 'replay', 'poison'], 2, /^spool: give --id ID\.\.\. or --all$/],
      [['dlq', 'replay', 'poison', '--all', '--id', 'x'], 2, /^spool: give --id or --all, not both$/],
      [['dlq', 'list', 'poison', '--limit', 'many'], 2, /^spool: --limit must be/],
    ];
    const results = await inTurn(cases.map(([args]) => () => spool([...args, '--db', url])));
    results.forEach((r, i) => {
      const [args, code, line] = cases[i]!;
      expect({ args, code: r.code, stdout: r.stdout, lines: stderrLines(r) }).toEqual({ args, code, stdout: '', lines: [expect.stringMatching(line)] });
    });
  });
});
