/**
 * Handlers module for `spool work --handlers` in test/faults/pg-nodes.test.ts. Every run appends
 * `<jobId> <pid> <attempt>` to `<PG_NODES_RUN_DIR>/runs-<pid>.log` (synchronously, before the handler's outcome
 * can commit), then waits a random 0..PG_NODES_DELAY_MS ms and returns `{ pid }` as the job's result.
 */
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Handler } from '../../../src/index.js';

const dir = process.env['PG_NODES_RUN_DIR'];
const delayMs = Number(process.env['PG_NODES_DELAY_MS'] ?? '0');
if (!dir) throw new Error('PG_NODES_RUN_DIR is not set');
const file = join(dir, `runs-${process.pid}.log`);

const run: Handler = async (_payload, ctx) => {
  appendFileSync(file, `${ctx.job.id} ${process.pid} ${ctx.job.attempt}\n`);
  if (delayMs > 0) await new Promise((r) => setTimeout(r, Math.random() * delayMs));
  return { pid: process.pid };
};

export default { 'pg-nodes': run, 'pg-kill': run };
