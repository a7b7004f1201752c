/**
 * PostgreSQL outages during a burst of enqueues, with real processes, on a private throwaway cluster
 * (test/helpers/pg-cluster.ts: initdb into a temp folder, its own port; never the machine's shared server).
 * Two `spool work` CLI processes (handlers from test/faults/children/pg-outage-handlers.ts, which log
 * `<jobId> <pid> <attempt>` per run to a file per process) and this test process as the producer, enqueueing
 * continuously through the library and recording every acknowledged id and every refusal.
 *
 * During the burst: `pg_terminate_backend` of every Spool connection (twice), then a full stop of the
 * cluster — enqueue fails fast with StoreUnavailableError and both workers back off — and a start again.
 * Afterwards, without any help: the worker processes are alive and listening again, every acknowledged id is
 * present and completed exactly once (handler runs may repeat: at-least-once), no job is left anywhere but
 * `completed` (so none stays active past its lease), every refusal was StoreUnavailableError, and both
 * workers exit 0 on SIGTERM.
 */
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { Spool, StoreUnavailableError, type Job } from '../../src/index.js';
import type { LongRunning} from '../cli/spawn.js';
import { TempDirs } from '../cli/spawn.js';
import { usePgCluster } from '../helpers/pg-cluster.js';
import { runsOf, startPgWorker, until, type Run } from './pg-worker-processes.js';

const SCHEMA = 'spool_outage';
/** The application_name every connection of a Spool process on this schema carries (connection.ts). */
const SPOOL_APP = `spool ${SCHEMA}`;
const QUEUE = 'pg-outage';
const LEASE_SECONDS = 3;
/** The producer stops after this many acknowledged enqueues. */
const TOTAL = 2_500;

const cluster = usePgCluster();
const dirs = new TempDirs();
const procs: LongRunning[] = [];
const spools: Spool[] = [];

