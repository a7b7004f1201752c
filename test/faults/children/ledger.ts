/**
 * The child's side of a crash test's ledger (test/helpers/fault-process.ts): `record(line)` appends the line
 * to the file named by SPOOL_TEST_LEDGER with a synchronous write, so it is on file before the child does
 * what the line announces — a SIGKILL at any later moment cannot lose it. stdout cannot promise that: once
 * the pipe is full, Node queues writes in the process and a SIGKILL drops them.
 */
import { openSync, writeSync } from 'node:fs';

const path = process.env['SPOOL_TEST_LEDGER'];
if (!path) throw new Error('SPOOL_TEST_LEDGER is not set (start this child with startChild)');
const fd = openSync(path, 'a');

/** Append one line to the ledger, synchronously. */
export function record(line: string): void {
  writeSync(fd, `${line}\n`);
}
