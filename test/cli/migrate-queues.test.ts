import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, inTurn, spool, stderrLines, TempDirs } from './spawn.js';

const tmp = new TempDirs();
beforeAll(buildCli);
afterEach(() => tmp.cleanup());

interface QueueJson {
  name: string;
  paused: boolean;
  config: Record<string, unknown>;
  stats: { counts: Record<string, number>; oldestAgeSeconds: number };
}

describe('spool migrate', () => {
  it('creates the database on a fresh path (also in a missing directory) and is idempotent', async () => {
    const dir = tmp.make();
    const file = join(dir, 'nested', 'spool.db');
    const url = `sqlite:${file}`;
    expect(existsSync(file)).toBe(false);

    // First run takes the store from SPOOL_DB (no --db).
    const first = await spool(['migrate'], { env: { SPOOL_DB: url } });
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout.trim()).toBe(`${url}: schema up to date`);
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).size).toBeGreaterThan(0);

    const second = await spool(['migrate', '--db', url, '--json']);
    expect(second.stderr).toBe('');
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toEqual({ store: url, migrated: true });

    // The migrated store is usable by other commands.
    const list = await spool(['queues', '--db', url, '--json']);
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as { queues: QueueJson[] }).queues.map((q) => q.name), 'only the internal queue').toEqual(['spool.webhooks']);
  });
});

describe('spool queues', () => {
  it('set creates then updates a queue; an invalid update changes nothing; the list shows the settings', async () => {
    const url = `sqlite:${join(tmp.make(), 'q.db')}`;
    const [created, second] = await inTurn([
      () => spool(['queues', 'set', 'emails', '{"maxAttempts":3,"backoff":{"initialSeconds":2,"maxSeconds":60,"multiplier":3}}', '--db', url]),
      () => spool(['queues', 'set', 'reports', '--db', url]), // CONFIG defaults to {}
    ]);
    expect(created.stderr).toBe('');
    expect(created.code).toBe(0);
    expect(created.stdout.trim()).toBe('queue emails created');
    expect(second.code).toBe(0);
    expect(second.stdout.trim()).toBe('queue reports created');

    const updated = await spool(['queues', 'set', 'emails', '{"maxAttempts":7,"leaseSeconds":45}', '--db', url, '--json']);
    expect(updated.code).toBe(0);
    const q = JSON.parse(updated.stdout) as { name: string; created: boolean; config: Record<string, unknown> };
    expect(q.name).toBe('emails');
    expect(q.created).toBe(false);
    expect(q.config).toEqual({ maxAttempts: 7, leaseSeconds: 45 }); // an update replaces the config

    const bad = await spool(['queues', 'set', 'emails', '{"maxAttempts":-4}', '--db', url]);
    expect(bad.code).toBe(1);

    const [list, text] = await inTurn([() => spool(['queues', '--db', url, '--json']), () => spool(['queues', '--db', url])]);
    expect(list.code).toBe(0);
    const { queues } = JSON.parse(list.stdout) as { queues: QueueJson[] };
    expect(queues.map((x) => x.name).sort()).toEqual(['emails', 'reports', 'spool.webhooks']);
    const emails = queues.find((x) => x.name === 'emails')!;
    expect(emails.config).toEqual({ maxAttempts: 7, leaseSeconds: 45 });
    expect(emails.paused).toBe(false);
    expect(emails.stats.counts).toEqual({ scheduled: 0, queued: 0, active: 0, retrying: 0, completed: 0, dead: 0, cancelled: 0 });

    expect(text.code).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^queue\s+scheduled\s+queued\s+active\s+retrying\s+completed\s+dead\s+cancelled\s+oldest\(s\)$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[0]).sort()).toEqual(['emails', 'reports', 'spool.webhooks']);
  });

  it('rejects invalid settings with exactly one line on stderr and a non-zero exit, declaring nothing', async () => {
    const url = `sqlite:${join(tmp.make(), 'bad.db')}`;
    expect((await spool(['migrate', '--db', url])).code).toBe(0);
    const cases: [string[], number, RegExp][] = [
      [['emails', '{"maxAttempts":0}'], 1, /^spool: validation_failed: .*maxAttempts/], // out of range
      [['emails', '{"maxAtempts":3}'], 1, /^spool: validation_failed: .*maxAtempts/], // unknown setting
      [['emails', '{"leaseSeconds":"30"}'], 1, /^spool: validation_failed: .*leaseSeconds/], // no coercion
      [['emails', '{"ordering":{"onDead":"explode"}}'], 1, /^spool: validation_failed: .*onDead/],
      [['emails', '[1,2]'], 1, /^spool: validation_failed: /], // not an object
      [['emails', '{"maxAttempts":'], 2, /^spool: CONFIG is not valid JSON/], // usage
      [['bad name!', '{}'], 2, /^spool: invalid queue name "bad name!"/], // usage
    ];
    const results = await inTurn(cases.map(([args]) => () => spool(['queues', 'set', ...args, '--db', url])));
    results.forEach((r, i) => {
      const [args, code, line] = cases[i]!;
      expect({ args, code: r.code, stdout: r.stdout, lines: stderrLines(r).length }).toEqual({ args, code, stdout: '', lines: 1 });
      expect(r.stderr).toMatch(line);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    });

    const list = await spool(['queues', '--db', url, '--json']);
    expect((JSON.parse(list.stdout) as { queues: QueueJson[] }).queues.map((q) => q.name)).toEqual(['spool.webhooks']);
  });
});
