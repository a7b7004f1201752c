/**
 * For test/infra/fault-process.test.ts: announce `count` lines (SPOOL_TEST_CHILD: { count }) both ways —
 * on stdout and in the ledger — then SIGKILL itself at once, with stdout's queue still full.
 */
import { record } from './ledger.js';

const { count } = JSON.parse(process.env['SPOOL_TEST_CHILD'] ?? '{}') as { count: number };
for (let i = 0; i < count; i++) {
  record(`TRY ${i}`);
  process.stdout.write(`TRY ${i}\n`);
}
process.kill(process.pid, 'SIGKILL');
