/** `spool enqueue`, `spool status`, `spool migrate`. */
import type { Command } from 'commander';
import type { Job } from '../../core/job.js';
import { isPriority } from '../../core/priority.js';
import { action, openSpool, parseJsonArg, print, UsageError } from '../shared.js';

export function registerJobs(program: Command): void {
  program
    .command('enqueue')
    .description('enqueue one job: spool enqueue QUEUE PAYLOAD-JSON')
    .argument('<queue>')
    .argument('<payload>', 'JSON payload')
    .option('--db <url>', 'store URL (SPOOL_DB)')
    .option('--url <url>', 'server URL (not available yet)')
    .option('--type <type>', 'job type')
    .option('--priority <p>', 'critical | high | normal | low')
    .option('--delay <seconds>', 'start no earlier than this many seconds from now')
    .option('--ordering-key <key>')
    .option('--group-key <key>')
    .option('--correlation-id <id>')
    .option('--max-attempts <n>')
    .option('--idempotency-key <key>')
    .option('--wait', 'wait until the job finishes; exit 1 unless it completed')
    .option('--timeout <seconds>', 'with --wait: give up after this long', '60')
    .option('--json', 'print JSON')
    .action(
      action(async (queue: string, payloadText: string, flags: Record<string, string | boolean | undefined>) => {
        const payload = parseJsonArg('PAYLOAD', payloadText);
        if (flags['priority'] !== undefined && !isPriority(flags['priority'])) throw new UsageError('--priority must be critical, high, normal or low');
        const num = (name: string): number | undefined => {
          const v = flags[name];
          if (v === undefined) return undefined;
          const n = Number(v);
          if (!Number.isFinite(n)) throw new UsageError(`--${name} must be a number`);
          return n;
        };
        const spool = await openSpool(flags);
        try {
          const str = (k: string): string | undefined => (typeof flags[k] === 'string' ? (flags[k] as string) : undefined);
          const opts = Object.fromEntries(
            Object.entries({
              type: str('type'),
              priority: str('priority'),
              delaySeconds: num('delay'),
              orderingKey: str('orderingKey'),
              groupKey: str('groupKey'),
              correlationId: str('correlationId'),
              maxAttempts: num('maxAttempts'),
              idempotencyKey: str('idempotencyKey'),
            }).filter(([, v]) => v !== undefined),
          );
          const r = await spool.enqueue(queue, payload, opts);
          if (!flags['wait']) {
            print(flags, r, () => `${r.id} ${r.state}${r.replayed ? ' (replayed)' : ''}`);
            return;
          }
          const job = await spool.waitFor(r.id, { timeoutMs: Number(flags['timeout']) * 1000 });
          print(flags, job, () => describeJob(job));
          if (job.state !== 'completed') process.exitCode = 1;
        } finally {
          await spool.close();
        }
      }),
    );

  program
    .command('status')
    .description('show a job: spool status ID')
    .argument('<id>')
    .option('--db <url>', 'store URL (SPOOL_DB)')
    .option('--url <url>', 'server URL (not available yet)')
    .option('--json', 'print JSON')
    .action(
      action(async (id: string, flags: { db?: string; url?: string; json?: boolean }) => {
        const spool = await openSpool(flags);
        try {
          const job = await spool.getJob(id);
          print(flags, job, () => describeJob(job));
        } finally {
          await spool.close();
        }
      }),
    );

  program
    .command('migrate')
    .description('apply pending store migrations')
    .option('--db <url>', 'store URL (SPOOL_DB)')
    .option('--json', 'print JSON')
    .action(
      action(async (flags: { db?: string; json?: boolean }) => {
        const spool = await openSpool(flags); // opening migrates
        try {
          await spool.store.ping();
          print(flags, { store: spool.store.description, migrated: true }, () => `${spool.store.description}: schema up to date`);
        } finally {
          await spool.close();
        }
      }),
    );
}

export function describeJob(job: Job): string {
  const lines = [
    `${job.id}  ${job.state}  queue=${job.queue}${job.type ? ` type=${job.type}` : ''}  attempts=${job.attempts}/${job.maxAttempts}  priority=${job.priority}`,
    `  created ${job.createdAt.toISOString()}  runAt ${job.runAt.toISOString()}${job.finishedAt ? `  finished ${job.finishedAt.toISOString()}` : ''}`,
  ];
  if (job.lastError) lines.push(`  last error: ${job.lastError.message}`);
  for (const h of job.history) {
    lines.push(`  ${h.at.toISOString()}  ${h.state.padEnd(9)} attempt ${h.attempt}${h.reason ? ` (${h.reason})` : ''}${h.error ? `  ${h.error.message}` : ''}`);
  }
  return lines.join('\n');
}
