import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Spool } from '../../src/index.js';
import { startChild } from '../helpers/fault-process.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

async function setUp(queueConfig: Parameters<Spool['declareQueue']>[1]) {
  const dir = mkdtempSync(join(tmpdir(), 'spool-fault-worker-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const url = `sqlite:${join(dir, 'spool.db')}`;
  const spool = await Spool.open(url);
  cleanups.push(() => spool.close({ graceMs: 0 }));
  await spool.declareQueue('crashy', queueConfig);
  return { dir, url, spool };
}

describe('kill -9 of a worker process', () => {
  it('a job whose worker died after its side-effect step is completed by another worker once its lease expires, without repeating the step', async () => {
    const { dir, url, spool } = await setUp({ leaseSeconds: 2, maxAttempts: 3, backoff: { initialSeconds: 0.01, maxSeconds: 0.02 } });
    const effects = join(dir, 'side-effects.log');
    const { id } = await spool.enqueue('crashy', { charge: 42 });

    const child = startChild('test/faults/children/worker.ts', { url, queue: 'crashy', mode: 'step-then-hang', sideEffectFile: effects });
    await child.waitForLine((l) => l === `STEP ${id} 1`, 30_000);
    expect(readFileSync(effects, 'utf8')).toBe(`${id}\n`);
    const running = await spool.getJob(id);
    expect(running).toMatchObject({ state: 'active', attempts: 1 });
    child.kill('SIGKILL');
    expect((await child.exited).signal).toBe('SIGKILL');

    // A second worker (this process) with the same handler and an eager lease reaper.
    let stepRuns = 0;
    spool.handle('crashy', async (_payload, ctx) => {
      const pid = await ctx.step('side-effect', () => {
        stepRuns++;
        appendFileSync(effects, `${ctx.job.id}\n`);
        return process.pid;
      });
      return { stepPid: pid, finishedBy: process.pid, attempt: ctx.job.attempt };
    });
    await spool.work({ queues: ['crashy'], maintenance: { reapIntervalMs: 100, leaderTtlMs: 1000 } });
    const job = await spool.waitFor(id, { timeoutMs: 20_000 });

    expect(job.state).toBe('completed');
    expect(job.attempts).toBe(2);
    expect(job.result).toEqual({ stepPid: child.process.pid, finishedBy: process.pid, attempt: 2 });
    expect(stepRuns).toBe(0);
    expect(readFileSync(effects, 'utf8')).toBe(`${id}\n`);
    expect(job.history.map((h) => [h.state, h.attempt, h.reason ?? null])).toEqual([
      ['queued', 0, null],
      ['active', 1, null],
      ['retrying', 1, 'lease-expired'],
      ['queued', 1, 'due'],
      ['active', 2, null],
      ['completed', 2, null],
    ]);
    expect(job.history.filter((h) => h.state === 'completed')).toHaveLength(1);
  });

  it('a worker killed mid-drain loses no job: another worker finishes the rest, and only jobs whose lease expired run twice', async () => {
    const { url, spool } = await setUp({ leaseSeconds: 1, maxAttempts: 3, backoff: { initialSeconds: 0.01, maxSeconds: 0.02 } });
    const ids: string[] = [];
    for (let b = 0; b < 4; b++) ids.push(...(await Promise.all(Array.from({ length: 100 }, (_, i) => spool.enqueue('crashy', { n: b * 100 + i })))).map((r) => r.id));

    const child = startChild('test/faults/children/worker.ts', { url, queue: 'crashy', mode: 'record', concurrency: 16, delayMs: 20 });
    await child.waitForLine((l) => l.startsWith('RUN ') && child.lines.filter((x) => x.startsWith('RUN ')).length >= 100, 30_000);
    child.kill('SIGKILL');
    expect((await child.exited).signal).toBe('SIGKILL');
    const ranInChild = new Set(child.ledger().filter((l) => l.startsWith('RUN ')).map((l) => l.split(' ')[1]!));

    const ranHere = new Map<string, number>();
    spool.handle('crashy', async (_payload, ctx) => {
      ranHere.set(ctx.job.id, (ranHere.get(ctx.job.id) ?? 0) + 1);
      return { pid: process.pid };
    });
    await spool.work({ queues: ['crashy'], concurrency: 16, maintenance: { reapIntervalMs: 100, leaderTtlMs: 1000 } });
    const jobs = await Promise.all(ids.map((id) => spool.waitFor(id, { timeoutMs: 30_000, pollMs: 50 })));

    expect(jobs.filter((j) => j.state !== 'completed').map((j) => `${j.id}: ${j.state}`)).toEqual([]);
    let reclaimed = 0;
    for (const job of jobs) {
      const expired = job.history.some((h) => h.reason === 'lease-expired');
      const here = ranHere.get(job.id) ?? 0;
      expect(here, `runs of ${job.id} in the second worker`).toBeLessThanOrEqual(1);
      if (expired) {
        reclaimed++;
        // The killed worker held it (maybe ran it) but never committed the outcome: it ran again here.
        expect(job.attempts).toBe(2);
        expect(here).toBe(1);
        expect(job.result).toEqual({ pid: process.pid });
      } else if (here === 1) {
        expect(job.attempts).toBe(1); // never claimed by the killed worker
        expect(ranInChild.has(job.id)).toBe(false);
      } else {
        // Completed by the killed worker before it died: not run again.
        expect(job.attempts).toBe(1);
        expect(job.result).toEqual({ pid: child.process.pid });
        expect(ranInChild.has(job.id)).toBe(true);
      }
    }
    // The kill did land mid-drain: some jobs were finished there, some leases were lost, some never started.
    expect(jobs.filter((j) => (j.result as { pid: number }).pid === child.process.pid).length).toBeGreaterThanOrEqual(50);
    expect(reclaimed).toBeGreaterThan(0);
    expect(ranHere.size).toBeGreaterThan(reclaimed);
  });

  it('a job that SIGKILLs its own worker every time ends in the DLQ after maxAttempts worker restarts', async () => {
    const { url, spool } = await setUp({ leaseSeconds: 1, maxAttempts: 3, backoff: { initialSeconds: 0.01, maxSeconds: 0.02 } });
    const { id } = await spool.enqueue('crashy', { fatal: true });
    // This process only runs maintenance (reaper, scheduler): it works a queue nobody uses.
    await spool.declareQueue('unused');
    spool.handle('unused', () => undefined);
    await spool.work({ queues: ['unused'], maintenance: { reapIntervalMs: 100, leaderTtlMs: 1000 } });

    const attemptsSeen: number[] = [];
    for (let restart = 0; restart < 6; restart++) {
      // Start the next worker once the job can be claimed again (or stop when it is dead).
      const state = await waitForStateIn(spool, id, ['queued', 'dead']);
      if (state === 'dead') break;
      const child = startChild('test/faults/children/worker.ts', { url, queue: 'crashy', mode: 'kill-self' });
      const exit = await Promise.race([child.exited, new Promise<null>((r) => setTimeout(() => r(null), 20_000))]);
      if (exit === null) {
        child.kill('SIGKILL');
        throw new Error(`worker did not kill itself; lines: ${child.lines.join(' | ')}`);
      }
      expect(exit.signal).toBe('SIGKILL');
      for (const line of child.ledger()) {
        const m = /^RUN (\S+) (\d+)$/.exec(line);
        if (m && m[1] === id) attemptsSeen.push(Number(m[2]));
      }
      // The dead worker's lease expires next; the reaper here counts it as a failed attempt.
    }

    const job = await spool.getJob(id);
    expect(job.state).toBe('dead');
    expect(job.attempts).toBe(3);
    expect(attemptsSeen).toEqual([1, 2, 3]);
    expect(job.lastError?.name).toBe('LeaseExpired');
    expect(job.history.filter((h) => h.reason === 'lease-expired').map((h) => [h.state, h.attempt])).toEqual([
      ['retrying', 1],
      ['retrying', 2],
      ['dead', 3],
    ]);
    expect((await spool.dlq.list('crashy')).jobs.map((j) => j.id)).toEqual([id]);
  });
});

async function waitForStateIn(spool: Spool, id: string, states: readonly string[]): Promise<string> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const { state } = await spool.getJob(id);
    if (states.includes(state)) return state;
    if (Date.now() > deadline) throw new Error(`job ${id} stuck in ${state}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
