/**
 * Several processes opening and closing one SQLite file at the same moment (CLI commands beside each other):
 * an opener can meet a closer that is checkpointing and removing the WAL under an exclusive lock. Opening
 * must wait that out instead of failing with "database is locked".
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, expect, it } from 'vitest';

const dir = mkdtempSync(join(tmpdir(), 'spool-open-race-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('eight processes opening and closing the same file 100 times each all succeed', async () => {
  const path = join(dir, 'race.db');
  const entry = resolve('src/index.ts');
  const script = `import { Spool } from ${JSON.stringify(entry)};
    for (let i = 0; i < 100; i++) { const s = await Spool.open(${JSON.stringify(`sqlite:${path}`)}); await s.close(); }`;
  const runs = await Promise.all(
    Array.from(
      { length: 8 },
      () =>
        new Promise<{ code: number | null; stderr: string }>((done) => {
          const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script]);
          let stderr = '';
          child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
          child.on('exit', (code) => done({ code, stderr }));
        }),
    ),
  );
  for (const run of runs) {
    expect(run.stderr).not.toMatch(/locked|SqliteError/);
    expect(run.code).toBe(0);
  }
});
