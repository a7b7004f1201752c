/**
 * The crash tests' bookkeeping (test/helpers/fault-process.ts): what a child announced before a SIGKILL is
 * all in its ledger, even when the parent was not reading its stdout at the time — the case that made
 * test/faults/enqueuer-kill.test.ts report "job … was never attempted" for a job the child had enqueued.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startChild } from '../helpers/fault-process.js';

/** Killed (a zombie not yet reaped by our event loop) or gone. */
function ended(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

describe('fault-process ledger', () => {
  it('keeps every line a child recorded before it was SIGKILLed, while the parent was busy', async () => {
    const count = 20_000;
    const child = startChild('test/faults/children/flood.ts', { count });
    // Busy (the event loop blocked, stdout unread) until the child has flooded stdout and killed itself.
    const pid = child.process.pid!;
    const deadline = Date.now() + 30_000;
    while (!ended(pid) && Date.now() < deadline) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    expect((await child.exited).signal).toBe('SIGKILL');
    const recorded = child.ledger().filter((l) => l.startsWith('TRY '));
    expect(recorded).toHaveLength(count);
    expect(recorded.at(-1)).toBe(`TRY ${count - 1}`);
    // What stdout delivered (it depends on pipe sizes, so it is only printed): the reason for the ledger.
    console.log(`stdout delivered ${child.lines.filter((l) => l.startsWith('TRY ')).length} of ${count} lines; the ledger has ${recorded.length}`);
  });
});
