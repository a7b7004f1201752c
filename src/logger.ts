/**
 * Logging: pino. The library is silent unless given a logger; `spool serve` / `spool work` log JSON to
 * stderr at SPOOL_LOG_LEVEL (default info). Job events have one shape and fixed levels
 * (observability/job-log.ts); `isLevelEnabled` lets hot paths skip building a line nobody reads.
 */
import { pino, type Logger as PinoLogger } from 'pino';

export type Logger = Pick<PinoLogger, 'info' | 'warn' | 'error' | 'debug' | 'child' | 'isLevelEnabled'>;

export const silentLogger: Logger = pino({ level: 'silent' });

export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino(
    { level: options.level ?? process.env['SPOOL_LOG_LEVEL'] ?? 'info', name: options.name ?? 'spool' },
    pino.destination({ dest: 2, sync: false }),
  );
}
