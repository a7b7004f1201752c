/**
 * A worker process for multi-process and crash tests. Configured by JSON in SPOOL_TEST_CHILD:
 *   { url, queue, mode, concurrency?, leaseSeconds?, sideEffectFile?, maintenance? }
 * Modes (what the handler does):
 *   record          note `RUN <id> <attempt>` and complete (after an optional `delayMs`)
 *   step-then-hang  ctx.step('side-effect') appends the job id to `sideEffectFile`; note `STEP <id>`; hang
 *   kill-self       note `RUN <id> <attempt>`, then SIGKILL its own process
 * A note goes to the ledger first (./ledger.ts: synchronous, so it survives a SIGKILL right after, which a
 * line queued for stdout may not), then to stdout for the test to follow progress. Prints `READY` once the
 * worker runs. On SIGTERM: graceful stop, close, exit 0.
 */
import { appendFileSync } from 'node:fs';
import { Spool, type Handler } from '../../../src/index.js';
import { record } from './ledger.js';

function note(line: string): void {
  record(line);
  process.stdout.write(`${line}\n`);
}

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
    note(`RUN ${ctx.job.id} ${ctx.job.attempt}`);
    return { pid: process.pid };
  },
  'step-then-hang': async (_payload, ctx) => {
    await ctx.step('side-effect', () => {
      appendFileSync(config.sideEffectFile!, `${ctx.job.id}\n`);
      return process.pid;
    });
    note(`STEP ${ctx.job.id} ${ctx.job.attempt}`);
    await new Promise(() => {}); // hang until killed
  },
  'kill-self': async (_payload, ctx) => {
    note(`RUN ${ctx.job.id} ${ctx.job.attempt}`);
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
