import { describe, expect, it } from 'vitest';
import {
  childTraceparent,
  formatTraceparent,
  normalizeTraceparent,
  parseTraceparent,
  traceIdOf,
} from '../../src/observability/trace-context.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const VALID = `00-${TRACE_ID}-${PARENT_ID}-01`;

describe('parseTraceparent', () => {
  it('reads the fields of a version-00 header (the W3C example)', () => {
    expect(parseTraceparent(VALID)).toEqual({ traceId: TRACE_ID, parentId: PARENT_ID, flags: 1 });
    expect(parseTraceparent(`00-${TRACE_ID}-${PARENT_ID}-00`)?.flags).toBe(0);
  });

  it.each([
    ['empty', ''],
    ['upper-case hex', VALID.toUpperCase()],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${PARENT_ID}-01`],
    ['all-zero parent id', `00-${TRACE_ID}-${'0'.repeat(16)}-01`],
    ['version ff', `ff-${TRACE_ID}-${PARENT_ID}-01`],
    ['version 00 with trailing data', `${VALID}-extra`],
    ['short trace id', `00-${TRACE_ID.slice(1)}-${PARENT_ID}-01`],
    ['wrong separators', VALID.replace(/-/g, '_')],
    ['flags not hex', `00-${TRACE_ID}-${PARENT_ID}-0g`],
    ['a later version joined without a dash', `01-${TRACE_ID}-${PARENT_ID}-01x`],
    ['very long', `01-${TRACE_ID}-${PARENT_ID}-01-${'a'.repeat(600)}`],
  ])('refuses %s', (_what, value) => {
    expect(parseTraceparent(value)).toBeNull();
    expect(normalizeTraceparent(value)).toBeNull();
  });

  it('refuses what is not a string', () => {
    expect(parseTraceparent(null)).toBeNull();
    expect(parseTraceparent(undefined)).toBeNull();
    expect(parseTraceparent(42 as unknown as string)).toBeNull();
  });

  it('reads a later version by its first four fields and normalises it to version 00', () => {
    const later = `cc-${TRACE_ID}-${PARENT_ID}-01-what-the-future-holds`;
    expect(parseTraceparent(later)).toEqual({ traceId: TRACE_ID, parentId: PARENT_ID, flags: 1 });
    expect(normalizeTraceparent(later)).toBe(VALID);
    expect(normalizeTraceparent(`cc-${TRACE_ID}-${PARENT_ID}-01`)).toBe(VALID);
  });
});

describe('formatTraceparent / traceIdOf', () => {
  it('round-trips and pads the flags', () => {
    expect(formatTraceparent({ traceId: TRACE_ID, parentId: PARENT_ID, flags: 1 })).toBe(VALID);
    expect(formatTraceparent({ traceId: TRACE_ID, parentId: PARENT_ID, flags: 0 })).toBe(`00-${TRACE_ID}-${PARENT_ID}-00`);
    expect(traceIdOf(VALID)).toBe(TRACE_ID);
    expect(traceIdOf('garbage')).toBeNull();
    expect(traceIdOf(null)).toBeNull();
  });
});

describe('childTraceparent', () => {
  it('keeps the trace id and flags and draws a new, valid parent id for each hop', () => {
    const seen = new Set<string>();
    for (const flags of ['00', '01']) {
      for (let i = 0; i < 50; i++) {
        const child = childTraceparent(`00-${TRACE_ID}-${PARENT_ID}-${flags}`)!;
        const tc = parseTraceparent(child);
        expect(tc).not.toBeNull();
        expect(tc!.traceId).toBe(TRACE_ID);
        expect(tc!.flags).toBe(parseInt(flags, 16));
        expect(tc!.parentId).not.toBe(PARENT_ID);
        seen.add(tc!.parentId);
      }
    }
    expect(seen.size).toBe(100);
  });

  it('takes a parsed context too, and gives null for no or an invalid parent', () => {
    expect(parseTraceparent(childTraceparent({ traceId: TRACE_ID, parentId: PARENT_ID, flags: 1 }))?.traceId).toBe(TRACE_ID);
    expect(childTraceparent(null)).toBeNull();
    expect(childTraceparent('00-nope')).toBeNull();
  });
});
