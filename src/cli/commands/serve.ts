/** `spool serve`: the HTTP server over a store, with in-process workers when handlers are given. */
import type { Command } from 'commander';
import { isIP } from 'node:net';
import { buildApp } from '../../server/app.js';
import { createLogger } from '../../logger.js';
import { Spool } from '../../spool.js';
import { action, loadHandlers, parseList, storeUrl, UsageError } from '../shared.js';
import { loadConfigFile } from '../config-file.js';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the HTTP server (and in-process workers with --handlers)')
    .option('--host <host>', 'bind address (SPOOL_HOST, default 127.0.0.1)')
    .option('--port <port>', 'port; 0 picks a free one (SPOOL_PORT, default 7420)')
    .option('--db <url>', 'store URL (SPOOL_DB, default sqlite:./.spool/spool.db)')
    .option('--config <file>', 'JSON file declaring queues (SPOOL_CONFIG)')
    .option('--handlers <module>', 'module whose handlers run in-process (SPOOL_HANDLERS)')
    .option('--queues <names>', 'comma-separated queues for the in-process workers (default: all with handlers)')
    .option('--grace <seconds>', 'shutdown grace period for running handlers', '25')
    .action(
      action(async (flags: { host?: string; port?: string; db?: string; config?: string; handlers?: string; queues?: string; grace: string }) => {
        const host = flags.host ?? process.env['SPOOL_HOST'] ?? '127.0.0.1';
        const portText = flags.port ?? process.env['SPOOL_PORT'] ?? '7420';
        const port = Number(portText);
        if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError(`invalid port "${portText}"`);
        const grace = Number(flags.grace);
        if (!Number.isFinite(grace) || grace < 0) throw new UsageError('--grace must be a number of seconds');
        if (!process.env['SPOOL_ADMIN_TOKEN'] && !LOOPBACK.has(host) && !(isIP(host) && host.startsWith('127.'))) {
          throw new UsageError(`refusing to serve without SPOOL_ADMIN_TOKEN on non-loopback host ${host}`);
        }
        const log = createLogger();
        const spool = await Spool.open({ url: storeUrl({ db: flags.db }), logger: log });
        const configFile = flags.config ?? process.env['SPOOL_CONFIG'];
        if (configFile) await loadConfigFile(spool, configFile);
        const handlersModule = flags.handlers ?? process.env['SPOOL_HANDLERS'];
        if (handlersModule) {
          const handlers = await loadHandlers(spool, handlersModule);
          const queues = parseList(flags.queues);
          await spool.work({ handlers, ...(queues ? { queues } : {}), shutdownGraceMs: grace * 1000 });
        }
        const state = { shuttingDown: false };
        const app = buildApp(spool, { state });
        await app.listen({ host, port });
        const address = app.server.address();
        const realPort = typeof address === 'object' && address ? address.port : port;
        const shownHost = host.includes(':') ? `[${host}]` : host;
        process.stdout.write(`spool ${spool.store.description} listening on http://${shownHost}:${realPort}\n`);
        const shutdown = async (signal: string): Promise<void> => {
          if (state.shuttingDown) return;
          state.shuttingDown = true;
          log.info({ signal }, 'shutting down');
          await app.close();
          await spool.close({ graceMs: grace * 1000 });
          process.exit(0);
        };
        process.once('SIGTERM', () => void shutdown('SIGTERM'));
        process.once('SIGINT', () => void shutdown('SIGINT'));
      }),
    );
}
