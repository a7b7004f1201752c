import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { dropTestSchema, testDatabaseUrl, testSchemaName, withClient, withSchema } from '../helpers/pg-schema.js';

const run = promisify(execFile);
const dirs: string[] = [];
const schemas: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  // The outbox example drops its own schema; this only cleans up after a run that failed half-way.
  for (const s of schemas.splice(0)) await dropTestSchema(s);
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
    // Inside db.transaction(fn) the failed enqueue throws, so the order row is rolled back with it.
    expect(stdout).toContain('db.transaction: enqueue failed (queue_not_found), desk orders stored: 0');
    expect(stdout).toMatch(/completed \{"emailed":\d+\}/);
  });

  it('outbox-postgres runs: the committed order\'s job completes, the rolled-back one never existed, its schema is gone', async () => {
    const schema = testSchemaName(import.meta.url);
    schemas.push(schema);
    const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/outbox-postgres.ts', withSchema(testDatabaseUrl(), schema)]);
    const id = '([0-9a-f]{8}-[0-9a-f-]{27})';

    // Inside the transaction, before COMMIT, Spool's own connections cannot see either job.
    expect(stdout.match(/before COMMIT Spool sees: job_not_found/g)).toHaveLength(2);
    const committed = new RegExp(`order 1 committed → job ${id} is (queued|active|completed)`).exec(stdout);
    const rolledBack = new RegExp(`order 2 rolled back \\(.*check constraint.*\\) → job ${id} is (\\S+)`).exec(stdout);
    expect(committed, stdout).not.toBeNull();
    expect(rolledBack, stdout).not.toBeNull();
    expect(rolledBack![2]).toBe('job_not_found');
    expect(rolledBack![1]).not.toBe(committed![1]);
    expect(stdout).toContain(`job ${committed![1]} completed {"messageId":"msg-1","to":"ada@example.com"}`);
    // The rolled-back order's row and its job's counters are gone too.
    expect(stdout).toContain('orders stored: [1]; jobs ever enqueued on order-emails: 1');

    const left = await withClient(testDatabaseUrl(), (c) => c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]));
    expect(left.rowCount).toBe(0);
  });
});
