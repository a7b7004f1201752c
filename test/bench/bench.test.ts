/**
 * The benchmark's plumbing (not its figures: performance is never asserted in a test): the --json shape of
 * ../shared/BENCHMARKS.md, durability read back from the bench's own connection, one-line errors.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const dir = mkdtempSync(join(tmpdir(), 'spool-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const spool = (args: string[]) => run(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { maxBuffer: 10 * 1024 * 1024 });

describe('spool bench', () => {
  it('prints one JSON array in the documented shape, durable settings read back, and cleans up its files', async () => {
    const { stdout, stderr } = await spool(['bench', '--db', `sqlite:${join(dir, 'b.db')}`, '--workload', 'W1,W2,W3,W4,W5', '--reps', '1', '--scale', '0.01', '--json']);
    const rows = JSON.parse(stdout) as Array<Record<string, unknown>>;
    expect(rows.map((r) => r['workload'])).toEqual(['W1', 'W2', 'W3', 'W4', 'W5']);
    for (const row of rows) {
      expect(Object.keys(row).sort()).toEqual(
        ['workload', 'store', 'n', 'reps', 'jobsPerSec', 'jobsPerSecMin', 'jobsPerSecMax', 'latencyMs', 'callLatencyMs', 'ratio', 'backlogEnd', 'non2xx', 'lost', 'durability', 'notes'].sort(),
      );
      expect(row['store']).toBe('sqlite');
      expect(row['jobsPerSec']).toBeGreaterThan(0);
      expect(row['durability']).toMatchObject({ synchronous: 'FULL', journalMode: 'wal', path: expect.stringContaining(dir) });
      expect(typeof (row['durability'] as { filesystem: unknown }).filesystem).toBe('string');
    }
    const byId = Object.fromEntries(rows.map((r) => [r['workload'], r]));
    expect(byId['W1']!['callLatencyMs']).toMatchObject({ p50: expect.any(Number), p99: expect.any(Number) });
    expect(byId['W1']!['n']).toBe(500);
    expect(byId['W4']!['latencyMs']).toMatchObject({ p50: expect.any(Number), p95: expect.any(Number), p99: expect.any(Number) });
    expect(byId['W5']!['backlogEnd']).toEqual(expect.any(Number));
    expect(stderr).toMatch(/\[bench\] W3 rep 1\/1: [\d,]+ jobs\/s/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('S1 reports ratios to the empty-store runs', async () => {
    const { stdout } = await spool(['bench', '--db', `sqlite:${join(dir, 's.db')}`, '--workload', 'S1', '--reps', '1', '--scale', '0.005', '--json']);
    const rows = JSON.parse(stdout) as Array<{ workload: string; ratio: number | null; notes: string }>;
    expect(rows.map((r) => r.workload)).toEqual(['W1', 'W3', 'S1-W1', 'S1-W3']);
    for (const r of rows.slice(2)) {
      expect(r.ratio).toBeGreaterThan(0);
      expect(r.notes).toContain('5,000 other jobs stored');
    }
  });

  it('M1 times /metrics and /v1/queues of a spool serve child on a filled store, on both stores', async () => {
    const base = process.env['TEST_DATABASE_URL'] ?? 'postgres://root@127.0.0.1:5432/test';
    for (const db of [`sqlite:${join(dir, 'm.db')}`, base]) {
      const { stdout, stderr } = await spool(['bench', '--db', db, '--workload', 'M1', '--reps', '2', '--scale', '0.002', '--json']);
      const rows = JSON.parse(stdout) as Array<{ workload: string; n: number; reps: number; callLatencyMs: { p50: number; p99: number } | null; notes: string }>;
      expect(rows.map((r) => r.workload)).toEqual(['M1-metrics', 'M1-queues']);
      for (const r of rows) {
        expect(r).toMatchObject({ n: 200, reps: 2 });
        expect(r.callLatencyMs!.p50).toBeGreaterThan(0);
        expect(r.callLatencyMs!.p99).toBeGreaterThanOrEqual(r.callLatencyMs!.p50);
        expect(r.notes).toContain('holding 2,000 jobs');
      }
      expect(stderr).toMatch(/\[bench\] M1 rep 2\/2: \/metrics p50 [\d.]+ ms/);
    }
    expect(readdirSync(dir)).toEqual([]);
  });

  it('runs on PostgreSQL in a schema of its own per run, reads synchronous_commit back, and drops the schemas', async () => {
    const base = process.env['TEST_DATABASE_URL'] ?? 'postgres://root@127.0.0.1:5432/test';
    const child = spool(['bench', '--db', base, '--workload', 'W1,W3', '--reps', '1', '--scale', '0.01', '--json']);
    const pid = child.child.pid;
    const { stdout } = await child;
    const rows = JSON.parse(stdout) as Array<{ workload: string; store: string; jobsPerSec: number; durability: Record<string, unknown> }>;
    expect(rows.map((r) => [r.workload, r.store])).toEqual([['W1', 'postgres'], ['W3', 'postgres']]);
    for (const r of rows) {
      expect(r.jobsPerSec).toBeGreaterThan(0);
      expect(r.durability).toMatchObject({ synchronousCommit: 'on', fsync: 'on', path: null });
    }
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

  it.each([
    [['--workload', 'W9'], /unknown workload "W9"/],
    [['--reps', '0'], /--reps must be an integer/],
    [['--scale', 'fast'], /--scale must be a number/],
    [['--db', 'sqlite::memory:'], /not a durable result/],
  ])('rejects %j with a one-line reason and a non-zero exit', async (args, reason) => {
    const failed = await spool(['bench', ...args]).then(
      () => null,
      (e: { code: number; stderr: string }) => e,
    );
    expect(failed).not.toBeNull();
    expect(failed!.code).not.toBe(0);
    expect(failed!.stderr.trim().split('\n')).toHaveLength(1);
    expect(failed!.stderr).toMatch(reason);
  });
});
