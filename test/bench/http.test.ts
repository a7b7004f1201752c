/**
 * The HTTP workloads' plumbing at a tiny scale (never their figures: performance is not asserted in a test):
 * L0, H1, H2 and H3 rows in the --json shape on both stores, with positive rates, every 202'd id found in
 * the store (lost = 0), H1's ratio to the L0 of the same run, and nothing left behind (files, schemas).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { formatTable, type BenchRow } from '../../src/bench/report.js';
import { testDatabaseUrl, withClient } from '../helpers/pg-schema.js';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'spool-bench-http-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bench = (args: string[]) => run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'bench', ...args], { maxBuffer: 10 * 1024 * 1024, timeout: 240_000 });

interface Row {
  workload: string;
  store: string;
  n: number;
  jobsPerSec: number;
  callLatencyMs: { p50: number; p99: number } | null;
  ratio: number | null;
  non2xx: number | null;
  lost: number | null;
  durability: Record<string, unknown>;
  notes: string;
}

function checkRows(rows: Row[], store: 'sqlite' | 'postgres'): void {
  expect(rows.map((r) => r.workload)).toEqual(['L0', 'H1', 'H2', 'H3']);
  for (const r of rows) {
    expect(r.jobsPerSec, r.workload).toBeGreaterThan(0);
    expect(r.n, r.workload).toBeGreaterThan(0);
  }
  const [l0, h1, h2, h3] = rows as [Row, Row, Row, Row];
  expect(l0).toMatchObject({ store: 'none', ratio: null, lost: null, durability: { path: null, filesystem: null } });
  for (const r of [l0, h1, h2]) {
    expect(r.callLatencyMs).toMatchObject({ p50: expect.any(Number), p99: expect.any(Number) });
    expect(r.callLatencyMs!.p99).toBeGreaterThan(0);
    expect(r.non2xx).toBe(0);
  }
  for (const r of [h1, h2]) {
    expect(r.store).toBe(store);
    expect(r.lost).toBe(0);
    expect(r.notes).toMatch(/\d[\d,]*×202/);
  }
  expect(h2.notes).toContain('Idempotency-Key');
  expect(h1.ratio).toBeCloseTo(h1.jobsPerSec / l0.jobsPerSec, 2);
  expect(h3).toMatchObject({ store, n: 200, non2xx: null, lost: null, ratio: null });
  expect(h3.notes).toContain('200 deliveries of 200 jobs');
  for (const r of [h1, h2, h3]) {
    expect(r.durability).toMatchObject(store === 'sqlite' ? { synchronous: 'FULL', journalMode: 'wal' } : { synchronousCommit: 'on', fsync: 'on' });
  }
}

describe('spool bench HTTP workloads', () => {
  it('SQLite: L0, H1, H2 and H3 rows with positive figures, lost = 0 and H1 as a ratio to L0; files removed', { timeout: 240_000 }, async () => {
    const { stdout, stderr } = await bench(['--db', `sqlite:${join(dir, 'h.db')}`, '--workload', 'H1,H2,H3', '--reps', '1', '--scale', '0.01', '--json']);
    checkRows(JSON.parse(stdout) as Row[], 'sqlite');
    expect(stderr).toMatch(/\[bench\] H1 rep 1\/1: [\d,]+ jobs\/s .*lost 0/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('PostgreSQL: the same rows, each run in a schema of its own that is dropped afterwards', { timeout: 240_000 }, async () => {
    const child = bench(['--db', testDatabaseUrl(), '--workload', 'L0,H1,H2,H3', '--reps', '1', '--scale', '0.01', '--json']);
    const pid = child.child.pid;
    const { stdout } = await child;
    checkRows(JSON.parse(stdout) as Row[], 'postgres');
    const left = await withClient(testDatabaseUrl(), (c) => c.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'spool_bench_' || $1 || '%'`, [`${pid}_`]));
    expect(left.rows).toEqual([]);
  });

  it('the table has a non-2xx / lost column and takes the store settings from a row that has a store (not L0)', () => {
    const row = (workload: string, store: string, extra: Partial<BenchRow>): BenchRow => ({
      workload, store, n: 10, reps: 1, jobsPerSec: 5, jobsPerSecMin: 5, jobsPerSecMax: 5, latencyMs: null, callLatencyMs: { p50: 1, p99: 2 },
      ratio: null, backlogEnd: null, non2xx: 0, lost: null, durability: { path: null, filesystem: null }, notes: '', ...extra,
    });
    const table = formatTable([
      row('L0', 'none', {}),
      row('H1', 'sqlite', { lost: 0, ratio: 0.5, durability: { synchronous: 'FULL', journalMode: 'wal', path: '/x.db', filesystem: 'ext4' } }),
    ]);
    expect(table).toMatch(/\| non-2xx \/ lost \|/);
    expect(table).toMatch(/^\| L0 .*\| 0 \/ – +\|$/m);
    expect(table).toMatch(/^\| H1 .*\| 0\.5 .*\| 0 \/ 0 +\|$/m);
    expect(table).toMatch(/^store: sqlite synchronous=FULL journal_mode=wal filesystem=ext4/m);
  });
});
