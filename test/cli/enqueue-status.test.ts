import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, inTurn, spool, stderrLines, TempDirs, type RunResult } from './spawn.js';

const tmp = new TempDirs();
beforeAll(buildCli);
afterEach(() => tmp.cleanup());

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface JobJson {
  id: string;
  queue: string;
  state: string;
  priority: string;
  attempts: number;
  maxAttempts: number;
  payload: unknown;
  runAt: string;
  createdAt: string;
  orderingKey: string | null;
  correlationId: string | null;
  history: { state: string; at: string; attempt: number }[];
}

async function declared(config = '{}'): Promise<string> {
  const url = `sqlite:${join(tmp.make(), 'jobs.db')}`;
  const r = await spool(['queues', 'set', 'emails', config, '--db', url]);
  expect(r.code).toBe(0);
  return url;
}

function expectOneLineFailure(r: RunResult, code: number, line: RegExp): void {
  expect({ code: r.code, stdout: r.stdout, stderrLines: stderrLines(r).length }).toEqual({ code, stdout: '', stderrLines: 1 });
  expect(r.stderr).toMatch(line);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

async function counts(url: string): Promise<Record<string, number>> {
  const r = await spool(['queues', '--db', url, '--json']);
  expect(r.code).toBe(0);
  return (JSON.parse(r.stdout) as { queues: { name: string; stats: { counts: Record<string, number> } }[] }).queues.find((q) => q.name === 'emails')!.stats.counts;
}

describe('spool enqueue', () => {
  it('prints the new id and state; --json prints the enqueue result', async () => {
    const url = await declared();
    const [text, json] = await inTurn([
      () => spool(['enqueue', 'emails', '{"to":"ada@example.com"}', '--db', url]),
      () => spool(['enqueue', 'emails', '{"to":"bob@example.com"}', '--db', url, '--json']),
    ]);
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    const [id, state, ...rest] = text.stdout.trim().split(' ');
    expect(id).toMatch(ID);
    expect(state).toBe('queued');
    expect(rest).toEqual([]);

    expect(json.code).toBe(0);
    const r = JSON.parse(json.stdout) as { id: string; queue: string; state: string; replayed: boolean; createdAt: string; runAt: string };
    expect(r).toMatchObject({ queue: 'emails', state: 'queued', replayed: false });
    expect(r.id).toMatch(ID);
    expect(r.id).not.toBe(id);
    expect(Number.isNaN(Date.parse(r.createdAt))).toBe(false);

    expect(await counts(url)).toMatchObject({ queued: 2, scheduled: 0 });
  });

  it('passes the job options through: priority, delay, max attempts, keys', async () => {
    const url = await declared();
    const r = await spool(
      ['enqueue', 'emails', '{"n":1}', '--db', url, '--json', '--priority', 'high', '--delay', '3600', '--max-attempts', '2', '--ordering-key', 'user-7', '--correlation-id', 'req-9'],
    );
    expect(r.code).toBe(0);
    const created = JSON.parse(r.stdout) as { id: string; state: string; runAt: string };
    expect(created.state).toBe('scheduled');
    expect(Date.parse(created.runAt) - Date.now()).toBeGreaterThan(3500_000);

    const s = await spool(['status', created.id, '--db', url, '--json']);
    expect(s.code).toBe(0);
    const job = JSON.parse(s.stdout) as JobJson;
    expect(job).toMatchObject({ id: created.id, state: 'scheduled', priority: 'high', maxAttempts: 2, attempts: 0, orderingKey: 'user-7', correlationId: 'req-9', payload: { n: 1 } });
  });

  it('an idempotency key returns the original job for the same body and fails for a different one', async () => {
    const url = await declared();
    const first = await spool(['enqueue', 'emails', '{"to":"ada"}', '--idempotency-key', 'signup-42', '--db', url, '--json']);
    expect(first.code).toBe(0);
    const original = JSON.parse(first.stdout) as { id: string; replayed: boolean };
    expect(original.replayed).toBe(false);

    const [again, text, different] = await inTurn([
      () => spool(['enqueue', 'emails', '{"to":"ada"}', '--idempotency-key', 'signup-42', '--db', url, '--json']),
      () => spool(['enqueue', 'emails', '{"to":"ada"}', '--idempotency-key', 'signup-42', '--db', url]),
      () => spool(['enqueue', 'emails', '{"to":"eve"}', '--idempotency-key', 'signup-42', '--db', url]),
    ]);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ id: original.id, replayed: true });
    expect(text.code).toBe(0);
    expect(text.stdout.trim()).toBe(`${original.id} queued (replayed)`);
    expectOneLineFailure(different, 1, /^spool: idempotency_key_reused: .*signup-42/);

    expect(await counts(url)).toMatchObject({ queued: 1 });
  });

  it('fails with one line: unknown queue (1), malformed payload and bad options (2, usage); nothing is enqueued', async () => {
    const url = await declared();
    const cases: [string[], number, RegExp][] = [
      [['enqueue', 'nosuch', '{}'], 1, /^spool: queue_not_found: .*nosuch/],
      [['enqueue', 'emails', '{"to":'], 2, /^spool: PAYLOAD is not valid JSON/],
      [['enqueue', 'emails', '{}', '--url', 'http://127.0.0.1:7420'], 2, /^spool: --url \(a server\) is not available yet/],
      [['enqueue', 'emails', '{}', '--priority', 'urgent'], 2, /^spool: --priority must be/],
      [['enqueue', 'emails', '{}', '--delay', 'soon'], 2, /^spool: --delay must be a number/],
      [['enqueue', 'emails'], 2, /^spool: missing required argument 'payload'/],
    ];
    const results = await inTurn(cases.map(([args]) => () => spool([...args, '--db', url])));
    results.forEach((r, i) => expectOneLineFailure(r, cases[i]![1], cases[i]![2]));
    expect(await counts(url)).toMatchObject({ queued: 0, scheduled: 0 });
  });
});

