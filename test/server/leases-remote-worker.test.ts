/**
 * `spool work --url` against `spool serve`, both real processes, on every store: 500 jobs run to completion,
 * each executed and completed exactly once; a SIGTERM mid-run lets running handlers finish (exit 0) and a
 * second worker completes the rest, nothing run twice; past the grace period a stuck job is released (its
 * attempt not spent); failures become nacks (retrying, then dead; not retryable → dead at once); leases
 * shorter than the handler are extended; progress and job types with upcasters work remotely.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SpoolClient, type JobJson } from '../../src/client/index.js';
import { buildCli, spool, spoolLong, TempDirs, type LongRunning } from '../cli/spawn.js';
import { forEachStore, onCleanup, waitUntil } from '../engine/harness.js';
import type { StoreUnderTest } from '../helpers/stores.js';

const tmp = new TempDirs();
const procs: LongRunning[] = [];
beforeAll(buildCli, 180_000); // a cold build of src/ (tsc) under a loaded 2-core machine
afterEach(() => {
  for (const p of procs.splice(0)) p.kill();
  tmp.cleanup();
});

const LISTENING = /listening on http:\/\/(127\.0\.0\.1):(\d+)$/m;
const READY = /^spool worker (\S+) on http:\/\/127\.0\.0\.1:\d+ ready$/m;

interface Setup {
  readonly dir: string;
  readonly server: LongRunning;
  readonly base: string;
  readonly client: SpoolClient;
  readonly log: string;
}

/** `spool serve` on a fresh store of the block's kind, and a client for it. */
async function setup(store: StoreUnderTest): Promise<Setup> {
  const location = await store.newLocation();
  onCleanup(() => location.dispose());
  const dir = tmp.make('spool-remote-');
  const server = spoolLong(['serve', '--db', location.url, '--port', '0']);
  procs.push(server);
  onCleanup(async () => void (await server.stop('SIGTERM')));
  const m = await server.waitForLine(LISTENING);
  const base = `http://${m[1]}:${m[2]}`;
  return { dir, server, base, client: new SpoolClient({ url: base }), log: join(dir, 'executions.log') };
}

/** A handlers module; every execution appends `id attempt pid` to the log before the handler's own code. */
function handlersFile(s: Setup, body: string): string {
  const file = join(s.dir, `handlers-${Math.random().toString(36).slice(2)}.mjs`);
  writeFileSync(
    file,
    [
      `import { appendFileSync } from 'node:fs';`,
      `const log = ${JSON.stringify(s.log)};`,
      `const seen = (ctx) => appendFileSync(log, ctx.job.id + ' ' + ctx.job.attempt + ' ' + process.pid + '\\n');`,
      `const sleep = (ms) => new Promise((r) => setTimeout(r, ms));`,
      body,
    ].join('\n'),
  );
  return file;
}

async function startWorker(s: Setup, handlers: string, extra: string[] = []): Promise<LongRunning> {
  const w = spoolLong(['work', '--url', s.base, '--handlers', handlers, ...extra]);
  procs.push(w);
  await w.waitForLine(READY);
  return w;
}

function executions(s: Setup): Array<{ id: string; attempt: number; pid: number }> {
  let text = '';
  try {
    text = readFileSync(s.log, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [id, attempt, pid] = line.split(' ');
      return { id: id!, attempt: Number(attempt), pid: Number(pid) };
    });
}

async function counts(s: Setup, queue: string): Promise<Record<string, number>> {
  return (await s.client.getQueue(queue)).stats.counts;
}

async function allJobs(s: Setup, queue: string): Promise<JobJson[]> {
  const out: JobJson[] = [];
  let cursor: string | null = null;
  do {
    const page = await s.client.listJobs({ queue, limit: 500, cursor });
    out.push(...page.jobs);
    cursor = page.nextCursor;
  } while (cursor);
  return out;
}

