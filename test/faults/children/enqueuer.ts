/**
 * An enqueuer process for crash tests. Configured by JSON in SPOOL_TEST_CHILD: { url, queue, run, inFlight, max }.
 * Keeps `inFlight` enqueue calls outstanding. For each job it prints `TRY <run> <seq>` before calling
 * enqueue and `OK <run> <seq> <id>` only after the promise resolved (the job is committed). stdout to a pipe
 * is synchronous on Linux, so a printed line was written before any later SIGKILL.
 */
import { Spool } from '../../../src/index.js';

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
    process.stdout.write(`TRY ${config.run} ${seq}\n`);
    try {
      const receipt = await spool.enqueue(config.queue, { run: config.run, seq }, seq % 3 === 0 ? { idempotencyKey: `r${config.run}-s${seq}` } : {});
      process.stdout.write(`OK ${config.run} ${seq} ${receipt.id}\n`);
    } catch (error) {
      process.stdout.write(`ERR ${config.run} ${seq} ${(error as Error).message}\n`);
    }
  }
}

await Promise.all(Array.from({ length: config.inFlight }, () => lane()));
await spool.close();
process.stdout.write('DONE\n');
