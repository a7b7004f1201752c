/**
 * An enqueuer process for crash tests. Configured by JSON in SPOOL_TEST_CHILD: { url, queue, run, inFlight, max }.
 * Keeps `inFlight` enqueue calls outstanding. For each job it records `TRY <run> <seq>` in its ledger before
 * calling enqueue and `OK <run> <seq> <id>` only after the promise resolved (the job is committed). The ledger
 * is written synchronously (./ledger.ts): stdout to a pipe is not — once the pipe is full Node queues the
 * writes in the process, and a SIGKILL dropped a TRY line whose enqueue had committed. OK lines also go to
 * stdout, for the test to follow progress.
 */
import { Spool } from '../../../src/index.js';
import { record } from './ledger.js';

interface Config {
  url: string;
  queue: string;
  run: number;
  inFlight: number;
  max: number;
}

const config = JSON.parse(process.env['SPOOL_TEST_CHILD'] ?? '{}') as Config;
const spool = await Spool.open(config.url);
process.stdout.write('READY\n');

let next = 0;
async function lane(): Promise<void> {
  while (next < config.max) {
    const seq = next++;
    record(`TRY ${config.run} ${seq}`);
    try {
      const receipt = await spool.enqueue(config.queue, { run: config.run, seq }, seq % 3 === 0 ? { idempotencyKey: `r${config.run}-s${seq}` } : {});
      record(`OK ${config.run} ${seq} ${receipt.id}`);
      process.stdout.write(`OK ${config.run} ${seq} ${receipt.id}\n`);
    } catch (error) {
      record(`ERR ${config.run} ${seq} ${(error as Error).message}`);
      process.stdout.write(`ERR ${config.run} ${seq} ${(error as Error).message}\n`);
    }
  }
}

await Promise.all(Array.from({ length: config.inFlight }, () => lane()));
await spool.close();
process.stdout.write('DONE\n');
