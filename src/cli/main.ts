#!/usr/bin/env node
/** The `spool` command line. Every command: --help, one-line errors, non-zero exit on failure. */
import { Command, CommanderError } from 'commander';
import { createRequire } from 'node:module';
import { registerServe } from './commands/serve.js';
import { registerWork } from './commands/work.js';
import { registerJobs } from './commands/jobs.js';
import { registerQueues } from './commands/queues.js';
import { registerDlq } from './commands/dlq.js';
import { registerBench } from './commands/bench.js';
import { registerKeys } from './commands/keys.js';

const version = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;

const program = new Command('spool')
  .description('Spool: a queue-first job service (library, server and CLI over one engine)')
  .version(version)
  .exitOverride();
// A usage error is one line, hint included: `spool: unknown option '--x' (run with --help for usage)`.
program.configureOutput({
  outputError: (s, write) => write(`spool: ${s.replace(/^error: /, '').trimEnd().replace(/\n+/g, ' ')} (run with --help for usage)\n`),
});

registerServe(program);
registerWork(program);
registerJobs(program);
registerQueues(program);
registerDlq(program);
registerBench(program);
registerKeys(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else {
    process.stderr.write(`spool: ${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}
