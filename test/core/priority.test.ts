import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { claimOrder, effectiveTier, PRIORITIES, type Priority } from '../../src/core/priority.js';

describe('claimOrder (priority aging)', () => {
  it('orders any two waiting jobs by effective tier first, at any time', () => {
    const job = fc.record({ p: fc.constantFrom(...PRIORITIES), t: fc.integer({ min: 0, max: 1_000_000 }) });
    fc.assert(
      fc.property(job, job, fc.integer({ min: 1_000_000, max: 3_000_000 }), fc.integer({ min: 1, max: 500 }), (a, b, now, aging) => {
        const ea = effectiveTier(a.p as Priority, a.t, aging, now);
        const eb = effectiveTier(b.p as Priority, b.t, aging, now);
        const oa = claimOrder(a.p as Priority, a.t, aging);
        const ob = claimOrder(b.p as Priority, b.t, aging);
        const keyA = [oa.rank, oa.sortAt];
        const keyB = [ob.rank, ob.sortAt];
        const aFirst = keyA[0]! < keyB[0]! || (keyA[0] === keyB[0] && keyA[1]! < keyB[1]!);
        if (ea < eb) expect(aFirst).toBe(true);
      }),
    );
  });

  it('never ages anything above high: due critical work goes first', () => {
    const critical = claimOrder('critical', 10_000_000, 60);
    const ancientLow = claimOrder('low', 0, 60);
    expect(critical.rank).toBeLessThan(ancientLow.rank);
    expect(effectiveTier('low', 0, 60, 10_000_000)).toBe(1);
  });

  it('lifts a low job one tier per agingSeconds', () => {
    expect(effectiveTier('low', 0, 60, 59_999)).toBe(3);
    expect(effectiveTier('low', 0, 60, 60_000)).toBe(2);
    expect(effectiveTier('low', 0, 60, 120_000)).toBe(1);
  });
});
