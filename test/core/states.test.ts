import { describe, expect, it } from 'vitest';
import { CANCELLABLE_STATES, isLegalTransition, JOB_STATES, TERMINAL_STATES, TRANSITIONS } from '../../src/core/states.js';

describe('job state machine', () => {
  it('has no transitions out of completed or cancelled, and only replay out of dead', () => {
    for (const t of TRANSITIONS) {
      expect(t.from).not.toBe('completed');
      expect(t.from).not.toBe('cancelled');
      if (t.from === 'dead') expect(t).toEqual({ from: 'dead', to: 'queued', cause: 'replay' });
    }
  });
  it('cannot cancel active work (v1) but can cancel every waiting state', () => {
    expect([...CANCELLABLE_STATES].sort()).toEqual(['queued', 'retrying', 'scheduled']);
    expect(isLegalTransition('active', 'cancelled')).toBe(false);
  });
  it('only claims from queued, and every state is reachable from an initial one', () => {
    expect(TRANSITIONS.filter((t) => t.to === 'active').map((t) => t.from)).toEqual(['queued']);
    const reached = new Set(['scheduled', 'queued']);
    for (let changed = true; changed; ) {
      changed = false;
      for (const t of TRANSITIONS) {
        if (reached.has(t.from) && !reached.has(t.to)) {
          reached.add(t.to);
          changed = true;
        }
      }
    }
    expect([...reached].sort()).toEqual([...JOB_STATES].sort());
    expect(TERMINAL_STATES.every((s) => reached.has(s))).toBe(true);
  });
});
