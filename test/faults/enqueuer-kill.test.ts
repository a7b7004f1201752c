import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Spool, type Job } from '../../src/index.js';
import { startChild } from '../helpers/fault-process.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function allJobs(spool: Spool, queue: string): Promise<Job[]> {
  const jobs: Job[] = [];
  let cursor: string | null = null;
  do {
    const page = await spool.listJobs({ queue, limit: 1000, cursor });
    jobs.push(...page.jobs);
    cursor = page.nextCursor;
  } while (cursor);
  return jobs;
}

describe('kill -9 of an enqueuing process', () => {
  it('loses no acknowledged enqueue and invents no job, over 3 kill cycles', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-fault-enq-'));
    dirs.push(dir);
    const file = join(dir, 'spool.db');
    const url = `sqlite:${file}`;
    const setup = await Spool.open(url);
    await setup.declareQueue('intake');
    await setup.close();

    const tried = new Set<string>(); // "run seq"
    const acked = new Map<string, string>(); // "run seq" → id
    for (let run = 1; run <= 3; run++) {
      const child = startChild('test/faults/children/enqueuer.ts', { url, queue: 'intake', run, inFlight: 32, max: 200_000 });
      await child.waitForLine((l) => l === 'READY', 30_000);
      // Kill somewhere between a few hundred acknowledged jobs and about a second of work (counted from the
      // first acknowledgement, so a slow start on a loaded machine still kills mid-stream).
      await child.waitForLine((l) => l.startsWith(`OK ${run} `), 30_000);
      const target = 150 + Math.floor(Math.random() * 600);
      const seen = await Promise.race([
        child.waitForLine((l) => l.startsWith(`OK ${run} `) && Number(l.split(' ')[2]) >= target, 15_000).then(() => 'target'),
        new Promise((r) => setTimeout(r, 1000)).then(() => 'time'),
      ]);
      child.kill('SIGKILL');
      const exit = await child.exited;
      expect(exit.signal, `run ${run} ended by ${seen}`).toBe('SIGKILL');

      // The ledger, not stdout: it holds every line written before the kill (test/faults/children/ledger.ts).
      for (const line of child.ledger()) {
        const [kind, r, seq, id] = line.split(' ');
        if (kind === 'TRY') tried.add(`${r} ${seq}`);
        else if (kind === 'OK') acked.set(`${r} ${seq}`, id!);
        else if (kind === 'ERR') throw new Error(`enqueue failed in the child: ${line}`);
      }
      const ackedThisRun = [...acked.keys()].filter((k) => k.startsWith(`${run} `)).length;
      expect(ackedThisRun, `run ${run} acknowledged some jobs before the kill`).toBeGreaterThan(0);

      // Reopen the store after the crash.
      const spool = await Spool.open(url);
      try {
        const jobs = await allJobs(spool, 'intake');
        const byKey = new Map<string, Job>();
        for (const job of jobs) {
          const { run: r, seq } = job.payload as { run: number; seq: number };
          const key = `${r} ${seq}`;
          expect(tried.has(key), `job ${job.id} (${key}) was never attempted`).toBe(true);
          expect(byKey.has(key), `two jobs for ${key}`).toBe(false);
          byKey.set(key, job);
          expect(job.state).toBe('queued');
        }
        for (const [key, id] of acked) {
          expect(byKey.get(key)?.id, `acknowledged job ${key} (${id})`).toBe(id);
        }
        // Counters were written in the same transactions as the jobs.
        const [stats] = await spool.stats('intake');
        expect(stats!.counts.queued).toBe(jobs.length);
        expect(stats!.totals.enqueued).toBe(jobs.length);
        // Idempotency keys committed with their jobs: replaying an acknowledged keyed request returns it.
        const keyed = [...acked].find(([key]) => Number(key.split(' ')[1]) % 3 === 0);
        if (keyed) {
          const [r, seq] = keyed[0].split(' ').map(Number);
          const again = await spool.enqueue('intake', { run: r, seq }, { idempotencyKey: `r${r}-s${seq}` });
          expect(again).toMatchObject({ id: keyed[1], replayed: true });
        }
      } finally {
        await spool.close();
      }
      const db = new Database(file, { readonly: true });
      try {
        expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      } finally {
        db.close();
      }
    }
    expect(acked.size).toBeGreaterThan(3 * 100);
  });
});
