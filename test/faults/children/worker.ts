/**
 * A worker process for multi-process and crash tests. Configured by JSON in SPOOL_TEST_CHILD:
 *   { url, queue, mode, concurrency?, leaseSeconds?, sideEffectFile?, maintenance? }
 * Modes (what the handler does):
 *   record          print `RUN <id> <attempt>` and complete (after an optional `delayMs`)
 *   step-then-hang  ctx.step('side-effect') appends the job id to `sideEffectFile`; print `STEP <id>`; hang
 *   kill-self       print `RUN <id> <attempt>`, then SIGKILL its own process
 * Prints `READY` once the worker runs. On SIGTERM: graceful stop, close, exit 0.
 */
import { appendFileSync } from 'node:fs';
import { Spool, type Handler } from '../../../src/index.js';

interface Config {
  url: string;
  queue: string;
  mode: 'record' | 'step-then-hang' | 'kill-self';
  concurrency?: number;
  delayMs?: number;
  sideEffectFile?: string;
  maintenance?: boolean;
}

const config = JSON.parse(process.env['SPOOL_TEST_CHILD'] ?? '{}') as Config;
const spool = await Spool.open(config.url);

const handlers: Record<Config['mode'], Handler> = {
  record: async (_payload, ctx) => {
    if (config.delayMs) await new Promise((r) => setTimeout(r, Math.random() * config.delayMs!));
    process.stdout.write(`RUN ${ctx.job.id} ${ctx.job.attempt}\n`);
    return { pid: process.pid };
  },
  'step-then-hang': async (_payload, ctx) => {
    await ctx.step('side-effect', () => {
      appendFileSync(config.sideEffectFile!, `${ctx.job.id}\n`);
      return process.pid;
    });
    process.stdout.write(`STEP ${ctx.job.id} ${ctx.job.attempt}\n`);
    await new Promise(() => {}); // hang until killed
  },
  'kill-self': async (_payload, ctx) => {
    process.stdout.write(`RUN ${ctx.job.id} ${ctx.job.attempt}\n`);
    process.kill(process.pid, 'SIGKILL');
    await new Promise(() => {});
  },
};

spool.handle(config.queue, handlers[config.mode]);
const worker = await spool.work({
  queues: [config.queue],
  ...(config.concurrency ? { concurrency: config.concurrency } : {}),
  maintenance: config.maintenance ?? false,
});
process.on('SIGTERM', () => {
  void worker
    .stop({ graceMs: 5000 })
    .then(() => spool.close())
    .then(() => process.exit(0));
});
process.stdout.write('READY\n');
