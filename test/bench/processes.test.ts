/**
 * `spool bench --processes N`: W3 and W5 consume in N forked worker processes on the same store (SQLite file or
 * PostgreSQL schema). Plumbing only (no timing assertions): the rows exist, every W3 job completed with the
 * handler runs split over the processes, the children are gone afterwards — also when the bench is killed.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'spool-bench-processes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CLI = ['--import', 'tsx', 'src/cli/main.ts'];
const spool = (args: string[]) => run(process.execPath, [...CLI, ...args], { maxBuffer: 10 * 1024 * 1024 });

interface Row {
  workload: string;
  store: string;
  n: number;
  jobsPerSec: number;
  backlogEnd: number | null;
  notes: string;
}

/** The pids the bench reported for its worker processes (`[bench] 2 worker processes ready (pids 1, 2)`). */
function childPids(stderr: string): number[] {
  return [...stderr.matchAll(/worker processes ready \(pids ([\d, ]+)\)/g)].flatMap((m) => m[1]!.split(',').map((p) => Number(p.trim())));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Handler runs per process of the first repetition, from the row's notes. */
function handledPerProcess(row: Row): number[] {
  const m = /handler runs per process by rep: ([\d,+ ]+)/.exec(row.notes);
  expect(m, row.notes).not.toBeNull();
  return m![1]!.split('+').map((x) => Number(x.trim().replace(/,/g, '')));
}

function expectProcessRows(rows: Row[], store: string): void {
  const byId = Object.fromEntries(rows.map((r) => [r.workload, r]));
  for (const id of ['W3×2p', 'W5×2p']) {
    const row = byId[id]!;
    expect(row, id).toBeDefined();
    expect(row.store).toBe(store);
    expect(row.jobsPerSec).toBeGreaterThan(0);
    expect(row.notes).toContain('2 worker processes');
    expect(handledPerProcess(row)).toHaveLength(2);
  }
  // W3 fails the run unless exactly n jobs completed and none is left; every completion is a handler run.
  const w3 = byId['W3×2p']!;
  expect(w3.n).toBe(500);
  expect(handledPerProcess(w3).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(500);
  expect(byId['W5×2p']!.backlogEnd).toEqual(expect.any(Number));
}

describe('spool bench --processes', () => {
  it('SQLite: W3 and W5 in-process and in two worker processes over one file, side by side; children and files gone', async () => {
    const { stdout, stderr } = await spool(['bench', '--db', `sqlite:${join(dir, 'p.db')}`, '--workload', 'W3,W5', '--processes', '1,2', '--reps', '1', '--scale', '0.01', '--json']);
    const rows = JSON.parse(stdout) as Row[];
    expect(rows.map((r) => r.workload)).toEqual(['W3', 'W3×2p', 'W5', 'W5×2p']);
    expect(rows[0]!.notes).toBe('');
    expectProcessRows(rows, 'sqlite');
    const pids = childPids(stderr);
    expect(pids).toHaveLength(4);
    expect(pids.filter(alive)).toEqual([]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('PostgreSQL: two worker processes over one schema; the schemas are dropped', async () => {
    const base = process.env['TEST_DATABASE_URL'] ?? 'postgres://root@127.0.0.1:5432/test';
    const child = spool(['bench', '--db', base, '--workload', 'W3,W5', '--processes', '2', '--reps', '1', '--scale', '0.01', '--json']);
    const pid = child.child.pid;
    const { stdout, stderr } = await child;
    const rows = JSON.parse(stdout) as Row[];
    expect(rows.map((r) => r.workload)).toEqual(['W3×2p', 'W5×2p']);
    expectProcessRows(rows, 'postgres');
    expect(childPids(stderr).filter(alive)).toEqual([]);
    const pg = await import('pg');
    const client = new pg.default.Client({ connectionString: base });
    await client.connect();
    try {
      const left = await client.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'spool_bench_' || $1 || '%'`, [`${pid}_`]);
      expect(left.rows).toEqual([]);
    } finally {
      await client.end();
    }
  });

  it('the worker processes exit by themselves when the bench is killed (SIGKILL) mid-drain', async () => {
    const bench = spawn(process.execPath, [...CLI, 'bench', '--db', `sqlite:${join(dir, 'k.db')}`, '--workload', 'W3', '--processes', '2', '--reps', '1', '--scale', '0.5'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => bench.once('exit', (_code, signal) => resolve(signal)));
    let stderr = '';
    const pids = await new Promise<number[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no worker processes within 50 s; stderr: ${stderr}`)), 50_000);
      bench.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const found = childPids(stderr);
        if (found.length === 2) {
          clearTimeout(timer);
          resolve(found);
        }
      });
    });
    expect(pids.filter(alive)).toHaveLength(2);
    bench.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL'); // killed mid-run, not finished by itself
    const deadline = Date.now() + 10_000;
    while (pids.some(alive) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(pids.filter(alive)).toEqual([]);
  });

  it.each([
    [['--processes', '0'], /--processes takes worker-process counts from 1 to 16/],
    [['--processes', 'two'], /--processes takes worker-process counts/],
    [['--processes', '1,17'], /--processes takes worker-process counts/],
    [['--workload', 'W1,W4', '--processes', '2'], /--processes applies to W3 and W5; none of them is selected/],
  ])('rejects %j with a one-line reason and exit code 2', async (args, reason) => {
    const failed = await spool(['bench', '--db', `sqlite:${join(dir, 'x.db')}`, ...args]).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(failed).not.toBeNull();
    expect(failed!.code).toBe(2);
    expect(failed!.stderr.trim().split('\n')).toHaveLength(1);
    expect(failed!.stderr).toMatch(reason);
  });
});
