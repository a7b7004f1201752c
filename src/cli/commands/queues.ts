/** `spool queues` (list with stats) and `spool queues set NAME CONFIG-JSON`. */
import type { Command } from 'commander';
import type { QueueConfig } from '../../core/queue-config.js';
import { action, openSpool, parseJsonArg, print } from '../shared.js';

export function registerQueues(program: Command): void {
  const queues = program
    .command('queues')
    .description('list queues with their counts; `queues set NAME CONFIG-JSON` declares one')
    .option('--db <url>', 'store URL (SPOOL_DB)')
    .option('--url <url>', 'server URL (not available yet)')
    .option('--json', 'print JSON')
    .action(
      action(async (flags: { db?: string; url?: string; json?: boolean }) => {
        const spool = await openSpool(flags);
        try {
          const list = await spool.listQueues();
          print(flags, { queues: list }, () => {
            if (list.length === 0) return 'no queues (declare one with: spool queues set NAME \'{}\')';
            const head = 'queue'.padEnd(24) + ['scheduled', 'queued', 'active', 'retrying', 'completed', 'dead', 'cancelled', 'oldest(s)'].map((h) => h.padStart(10)).join('');
            const rows = list.map((q) => {
              const c = q.stats.counts;
              const cells = [c.scheduled, c.queued, c.active, c.retrying, c.completed, c.dead, c.cancelled, Math.round(q.stats.oldestAgeSeconds)];
              return `${(q.name + (q.paused ? ' (paused)' : '')).padEnd(24)}${cells.map((n) => String(n).padStart(10)).join('')}`;
            });
            return [head, ...rows].join('\n');
          });
        } finally {
          await spool.close();
        }
      }),
    );

  queues
    .command('set')
    .description('create or update a queue: spool queues set NAME CONFIG-JSON')
    .argument('<name>')
    .argument('[config]', 'queue config as JSON', '{}')
    .option('--db <url>', 'store URL (SPOOL_DB)')
    .option('--json', 'print JSON')
    .action(
      action(async (name: string, configText: string, flags: { db?: string; json?: boolean }, cmd: Command) => {
        const merged = { ...cmd.parent?.opts(), ...flags };
        const config = parseJsonArg('CONFIG', configText) as QueueConfig;
        const spool = await openSpool(merged);
        try {
          const q = await spool.declareQueue(name, config);
          print(merged, q, () => `queue ${q.name} ${q.created ? 'created' : 'updated'}`);
        } finally {
          await spool.close();
        }
      }),
    );
}
