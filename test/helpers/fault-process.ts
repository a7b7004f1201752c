/**
 * Child processes for crash and multi-process tests: run a TypeScript script under `node --import tsx`,
 * read its stdout line by line, wait for a line, kill it (SIGKILL for crashes). Every child started here is
 * killed after the test if it is still running, so a failing test never leaks a process.
 *
 * stdout is for progress only (waiting for a line): after a SIGKILL it may miss the last lines, since Node
 * queues writes to a full pipe inside the process. What the test counts on after a crash (what the child
 * tried, ran, finished) goes to the child's ledger instead — a file it appends to synchronously before
 * acting (test/faults/children/ledger.ts), read back here with `ledger()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach } from 'vitest';

export interface Child {
  readonly process: ChildProcess;
  /** Every complete stdout line so far (progress: may miss the last lines after a SIGKILL). */
  readonly lines: string[];
  /** Every line the child recorded in its ledger so far (complete up to a SIGKILL). */
  ledger(): string[];
  /** stderr so far (for failure messages). */
  stderr(): string;
  /** Resolves with the first line (from the start) that matches, or rejects on timeout or exit. */
  waitForLine(match: (line: string) => boolean, timeoutMs?: number): Promise<string>;
  /** Resolves when the child has exited: its code, or the signal that ended it. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

const live = new Set<ChildProcess>();
const ledgerDirs: string[] = [];

afterEach(() => {
  for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  live.clear();
  for (const dir of ledgerDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** Start `script` (a path relative to the repository root) with JSON `config` in SPOOL_TEST_CHILD. */
export function startChild(script: string, config: unknown): Child {
  const ledgerDir = mkdtempSync(join(tmpdir(), 'spool-ledger-'));
  ledgerDirs.push(ledgerDir);
  const ledgerFile = join(ledgerDir, 'ledger.log');
  const proc = spawn(process.execPath, ['--import', 'tsx', resolve(script)], {
    cwd: process.cwd(),
    env: { ...process.env, SPOOL_TEST_CHILD: JSON.stringify(config), SPOOL_TEST_LEDGER: ledgerFile },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(proc);
  const lines: string[] = [];
  let partial = '';
  let err = '';
  const waiters = new Set<() => void>();
  proc.stdout!.setEncoding('utf8');
  proc.stdout!.on('data', (chunk: string) => {
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop()!;
    if (parts.length === 0) return;
    lines.push(...parts);
    for (const w of [...waiters]) w();
  });
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (chunk: string) => {
    err = (err + chunk).slice(-20_000);
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => {
    proc.on('exit', (code, signal) => {
      live.delete(proc);
      for (const w of [...waiters]) w();
      done({ code, signal });
    });
  });

  return {
    process: proc,
    lines,
    ledger: () => (existsSync(ledgerFile) ? readFileSync(ledgerFile, 'utf8').split('\n').filter((l) => l.length > 0) : []),
    stderr: () => err,
    exited,
    kill: (signal = 'SIGKILL') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
    waitForLine(match, timeoutMs = 20_000) {
      return new Promise<string>((resolveLine, reject) => {
        const check = (): void => {
          const found = lines.find(match);
          if (found !== undefined) {
            finish();
            resolveLine(found);
          } else if (proc.exitCode !== null || proc.signalCode !== null) {
            finish();
            reject(new Error(`child exited (${proc.exitCode ?? proc.signalCode}) before the expected line; stderr:\n${err}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`no expected line from the child within ${timeoutMs} ms; last lines: ${lines.slice(-3).join(' | ')}; stderr:\n${err}`));
        }, timeoutMs);
        const finish = (): void => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
  };
}
