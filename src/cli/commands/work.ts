/**
 * `spool work`: run handlers from a module against a store (`--db`, an in-process worker) or against a
 * server (`--url`, a remote worker over the pull API: leases, acks, nacks — see worker/remote-worker.ts).
 */
import type { Command } from 'commander';
import { NotFoundError, SpoolClient, SpoolHttpError } from '../../client/index.js';
import { QueueNotFoundError } from '../../core/errors.js';
import { createLogger } from '../../logger.js';
import { RemoteWorker } from '../../worker/remote-worker.js';
import { RemoteHost } from '../remote-host.js';
import { action, loadHandlers, openSpool, parseList, positiveInt, UsageError } from '../shared.js';

interface WorkFlags {
  handlers: string;
  db?: string;
  url?: string;
  token?: string;
  queues?: string;
  concurrency?: string;
  grace: string;
  maintenance: boolean;
  webhooks: boolean;
}

export function registerWork(program: Command): void {
  program
    .command('work')
    .description('run handlers from a module against a store (--db) or a server (--url) until SIGTERM/SIGINT')
    .requiredOption('--handlers <module>', 'module exporting handlers (by job type or queue name)')
    .option('--db <url>', 'store URL (SPOOL_DB)')
    .option('--url <url>', 'server URL: work remotely through its HTTP API (leases)')
    .option('--token <token>', 'with --url: bearer token, an API key with consume scope (SPOOL_TOKEN)')
    .option('--queues <names>', 'comma-separated queues (default: every queue a handler is named after)')
    .option('--concurrency <n>', 'handlers in flight per queue')
    .option('--grace <seconds>', 'shutdown grace period', '25')
    .option('--no-maintenance', 'do not take part in maintenance (lease reaper, scheduler, retention; --db only)')
    .option('--no-webhooks', 'do not deliver webhook notifications from this process (--db only; a server or another worker does)')
    .action(
      action(async (flags: WorkFlags) => {
        const graceMs = Number(flags.grace) * 1000;
        if (!Number.isFinite(graceMs) || graceMs < 0) throw new UsageError('--grace must be a number of seconds');
        if (flags.url) return workRemote(flags, graceMs);
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
          webhooks: flags.webhooks ? { shutdownGraceMs: graceMs } : false,
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

/** `--url`: the same handlers, fed by leases from a server. */
async function workRemote(flags: WorkFlags, graceMs: number): Promise<void> {
  if (flags.db) throw new UsageError('give --db (a store) or --url (a server), not both');
  let client: SpoolClient;
  try {
    client = new SpoolClient({ url: flags.url!, token: flags.token ?? process.env['SPOOL_TOKEN'] });
  } catch (error) {
    throw new UsageError(`--url: ${(error as Error).message.replace(/^SpoolClient: /, '')}`);
  }
  const concurrency = positiveInt('--concurrency', flags.concurrency);
  if (concurrency === 0) throw new UsageError('--concurrency must be at least 1');
  const host = new RemoteHost(client);
  const handlers = await loadHandlers(host.facade, flags.handlers);
  const queues = parseList(flags.queues) ?? host.queuesFor(handlers);
  if (queues.length === 0) throw new UsageError('no queues to work on: export handlers named after queues or job types, or pass --queues');
  // Fail fast on a queue the server does not have (a handler named after a job type needs --queues). A token
  // without read scope cannot look: then the first lease answers instead.
  for (const queue of queues) {
    try {
      await client.getQueue(queue);
    } catch (error) {
      if (error instanceof NotFoundError) throw new QueueNotFoundError(queue);
      if (error instanceof SpoolHttpError && error.status === 403) continue;
      throw error;
    }
  }
  const log = createLogger();
  const worker = new RemoteWorker(
    { client, log, resolve: host.resolver(handlers) },
    { queues, ...(concurrency ? { concurrency } : {}), shutdownGraceMs: graceMs },
  );
  worker.start();
  process.stdout.write(`spool worker ${worker.id} on ${client.url} ready\n`);
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await worker.stop({ graceMs });
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}
