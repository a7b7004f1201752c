/**
 * Shared by the PostgreSQL process tests (pg-nodes, pg-outage): a `spool work` CLI process run from the
 * sources under tsx whose handlers log `<jobId> <pid> <attempt>` per run to `<runDir>/runs-<pid>.log`
 * (test/faults/children/pg-handlers.ts), reading those logs back, and a bounded wait.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { LongRunning } from '../cli/spawn.js';

export interface Run {
  id: string;
  pid: number;
  attempt: number;
}

export function startPgWorker(opts: { url: string; handlers: string; queue: string; runDir: string; delayMs: number }): LongRunning {
  return new LongRunning(
    ['--import', 'tsx', 'src/cli/main.ts', 'work', '--db', opts.url, '--handlers', opts.handlers, '--queues', opts.queue, '--concurrency', '16', '--grace', '5'],
    { env: { PG_NODES_RUN_DIR: opts.runDir, PG_NODES_DELAY_MS: String(opts.delayMs), SPOOL_LOG_LEVEL: 'info' } },
  );
}

export function runsOf(runDir: string, pid: number): Run[] {
  const file = join(runDir, `runs-${pid}.log`);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => {
      const [id, p, attempt] = l.split(' ');
      return { id: id!, pid: Number(p), attempt: Number(attempt) };
    });
}

export async function until<T>(what: string, fn: () => Promise<T | undefined> | T | undefined, timeoutMs: number, describeState: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${describeState()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
