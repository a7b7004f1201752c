/** `spool dlq list QUEUE` and `spool dlq replay QUEUE (--id ID… | --all) [--dry-run]`. */
import type { Command } from 'commander';
import { action, openSpool, positiveInt, print, UsageError } from '../shared.js';

export function registerDlq(program: Command): void {
  const dlq = program.command('dlq').description('inspect and replay the dead-letter queue');

  dlq
    .command('list')
    .description('list dead jobs of a queue, newest first, with their last error')
    .argument('<queue>')
    .option('--db <url>', 'store URL (SPOOL_DB)')
    .option('--limit <n>', 'page size', '50')
    .option('--cursor <cursor>', 'next page cursor from a previous --json listing')
    .option('--json', 'print JSON')
    .action(
      action(async (queue: string, flags: { db?: string; limit: string; cursor?: string; json?: boolean }) => {
        const spool = await openSpool(flags);
        try {
          const page = await spool.dlq.list(queue, { limit: positiveInt('--limit', flags.limit) ?? 50, cursor: flags.cursor ?? null });
          print(flags, page, () =>
            page.jobs.length === 0
              ? `no dead jobs in ${queue}`
              : page.jobs
                  .map((j) => `${j.id}  attempts=${j.attempts}  died ${j.finishedAt?.toISOString() ?? '?'}  ${j.lastError?.message ?? ''}`)
                  .join('\n') + (page.nextCursor ? `\n(more: --cursor ${page.nextCursor})` : ''),
          );
        } finally {
          await spool.close();
        }
      }),
    );

  dlq
    .command('replay')
    .description('move dead jobs back to queued with a fresh attempt budget')
    .argument('<queue>')
    .option('--db <url>', 'store URL (SPOOL_DB)')
    .option('--id <id...>', 'job ids to replay')
    .option('--all', 'replay every dead job of the queue')
    .option('--dry-run', 'only count what would be replayed')
    .option('--json', 'print JSON')
    .action(
      action(async (queue: string, flags: { db?: string; id?: string[]; all?: boolean; dryRun?: boolean; json?: boolean }) => {
        if (!flags.id && !flags.all) throw new UsageError('give --id ID... or --all');
        if (flags.id && flags.all) throw new UsageError('give --id or --all, not both');
        const spool = await openSpool(flags);
        try {
          if (flags.all && !flags.dryRun && !flags.json) {
            await spool.getQueue(queue); // an unknown queue fails with its one line before any progress is shown
            process.stderr.write(`replaying every dead job of ${queue}…\n`);
          }
          const r = await spool.dlq.replay(queue, { ...(flags.id ? { ids: flags.id } : { all: true }), ...(flags.dryRun ? { dryRun: true } : {}) });
          print(flags, { replayed: r.count, dryRun: !!flags.dryRun, ids: r.ids }, () =>
            flags.dryRun ? `${r.count} dead job(s) would be replayed` : `${r.count} job(s) replayed`,
          );
        } finally {
          await spool.close();
        }
      }),
    );
}