forEachStore((store) => {
  describe('spool work --url', () => {
    it('runs 500 jobs against a spool serve process to completion, each executed and completed exactly once', async () => {
      const s = await setup(store);
      await s.client.putQueue('bulk');
      const handlers = handlersFile(s, `export default { bulk: async (payload, ctx) => { seen(ctx); return { n: payload.n }; } };`);
      const ids = [
        ...(await s.client.enqueueBatch('bulk', Array.from({ length: 250 }, (_, n) => ({ payload: { n } })))),
        ...(await s.client.enqueueBatch('bulk', Array.from({ length: 250 }, (_, n) => ({ payload: { n: 250 + n } })))),
      ].map((r) => r.id);
      const worker = await startWorker(s, handlers, ['--concurrency', '8']);

      await waitUntil(async () => (await counts(s, 'bulk')).completed === 500, '500 completed jobs', { timeoutMs: 90_000, intervalMs: 200 });
      const ran = executions(s);
      expect(ran).toHaveLength(500);
      expect(new Set(ran.map((e) => e.id))).toEqual(new Set(ids));
      expect(ran.every((e) => e.attempt === 1 && e.pid === worker.child.pid)).toBe(true);
      const jobs = await allJobs(s, 'bulk');
      expect(jobs).toHaveLength(500);
      for (const job of jobs) {
        expect(job).toMatchObject({ state: 'completed', attempts: 1, result: { n: (job.payload as { n: number }).n } });
        expect(job.history.filter((h) => h.state === 'completed')).toHaveLength(1);
      }
      expect(await counts(s, 'bulk')).toMatchObject({ active: 0, queued: 0, retrying: 0, dead: 0 });
      expect(await worker.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      expect(await s.server.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    });

    it('SIGTERM mid-run: running handlers finish and the worker exits 0; a second worker completes the rest, nothing run twice', async () => {
      const s = await setup(store);
      await s.client.putQueue('steady');
      const handlers = handlersFile(s, `export async function steady(payload, ctx) { seen(ctx); await sleep(25); return payload.n; }`);
      const ids = (await s.client.enqueueBatch('steady', Array.from({ length: 300 }, (_, n) => ({ payload: { n } })))).map((r) => r.id);
      const first = await startWorker(s, handlers, ['--concurrency', '4']);
      await waitUntil(() => executions(s).length >= 40, 'the first worker to be mid-run', { timeoutMs: 30_000 });
      expect(await first.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      const mid = await counts(s, 'steady');
      expect(mid.active).toBe(0); // nothing left leased by the stopped worker
      expect(mid.completed).toBeGreaterThanOrEqual(40);
      expect(mid.completed).toBeLessThan(300);

      const second = await startWorker(s, handlers, ['--concurrency', '4']);
      await waitUntil(async () => (await counts(s, 'steady')).completed === 300, 'every job completed', { timeoutMs: 90_000, intervalMs: 200 });
      const ran = executions(s);
      expect(ran).toHaveLength(300);
      expect(new Set(ran.map((e) => e.id))).toEqual(new Set(ids));
      expect(new Set(ran.map((e) => e.pid))).toEqual(new Set([first.child.pid, second.child.pid]));
      expect((await allJobs(s, 'steady')).every((j) => j.state === 'completed' && j.attempts === 1)).toBe(true);
      expect(await second.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    });

    it('past the grace period a stuck job is released at once, its attempt not spent', async () => {
      const s = await setup(store);
      await s.client.putQueue('stuck');
      const handlers = handlersFile(s, `export default { stuck: (payload, ctx) => { seen(ctx); return new Promise(() => {}); } };`);
      const { id } = await s.client.enqueue('stuck', {});
      const worker = await startWorker(s, handlers, ['--grace', '0.5']);
      await waitUntil(() => executions(s).length === 1, 'the handler to start');
      expect((await s.client.getJob(id)).state).toBe('active');
      expect(await worker.stop('SIGTERM')).toEqual({ code: 0, signal: null });
      const job = await s.client.getJob(id);
      expect(job).toMatchObject({ state: 'queued', attempts: 0 });
      expect(job.history.at(-1)).toMatchObject({ state: 'queued', reason: 'release' });
    });

    it('failures become nacks: retrying with backoff then dead; not retryable → dead at once; progress, extensions and job types work remotely', async () => {
      const s = await setup(store);
      await s.client.putQueue('mixed', { maxAttempts: 3, leaseSeconds: 1, backoff: { initialSeconds: 0.05, maxSeconds: 0.05, multiplier: 1 } });
      const handlers = handlersFile(
        s,
        `export default (spool) => {
          spool.defineJob({
            type: 'render', queue: 'mixed', version: 2, upcasters: { 1: (p) => ({ ...p, pages: p.pages ?? 1 }) },
            handler: async (payload, ctx) => { seen(ctx); return { pages: payload.pages, version: ctx.job.version }; },
          });
          spool.handle('mixed', async (payload, ctx) => {
            seen(ctx);
            if (payload.kind === 'flaky') throw new Error('flaky ' + ctx.job.attempt);
            if (payload.kind === 'fatal') throw Object.assign(new Error('bad input'), { retryable: false });
            if (payload.kind === 'later') throw Object.assign(new Error('come back in an hour'), { retryAfterMs: 3600000 });
            if (payload.kind === 'slow') { await ctx.progress({ half: true }); await sleep(2500); return 'slow done'; }
            if (payload.kind === 'step') return ctx.step('once', () => 1);
            return 'ok';
          });
        };`,
      );
      const flaky = (await s.client.enqueue('mixed', { kind: 'flaky' })).id;
      const fatal = (await s.client.enqueue('mixed', { kind: 'fatal' })).id;
      const slow = (await s.client.enqueue('mixed', { kind: 'slow' })).id;
      const step = (await s.client.enqueue('mixed', { kind: 'step' })).id;
      const old = (await s.client.enqueue('mixed', { title: 'v1' }, { type: 'render', version: 1 })).id;
      const later = (await s.client.enqueue('mixed', { kind: 'later' })).id;
      const worker = await startWorker(s, handlers, ['--queues', 'mixed']);

      const done = await Promise.all([flaky, fatal, slow, step, old].map((id) => s.client.waitFor(id, { timeoutMs: 30_000 })));
      const [f, x, sl, st, o] = done;
      expect(f).toMatchObject({ state: 'dead', attempts: 3, lastError: { message: 'flaky 3' } });
      expect(f!.history.map((h) => h.state)).toEqual(['queued', 'active', 'retrying', 'queued', 'active', 'retrying', 'queued', 'active', 'dead']);
      expect(x).toMatchObject({ state: 'dead', attempts: 1, lastError: { message: 'bad input', retryable: false } });
      // A 1 s lease held through a 2.5 s handler: extended by the worker's tick, never reaped.
      expect(sl).toMatchObject({ state: 'completed', attempts: 1, result: 'slow done', progress: { half: true } });
      expect(st).toMatchObject({ state: 'dead', attempts: 1, lastError: { message: expect.stringContaining('ctx.step is not available in a remote worker') } });
      expect(o).toMatchObject({ state: 'completed', result: { pages: 1, version: 1 } });
      // A handler's RetryAfterError (here: retryAfterMs on the error) travels with the nack: due in an hour, not 50 ms.
      const waiting = await waitUntil(async () => {
        const j = await s.client.getJob(later);
        return j.state === 'retrying' ? j : undefined;
      }, 'the retry-after nack');
      const failed = waiting.history.find((h) => h.state === 'retrying')!;
      expect(Date.parse(waiting.runAt) - Date.parse(failed.at)).toBe(3_600_000);
      expect(await worker.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    });
  });
});

describe('spool work --url (usage)', () => {
  it('fails with one line for a queue the server does not have, an unreachable server, and --db with --url', async () => {
    const dir = tmp.make('spool-remote-');
    const file = join(dir, 'h.mjs');
    writeFileSync(file, 'export default { nowhere: async () => 1 };\n');
    const server = spoolLong(['serve', '--db', `sqlite:${join(dir, 's.db')}`, '--port', '0']);
    procs.push(server);
    const m = await server.waitForLine(LISTENING);
    const base = `http://${m[1]}:${m[2]}`;
    const missing = await spool(['work', '--url', base, '--handlers', file]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim()).toBe('spool: queue_not_found: queue "nowhere" is not declared');
    const both = await spool(['work', '--url', base, '--db', `sqlite:${join(dir, 's.db')}`, '--handlers', file]);
    expect(both.code).toBe(2);
    expect(both.stderr.trim()).toBe('spool: give --db (a store) or --url (a server), not both');
    expect(await server.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    const down = await spool(['work', '--url', base, '--handlers', file, '--queues', 'q']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(/^spool: GET \/v1\/queues\/q: ECONNREFUSED\n$/);
  });
});
