/** `spool work`: run handlers from a module against a store. */
import type { Command } from 'commander';
import { action, loadHandlers, openSpool, parseList, positiveInt, UsageError } from '../shared.js';

export function registerWork(program: Command): void {
  program
    .command('work')
    .description('run handlers from a module against a store until SIGTERM/SIGINT')
    .requiredOption('--handlers <module>', 'module exporting handlers (by job type or queue name)')
    .option('--db <url>', 'store URL (SPOOL_DB)')
    .option('--url <url>', 'server URL (not available yet)')
    .option('--queues <names>', 'comma-separated queues (default: every queue a handler is named after)')
    .option('--concurrency <n>', 'handlers in flight per queue')
    .option('--grace <seconds>', 'shutdown grace period', '25')
    .option('--no-maintenance', 'do not take part in maintenance (lease reaper, scheduler, retention)')
    .action(
      action(async (flags: { handlers: string; db?: string; url?: string; queues?: string; concurrency?: string; grace: string; maintenance: boolean }) => {
        const graceMs = Number(flags.grace) * 1000;
        if (!Number.isFinite(graceMs) || graceMs < 0) throw new UsageError('--grace must be a number of seconds');
        const spool = await openSpool(flags, { log: true });
        const handlers = await loadHandlers(spool, flags.handlers);
        const queues = parseList(flags.queues);
        const concurrency = positiveInt('--concurrency', flags.concurrency);
        const worker = await spool.work({
          handlers,
          ...(queues ? { queues } : {}),
          ...(concurrency ? { concurrency } : {}),
          shutdownGraceMs: graceMs,
          maintenance: flags.maintenance,
        });
        process.stdout.write(`spool worker ${worker.id} on ${spool.store.description} ready\n`);
        let stopping = false;
        const stop = async (): Promise<void> => {
          if (stopping) return;
          stopping = true;
          await spool.close({ graceMs });
          process.exit(0);
        };
        process.once('SIGTERM', () => void stop());
        process.once('SIGINT', () => void stop());
      }),
    );
}
