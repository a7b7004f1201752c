/**
 * A real pino logger writing JSON lines to a stream the test reads: every line Spool logs, parsed, in order.
 * `events(name)` picks the job event lines (observability/job-log.ts) of one kind; `waitFor` waits for one.
 */
import { Writable } from 'node:stream';
import { pino, type Level } from 'pino';
import type { Logger } from '../../src/logger.js';
import { waitUntil } from '../engine/harness.js';

export type LogLine = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- assertions read it freely

export interface CapturedLog {
  readonly log: Logger & { level: string };
  readonly lines: LogLine[];
  events(event: string, jobId?: string): LogLine[];
  waitFor(event: string, jobId?: string): Promise<LogLine>;
}

const LEVELS: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

export function captureLog(level: Level = 'debug'): CapturedLog {
  const lines: LogLine[] = [];
  let partial = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      partial += chunk.toString('utf8');
      const complete = partial.split('\n');
      partial = complete.pop()!;
      for (const text of complete) if (text) lines.push({ ...JSON.parse(text), levelName: LEVELS[JSON.parse(text).level as number] });
      done();
    },
  });
  const log = pino({ level, name: 'spool' }, stream);
  const events = (event: string, jobId?: string): LogLine[] => lines.filter((l) => l['event'] === event && (jobId === undefined || l['jobId'] === jobId));
  return {
    log,
    lines,
    events,
    waitFor: (event, jobId) => waitUntil(() => events(event, jobId)[0], `a ${event} log line${jobId ? ` for ${jobId}` : ''}`),
  };
}
