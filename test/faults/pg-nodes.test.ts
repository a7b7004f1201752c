/**
 * Many nodes over one PostgreSQL database, with real processes: two `spool work` CLI processes (run from the
 * sources under tsx, handlers from test/faults/children/pg-handlers.ts, which log `<jobId> <pid> <attempt>`
 * per run to a file per process) and this test process as the producer. One fresh schema for the file.
 *   1. 10,000 jobs, no kill: each job runs exactly once, completes exactly once, and both processes work.
 *   2. SIGKILL of the maintenance leader mid-load (leaseSeconds 2): the survivor takes the leadership over,
 *      reaps the dead process's leases and finishes everything; only jobs the dead process held run twice.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Spool, type Job } from '../../src/index.js';
import type { LongRunning} from '../cli/spawn.js';
import { TempDirs } from '../cli/spawn.js';
import { useTestSchema } from '../helpers/pg-schema.js';
import { runsOf, startPgWorker, until, type Run } from './pg-worker-processes.js';

const schema = useTestSchema(import.meta.url);
const dirs = new TempDirs();
const procs: LongRunning[] = [];
const spools: Spool[] = [];

afterEach(async () => {
  for (const p of procs.splice(0)) p.kill();
  for (const s of spools.splice(0)) await s.close({ graceMs: 0 });
  dirs.cleanup();
});

function startWorker(queue: string, runDir: string, delayMs: number): LongRunning {
  const p = startPgWorker({ url: schema().url, handlers: 'test/faults/children/pg-handlers.ts', queue, runDir, delayMs });
  procs.push(p);
  return p;
}

async function produce(spool: Spool, queue: string, total: number): Promise<string[]> {
  const producers = 4;
  const batch = 100;
  const ids: string[][] = Array.from({ length: producers }, () => []);
  await Promise.all(
    ids.map(async (mine, p) => {
      for (let n = p * batch; n < total; n += producers * batch) {
        const items = Array.from({ length: Math.min(batch, total - n) }, (_, i) => ({ queue, payload: { n: n + i } }));
        mine.push(...(await spool.enqueueMany(items)).map((r) => r.id));
      }
    }),
  );
  return ids.flat();
}

async function allJobs(spool: Spool, ids: readonly string[]): Promise<Job[]> {
  const out: Job[] = [];
  for (let i = 0; i < ids.length; i += 500) out.push(...(await spool.store.jobGetMany({ ids: ids.slice(i, i + 500) })));
  return out;
}

async function completedCount(spool: Spool, queue: string): Promise<number> {
  const [s] = await spool.stats(queue);
  return s?.counts.completed ?? 0;
}

describe('two `spool work` processes over one PostgreSQL database', () => {
  it('10,000 jobs from producers: each runs once and completes once, no job is held by two workers, both processes work', async () => {
    const spool = await Spool.open(schema().url);
    spools.push(spool);
    await spool.declareQueue('pg-nodes', { leaseSeconds: 30 });
    const runDir = dirs.make('spool-pg-nodes-');
    const a = startWorker('pg-nodes', runDir, 0);
    const b = startWorker('pg-nodes', runDir, 0);
    await Promise.all([a.waitForLine(/spool worker \S+ .* ready/, 30_000), b.waitForLine(/spool worker \S+ .* ready/, 30_000)]);
    const pids = [a.child.pid!, b.child.pid!];

    const ids = await produce(spool, 'pg-nodes', 10_000);
    expect(new Set(ids).size).toBe(10_000);
    await until('10,000 completed', async () => ((await completedCount(spool, 'pg-nodes')) >= 10_000 ? true : undefined), 45_000, () => `a: ${a.stderr.slice(-500)} b: ${b.stderr.slice(-500)}`);
    const stops = await Promise.all([a.stop('SIGTERM'), b.stop('SIGTERM')]);
    expect(stops).toEqual([{ code: 0, signal: null }, { code: 0, signal: null }]);

    const runs = pids.flatMap((pid) => runsOf(runDir, pid));
    const byId = new Map<string, Run[]>();
    for (const r of runs) byId.set(r.id, [...(byId.get(r.id) ?? []), r]);
    // Without a kill nothing loses its lease: every job ran exactly once, at attempt 1.
    expect([...byId.keys()].sort()).toEqual([...ids].sort());
    expect(runs.filter((r) => r.attempt !== 1 || byId.get(r.id)!.length !== 1)).toEqual([]);
    for (const pid of pids) expect(runs.filter((r) => r.pid === pid).length, `jobs run by ${pid}`).toBeGreaterThanOrEqual(100);

    const jobs = await allJobs(spool, ids);
    expect(jobs).toHaveLength(10_000);
    const wrong: string[] = [];
    for (const job of jobs) {
      const completions = job.history.filter((h) => h.state === 'completed').length;
      const ranBy = byId.get(job.id)![0]!.pid;
      if (job.state !== 'completed' || completions !== 1 || job.attempts !== 1 || (job.result as { pid: number }).pid !== ranBy || job.history.some((h) => h.reason === 'lease-expired')) {
        wrong.push(`${job.id}: ${job.state} attempts=${job.attempts} completions=${completions} result=${JSON.stringify(job.result)} ran by ${ranBy}`);
      }
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    const [stats] = await spool.stats('pg-nodes');
    expect(stats!.totals).toMatchObject({ enqueued: 10_000, completed: 10_000, failed: 0, dead: 0 });
  });

  it('SIGKILL of the maintenance leader mid-load: the survivor takes over, recovers the dead leases, and only jobs the dead process held run twice', async () => {
    const spool = await Spool.open(schema().url);
    spools.push(spool);
    await spool.declareQueue('pg-kill', { leaseSeconds: 2, maxAttempts: 5, backoff: { initialSeconds: 0.01, maxSeconds: 0.02 } });
    const runDir = dirs.make('spool-pg-kill-');
    const a = startWorker('pg-kill', runDir, 40);
    const b = startWorker('pg-kill', runDir, 40);
    await Promise.all([a.waitForLine(/spool worker \S+ .* ready/, 30_000), b.waitForLine(/spool worker \S+ .* ready/, 30_000)]);
    const leader = await until('a maintenance leader', () => [a, b].find((p) => p.stderr.includes('became maintenance leader')), 20_000);
    // Produce once both are ready, so the load is shared from the start.
    const ids = await produce(spool, 'pg-kill', 3_000);
    const survivor = leader === a ? b : a;
    const killedPid = leader.child.pid!;
    const survivorPid = survivor.child.pid!;

    // Mid-load: both have run jobs, most are still to do.
    await until('both processes running jobs', () => (runsOf(runDir, killedPid).length >= 200 && runsOf(runDir, survivorPid).length >= 50 ? true : undefined), 30_000);
    leader.kill();
    expect((await leader.exited).signal).toBe('SIGKILL');
    expect(await completedCount(spool, 'pg-kill')).toBeLessThan(3_000);

    await until('3,000 completed', async () => ((await completedCount(spool, 'pg-kill')) >= 3_000 ? true : undefined), 45_000, () => `survivor stderr: ${survivor.stderr.slice(-1000)}`);
    // The dead leases were recovered by the survivor's own claims (claim-side takeover, no leader needed), so
    // the 3,000 may complete before the dead leader's 15 s lease runs out; the survivor becomes leader after.
    await until('the survivor to become maintenance leader', () => (survivor.stderr.includes('became maintenance leader') ? true : undefined), 30_000);
    expect(await survivor.stop('SIGTERM')).toEqual({ code: 0, signal: null });

    const killedRuns = runsOf(runDir, killedPid);
    const survivorRuns = runsOf(runDir, survivorPid);
    const killedById = new Map(killedRuns.map((r) => [r.id, r]));
    const survivorById = new Map(survivorRuns.map((r) => [r.id, r]));
    // Neither process ran a job twice itself.
    expect(killedById.size).toBe(killedRuns.length);
    expect(survivorById.size).toBe(survivorRuns.length);

    const jobs = await allJobs(spool, ids);
    expect(jobs).toHaveLength(3_000);
    const wrong: string[] = [];
    let reclaimed = 0;
    let finishedByKilled = 0;
    for (const job of jobs) {
      const k = killedById.get(job.id);
      const s = survivorById.get(job.id);
      const result = job.result as { pid: number } | undefined;
      const completions = job.history.filter((h) => h.state === 'completed').length;
      const expiredAttempts = job.history.filter((h) => h.reason === 'lease-expired').map((h) => h.attempt);
      const problem = (msg: string): void => void wrong.push(`${job.id}: ${msg}; history ${JSON.stringify(job.history.map((h) => [h.state, h.attempt, h.reason]))}; killed run ${JSON.stringify(k)}, survivor run ${JSON.stringify(s)}`);
      if (job.state !== 'completed' || completions !== 1) problem(`state ${job.state}, ${completions} completions`);
      else if (!k && !s) problem('never ran');
      // The survivor never lost a lease: no attempt it ran expired.
      else if (s && expiredAttempts.includes(s.attempt)) problem('the survivor lost a lease');
      else if (expiredAttempts.length > 0) {
        // Held by the killed process (claimed, maybe run) and never finished there: run again by the survivor,
        // at a later attempt, after the dead lease expired.
        reclaimed++;
        if (!s || result?.pid !== survivorPid || job.attempts !== Math.max(...expiredAttempts) + 1) problem('lease expired but not finished by the survivor at the next attempt');
        else if (k && !(k.attempt < s.attempt && expiredAttempts.includes(k.attempt))) problem('two runs whose leases overlap');
      } else if (k && s) problem('ran in both processes without a lease expiring');
      else if (k) {
        finishedByKilled++;
        if (result?.pid !== killedPid || job.attempts !== 1 || k.attempt !== 1) problem('run once by the killed process but not its result');
      } else if (result?.pid !== survivorPid || job.attempts !== 1 || s!.attempt !== 1) problem('run once by the survivor but not its result');
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    // The kill did land mid-load: jobs were finished by the dead process, and some of its leases had to be reaped.
    expect(finishedByKilled).toBeGreaterThan(0);
    expect(reclaimed).toBeGreaterThan(0);
    const [stats] = await spool.stats('pg-kill');
    expect(stats!.totals).toMatchObject({ enqueued: 3_000, completed: 3_000, dead: 0 });
  });
});