describe('spool enqueue --wait', () => {
  it('without a worker gives up after --timeout, prints the unfinished job and exits 1', async () => {
    const url = await declared();
    const t0 = Date.now();
    const r = await spool(['enqueue', 'emails', '{"to":"nobody"}', '--wait', '--timeout', '1', '--json', '--db', url]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toMatchObject({ queue: 'emails', state: 'queued', attempts: 0, payload: { to: 'nobody' } });
  });
});

describe('spool status', () => {
  it('shows the job with its state and history, as text and as JSON', async () => {
    const url = await declared('{"maxAttempts":4}');
    const e = await spool(['enqueue', 'emails', '{"to":"ada","n":[1,2]}', '--db', url]);
    const id = e.stdout.split(' ')[0]!;

    const [text, json] = await inTurn([() => spool(['status', id, '--db', url]), () => spool(['status', id, '--db', url, '--json'])]);
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    const lines = text.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^${id}\\s+queued\\s+queue=emails\\s+attempts=0/4\\s+priority=normal$`));
    expect(lines.some((l) => /^\s+\S+Z\s+queued\s+attempt 0$/.test(l))).toBe(true);

    expect(json.code).toBe(0);
    const job = JSON.parse(json.stdout) as JobJson;
    expect(job).toMatchObject({ id, queue: 'emails', state: 'queued', attempts: 0, maxAttempts: 4, payload: { to: 'ada', n: [1, 2] } });
    expect(job.history).toHaveLength(1);
    expect(job.history[0]).toMatchObject({ state: 'queued', attempt: 0 });
    expect(job.history[0]!.at).toBe(job.createdAt);
  });

  it('an unknown id fails with one line and exit 1 (text and --json)', async () => {
    const url = await declared();
    const [text, json] = await inTurn([
      () => spool(['status', '01a20843-0000-7000-8000-000000000000', '--db', url]),
      () => spool(['status', 'not-an-id', '--db', url, '--json']),
    ]);
    expectOneLineFailure(text, 1, /^spool: job_not_found: .*01a20843-0000-7000-8000-000000000000/);
    expectOneLineFailure(json, 1, /^spool: job_not_found: /);
  });
});
