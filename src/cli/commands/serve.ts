/**
 * `spool serve`: the HTTP server over a store, with in-process workers when handlers are given.
 *
 * Shutdown (SIGTERM / SIGINT): /v1 answers 503 (and /readyz 503) from the first moment, long polls answer
 * at once, the listener closes and in-flight requests finish (an enqueue already committing still gets its
 * 202); then in-process handlers get the grace period (`--grace`, default 25 s) and whatever is still
 * running is released; the process exits 0. Push deliveries (queues with a `target`) and webhook notifications
 * (queue `webhook`, job `callbackUrl`; `--no-webhooks` leaves them to other nodes) get the same grace period.
 */
import type { Command } from 'commander';
import type { FastifyBaseLogger } from 'fastify';
import { isIP } from 'node:net';
import { adminTokenProblem } from '../../server/auth/plugin.js';
import { buildApp, maxBodyBytesFromEnv, type ServerState } from '../../server/app.js';
import { createLogger } from '../../logger.js';
import { PushDispatcher } from '../../push/push-dispatcher.js';
import { PUBLIC_URL_ENV } from '../../webhooks/webhook-delivery.js';
import { Spool } from '../../spool.js';
import type { MaintainerOptions } from '../../worker/maintenance/maintainer.js';
import { action, loadHandlers, parseList, storeUrl, UsageError } from '../shared.js';
import { loadConfigFile } from '../config-file.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** `SPOOL_STATS_SAMPLE_MS`: how often the maintenance leader samples queue stats for the time series (default 10 s). */
function maintenanceFromEnv(env: NodeJS.ProcessEnv = process.env): MaintainerOptions {
  const text = env['SPOOL_STATS_SAMPLE_MS'];
  if (text === undefined || text === '') return {};
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms < 100 || ms > 3_600_000) throw new UsageError(`SPOOL_STATS_SAMPLE_MS must be an integer from 100 to 3600000, not "${text}"`);
  return { sampleIntervalMs: ms };
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the HTTP server (and in-process workers with --handlers)')
    .option('--host <host>', 'bind address (SPOOL_HOST, default 127.0.0.1)')
    .option('--port <port>', 'port; 0 picks a free one (SPOOL_PORT, default 7420)')
    .option('--db <url>', 'store URL (SPOOL_DB, default sqlite:./.spool/spool.db)')
    .option('--config <file>', 'JSON or YAML file declaring queues, topics, schedules, keys and handlers (SPOOL_CONFIG)')
    .option('--handlers <module>', 'module whose handlers run in-process (SPOOL_HANDLERS)')
    .option('--queues <names>', 'comma-separated queues for the in-process workers (default: all with handlers)')
    .option('--grace <seconds>', 'shutdown grace period for running handlers', '25')
    .option('--no-webhooks', 'do not deliver webhook notifications from this node (other nodes or workers do)')
    .action(
      action(async (flags: { host?: string; port?: string; db?: string; config?: string; handlers?: string; queues?: string; grace: string; webhooks: boolean }) => {
        const host = flags.host ?? process.env['SPOOL_HOST'] ?? '127.0.0.1';
        const portText = flags.port ?? process.env['SPOOL_PORT'] ?? '7420';
        const port = Number(portText);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`invalid port "${portText}"`);
        const grace = Number(flags.grace);
        if (!Number.isFinite(grace) || grace < 0) throw new UsageError('--grace must be a number of seconds');
        if (!process.env['SPOOL_ADMIN_TOKEN'] && !LOOPBACK.has(host) && !(isIP(host) && host.startsWith('127.'))) {
          throw new UsageError(`refusing to serve without SPOOL_ADMIN_TOKEN on non-loopback host ${host}`);
        }
        const tokenProblem = process.env['SPOOL_ADMIN_TOKEN'] ? adminTokenProblem(process.env['SPOOL_ADMIN_TOKEN']) : null;
        if (tokenProblem) throw new UsageError(tokenProblem);
        let maxBodyBytes: number;
        try {
          maxBodyBytes = maxBodyBytesFromEnv();
        } catch (error) {
          throw new UsageError((error as Error).message);
        }
        const maintenance = maintenanceFromEnv();
        const log = createLogger();
        const spool = await Spool.open({ url: storeUrl({ db: flags.db }), logger: log });
        const configFile = flags.config ?? process.env['SPOOL_CONFIG'];
        const fromConfig = configFile ? await loadConfigFile(spool, configFile) : null;
        const handlersModule = flags.handlers ?? process.env['SPOOL_HANDLERS'] ?? fromConfig?.handlers ?? undefined;
        if (handlersModule) {
          const handlers = await loadHandlers(spool, handlersModule);
          const queues = parseList(flags.queues);
          await spool.work({ handlers, ...(queues ? { queues } : {}), shutdownGraceMs: grace * 1000, maintenance, webhooks: false });
        } else {
          // No handlers here: remote workers (`spool work --url`) do the work. Maintenance still runs, so their
          // expired leases come back (a failed attempt each) and retries and delayed jobs come due.
          spool.maintain(maintenance);
        }
        // Push delivery for queues with a `target`, on every node (claims are exclusive: nodes share the work).
        const push = new PushDispatcher(spool, { shutdownGraceMs: grace * 1000 });
        await push.start();
        // Webhook notifications (queue `webhook`, job `callbackUrl`), likewise on every node; started once the
        // handlers are in place (a start that fails leaves no worker keeping the process alive). Their statusUrl is
        // absolute under SPOOL_PUBLIC_URL, else under the address this server listens on (known once it listens).
        const listening: { url?: string } = {};
        if (flags.webhooks) await spool.startWebhooks({ shutdownGraceMs: grace * 1000, publicUrl: () => process.env[PUBLIC_URL_ENV] ?? listening.url });
        const state: ServerState = { shuttingDown: false };
        const app = buildApp(spool, { state, maxBodyBytes, logger: log as unknown as FastifyBaseLogger }); // createLogger() is pino
        try {
          await app.listen({ host, port });
        } catch (error) {
          // Nothing was served: stop the workers, the push dispatcher and maintenance the start began, so the
          // process exits with the one-line reason (a port in use used to leave a headless worker running).
          await push.stop().catch(() => undefined);
          await spool.close().catch(() => undefined);
          throw new UsageError(`cannot listen on ${host}:${port}: ${(error as Error).message}`);
        }
        const address = app.server.address();
        const realPort = typeof address === 'object' && address ? address.port : port;
        const shownHost = host.includes(':') ? `[${host}]` : host;
        listening.url = `http://${shownHost}:${realPort}`;
        process.stdout.write(`spool ${spool.store.description} listening on ${listening.url}\n`);
        const shutdown = async (signal: string): Promise<void> => {
          if (state.shuttingDown) return;
          state.shuttingDown = true;
          log.info({ signal, graceSeconds: grace }, 'shutting down');
          try {
            await app.close();
          } catch (error) {
            log.error({ err: error }, 'closing the HTTP server failed');
          }
          // In-process handlers and push deliveries share one grace period (the dispatcher stops following
          // configs at once; spool.close stops its workers along with the others).
          const pushStopped = push.stop({ graceMs: grace * 1000 });
          await spool.close({ graceMs: grace * 1000 });
          await pushStopped;
          log.info('stopped');
          process.exit(0);
        };
        process.once('SIGTERM', () => void shutdown('SIGTERM'));
        process.once('SIGINT', () => void shutdown('SIGINT'));
      }),
    );
}
