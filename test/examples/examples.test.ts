import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('examples/', () => {
  it('quickstart runs: typed job, idempotent replay, completion with history', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'spool-ex-'));
    dirs.push(dir);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/quickstart.ts', `sqlite:${join(dir, 'ex.db')}`]);
    const [first] = stdout.split('\n');
    const ids = [...first!.matchAll(/[0-9a-f]{8}-[0-9a-f-]{27}/g)].map((m) => m[0]);
    expect(ids).toHaveLength(2);
    expect(ids[0]).toBe(ids[1]);
    expect(first).toContain('replayed=true');
    expect(stdout).toMatch(/is completed: \{"messageId":"msg-/);
  });

  it('transactional-sqlite runs: the committed order gets its job done, the rolled-back one leaves nothing', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/transactional-sqlite.ts'], { cwd: process.cwd() });
    expect(stdout).toContain('rolled back (payment declined): no row, no job');
    expect(stdout).toMatch(/completed \{"emailed":\d+\}/);
  });
});