afterEach(async () => {
  for (const p of procs.splice(0)) p.kill();
  for (const s of spools.splice(0)) await s.close({ graceMs: 0 }).catch(() => undefined);
  dirs.cleanup();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function spoolUrl(): string {
  return `${cluster().url}?schema=${SCHEMA}`;
}

function startWorker(runDir: string): LongRunning {
  const p = startPgWorker({ url: spoolUrl(), handlers: 'test/faults/children/pg-outage-handlers.ts', queue: QUEUE, runDir, delayMs: 20 });
  procs.push(p);
  return p;
}

/** One statement on a short-lived superuser connection of the private cluster (not a Spool connection). */
async function admin<R extends object>(sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: cluster().url, application_name: 'spool-test-admin' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function stateCounts(): Promise<Record<string, number>> {
  const rows = await admin<{ state: string; n: number }>(`SELECT state, count(*)::int AS n FROM "${SCHEMA}".jobs WHERE queue = $1 GROUP BY state`, [QUEUE]);
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

async function allJobs(spool: Spool, ids: readonly string[]): Promise<Job[]> {
  const out: Job[] = [];
  for (let i = 0; i < ids.length; i += 500) out.push(...(await spool.store.jobGetMany({ ids: ids.slice(i, i + 500) })));
  return out;
}

function alive(p: LongRunning): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

describe('PostgreSQL outages under two `spool work` processes and a burst of enqueues (private cluster)', () => {
  it('pg_terminate_backend twice and a full restart mid-burst: no crash, fast StoreUnavailableError while down, every acknowledged job completed exactly once', async () => {
    const spool = await Spool.open(spoolUrl());
    spools.push(spool);
    // Short leases and retry delays, so jobs whose outcome could not be written during the outage come back
    // quickly; attempts enough that no outage pushes a job to the dead-letter queue.
    await spool.declareQueue(QUEUE, { leaseSeconds: LEASE_SECONDS, maxAttempts: 20, backoff: { initialSeconds: 0.01, maxSeconds: 0.05 } });
    const runDir = dirs.make('spool-pg-outage-');
    const a = startWorker(runDir);
    const b = startWorker(runDir);
    await Promise.all([a.waitForLine(/spool worker \S+ .* ready/, 30_000), b.waitForLine(/spool worker \S+ .* ready/, 30_000)]);
    const workers = [a, b];
    const pids = [a.child.pid!, b.child.pid!];
    const tails = (): string => workers.map((w, i) => `worker ${i} (alive ${alive(w)}) stderr: ${w.stderr.slice(-1500)}`).join('\n');

    // The producer: four lanes of single enqueues (gathered into group commits by the library), paced so
    // the burst spans the faults, bounded by TOTAL acknowledgements.
    const acked: string[] = [];
    const refused: unknown[] = [];
    let stopProducing = false;
    const producers = Array.from({ length: 4 }, async (_, lane) => {
      let n = 0;
      while (!stopProducing && acked.length < TOTAL) {
        try {
          const receipt = await spool.enqueue(QUEUE, { lane, n: n++ });
          acked.push(receipt.id);
          await sleep(4);
        } catch (error) {
          refused.push(error);
          await sleep(25);
        }
      }
    });
    let activeAtStop = 0;
    const progress = (): string => `acked ${acked.length}, refused ${refused.length}\n${tails()}\n${cluster().log().slice(-1000)}`;
    const ackedAtLeast = (n: number): Promise<true> => until(`${n} acknowledged enqueues`, () => (acked.length >= n ? true : undefined), 30_000, progress);

    try {
      // 1. pg_terminate_backend of every Spool connection (both workers' pools and LISTEN connections, the
      //    producer's pool), twice, with the burst going on before, between and after.
      const terminated: number[] = [];
      for (const at of [300, 700]) {
        await ackedAtLeast(at);
        terminated.push(await cluster().terminateBackends(SPOOL_APP));
      }
      // At least both workers' LISTEN connections and the producer's pool.
      for (const n of terminated) expect(n).toBeGreaterThanOrEqual(3);
      await ackedAtLeast(1_100);
      expect(workers.every(alive), tails()).toBe(true);

      // 2. A full stop: enqueue fails fast with the typed error, the producer is refused, the workers back off.
      //    The database stays down longer than a lease, so the leases of jobs in flight at the stop run out
      //    and the outcomes their handlers produced meanwhile cannot be written: the lease reaper must bring
      //    them back after the restart.
      const stderrMarks = workers.map((w) => w.stderr.length);
      const refusedBeforeStop = refused.length;
      activeAtStop = (await stateCounts())['active'] ?? 0;
      await cluster().stop();
      const stoppedAt = Date.now();
      const t0 = performance.now();
      const downError = await spool.enqueue(QUEUE, { down: true }).then(
        () => undefined,
        (error: unknown) => error,
      );
      const tookMs = performance.now() - t0;
      expect(downError).toBeInstanceOf(StoreUnavailableError);
      expect((downError as StoreUnavailableError).code).toBe('store_unavailable');
      expect(tookMs).toBeLessThan(2_000);
      await until(
        'both workers backing off, the producer refused, and a lease run out while the database is down',
        () =>
          workers.every((w, i) => w.stderr.slice(stderrMarks[i]).includes('claiming jobs failed; backing off')) &&
          refused.length >= refusedBeforeStop + 5 &&
          Date.now() - stoppedAt > LEASE_SECONDS * 1000 + 500
            ? true
            : undefined,
        20_000,
        progress,
      );
      expect(workers.every(alive), tails()).toBe(true);

      // 3. Start again: everything resumes by itself.
      await cluster().start();
      await ackedAtLeast(TOTAL);
    } finally {
      stopProducing = true;
      await Promise.all(producers);
    }

    // Every job of the queue (acknowledged ones, and any whose commit outcome was unknown to its caller)
    // ends completed: nothing is left queued, retrying or active.
    await until(
      'every job of the queue completed',
      async () => {
        const counts = await stateCounts();
        const states = Object.keys(counts);
        return states.length === 1 && states[0] === 'completed' && counts['completed']! >= acked.length ? counts : undefined;
      },
      45_000,
      () => `${JSON.stringify(acked.length)} acked; ${tails()}`,
    );
    // The wake-up connections came back too: one LISTEN connection per worker process.
    await until(
      'both workers listening again',
      async () => {
        const [row] = await admin<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND query LIKE 'LISTEN %'`, [SPOOL_APP]);
        return row!.n === 2 ? true : undefined;
      },
      20_000,
      tails,
    );
    expect(workers.every(alive), tails()).toBe(true);

    // Refusals: only ever the typed "store unavailable" error.
    expect(refused.length).toBeGreaterThan(0);
    const wrongRefusals = refused.filter((e) => !(e instanceof StoreUnavailableError) || e.code !== 'store_unavailable');
    expect(wrongRefusals.map((e) => String(e)).slice(0, 5)).toEqual([]);

    // Every acknowledged id: present, completed exactly once, run at least once by one of the workers.
    expect(new Set(acked).size).toBe(acked.length);
    const runs = pids.flatMap((pid) => runsOf(runDir, pid));
    const runsById = new Map<string, Run[]>();
    for (const r of runs) runsById.set(r.id, [...(runsById.get(r.id) ?? []), r]);
    const jobs = await allJobs(spool, acked);
    expect(jobs.map((j) => j.id).sort()).toEqual([...acked].sort());
    const wrong: string[] = [];
    for (const job of jobs) {
      const completions = job.history.filter((h) => h.state === 'completed').length;
      const jobRuns = runsById.get(job.id) ?? [];
      const result = job.result as { pid?: number } | undefined;
      if (job.state !== 'completed' || completions !== 1 || jobRuns.length === 0 || !pids.includes(result?.pid ?? -1)) {
        wrong.push(`${job.id}: ${job.state}, ${completions} completions, runs ${JSON.stringify(jobRuns)}, result ${JSON.stringify(job.result)}, history ${JSON.stringify(job.history.map((h) => [h.state, h.attempt, h.reason]))}`);
      }
    }
    expect(wrong.slice(0, 10)).toEqual([]);
    const repeated = [...runsById.values()].filter((r) => r.length > 1).length;
    const leaseExpired = jobs.filter((j) => j.history.some((h) => h.reason === 'lease-expired')).length;
    console.log(`pg-outage: ${acked.length} acknowledged, ${refused.length} refused, ${activeAtStop} active at the stop, ${runs.length} handler runs, ${repeated} jobs run more than once, ${leaseExpired} with an expired lease`);

    const stops = await Promise.all(workers.map((w) => w.stop('SIGTERM')));
    expect(stops).toEqual([
      { code: 0, signal: null },
      { code: 0, signal: null },
    ]);
  }, 90_000);
});
