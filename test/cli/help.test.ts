import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, ROOT, spool, stderrLines, TempDirs } from './spawn.js';

const tmp = new TempDirs();
beforeAll(buildCli);
afterEach(() => tmp.cleanup());

// `bench` is left out on purpose: it has its own owner and tests.
const COMMANDS: [string[], RegExp[]][] = [
  [['serve'], [/--host/, /--port/, /--db/, /--config/, /--handlers/, /--grace/]],
  [['work'], [/--handlers/, /--db/, /--queues/, /--concurrency/, /--grace/]],
  [['enqueue'], [/<queue>/, /<payload>/, /--idempotency-key/, /--wait/, /--json/, /--db/]],
  [['status'], [/<id>/, /--json/, /--db/]],
  [['migrate'], [/--db/]],
  [['queues'], [/--json/, /--db/, /set/]],
  [['queues', 'set'], [/<name>/, /\[config\]/, /--db/]],
  [['dlq'], [/list/, /replay/]],
  [['dlq', 'list'], [/<queue>/, /--json/, /--limit/, /--db/]],
  [['dlq', 'replay'], [/<queue>/, /--id/, /--all/, /--dry-run/, /--db/]],
];

describe('spool --help', () => {
  it('the root help lists every command and exits 0', async () => {
    const r = await spool(['--help']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^Usage: spool /);
    for (const [cmd] of COMMANDS) if (cmd.length === 1) expect(r.stdout).toMatch(new RegExp(`^\\s+${cmd[0]}\\b`, 'm'));
  });

  it('every command has --help: exit 0, its own usage line and options, nothing else runs', async () => {
    const cwd = tmp.make();
    const results = await Promise.all(COMMANDS.map(([cmd]) => spool([...cmd, '--help'], { cwd })));
    expect(existsSync(join(cwd, '.spool'))).toBe(false); // no default store was opened
    results.forEach((r, i) => {
      const [cmd, mentions] = COMMANDS[i]!;
      expect({ cmd, code: r.code, stderr: r.stderr }).toEqual({ cmd, code: 0, stderr: '' });
      expect(r.stdout).toMatch(new RegExp(`^Usage: spool ${cmd.join(' ')} `));
      for (const m of mentions) expect(r.stdout, `${cmd.join(' ')} --help mentions ${m}`).toMatch(m);
    });
  });

  it('`spool help COMMAND` is the same as `spool COMMAND --help`', async () => {
    const [a, b] = await Promise.all([spool(['help', 'enqueue']), spool(['enqueue', '--help'])]);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
  });

  it('--version prints the package version', async () => {
    const r = await spool(['--version']);
    expect(r.code).toBe(0);
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(r.stdout.trim()).toBe(pkg.version);
  });
});

describe('spool usage errors', () => {
  it('an unknown command, an unknown option or a missing required option: exit 2 and exactly one line', async () => {
    const cases: [string[], RegExp][] = [
      [['bogus'], /^spool: unknown command 'bogus'/],
      [['stauts', 'x'], /^spool: unknown command 'stauts' .*status/],
      [['queues', '--bogus'], /^spool: unknown option '--bogus'/],
      [['enqueue', 'q', '{}', '--jsn'], /^spool: unknown option '--jsn' .*--json/],
      [['dlq', 'bogus'], /^spool: unknown command 'bogus'/],
      [['work'], /^spool: required option '--handlers <module>' not specified/],
      [['status'], /^spool: missing required argument 'id'/],
      [['status', 'a', 'b'], /^spool: too many arguments/],
    ];
    const results = await Promise.all(cases.map(([args]) => spool(args)));
    results.forEach((r, i) => {
      const [args, line] = cases[i]!;
      expect({ args, code: r.code, stdout: r.stdout, lines: stderrLines(r) }).toEqual({ args, code: 2, stdout: '', lines: [expect.stringMatching(line)] });
    });
  });
});
