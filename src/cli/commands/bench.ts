/** `spool bench` (registered here; the workloads live in src/bench/). */
import type { Command } from 'commander';
import { action } from '../shared.js';
import { runBench } from '../../bench/run.js';

export function registerBench(program: Command): void {
  program
    .command('bench')
    .description('run the standard workloads (W1–W5, S1; HTTP: L0, H1, H2, H3; M1: scrape time with 1M jobs stored, on request) and print a table (--json: one JSON array)')
    .option('--db <url>', 'store URL to benchmark (default: a fresh SQLite file under ./.spool/bench/)')
    .option('--workload <ids>', 'comma-separated workloads', 'W1,W2,W3,W4,W5,S1,L0,H1,H2,H3')
    .option('--reps <n>', 'repetitions per workload (median reported)', '3')
    .option('--scale <f>', 'multiply every workload size by this factor (quick runs)', '1')
    .option('--processes <n>', 'W3 and W5 consume in N separate worker processes (rows W3×Np, W5×Np); a list such as 1,2 runs each (1: in-process)', '1')
    .option('--json', 'print one JSON array on stdout')
    .action(
      action(async (flags: { db?: string; workload: string; reps: string; scale: string; processes: string; json?: boolean }) => {
        await runBench(flags);
      }),
    );
}
