/**
 * W3C Trace Context (`traceparent`, https://www.w3.org/TR/trace-context/): parsing, validation and the child
 * value for an outgoing hop. The one place Spool reads or writes the header: the HTTP accept path and the
 * library's `enqueue({traceparent})` keep a valid value with the job (an invalid one is dropped, as the
 * specification asks of a receiver), handlers get it as `ctx.traceparent`, and outgoing requests (push
 * targets, webhooks) send `childTraceparent(...)`: the same trace id and flags with a new parent id (span id).
 * No I/O; no dependency on OpenTelemetry (observability/otel.ts builds on this).
 */
import { randomBytes } from 'node:crypto';

export interface TraceContext {
  /** 32 lowercase hex digits, not all zero. */
  readonly traceId: string;
  /** The caller's span id: 16 lowercase hex digits, not all zero. */
  readonly parentId: string;
  /** The trace-flags byte (bit 0: sampled). */
  readonly flags: number;
}

const VERSION_00 = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
/** A later version: the same first four fields, then (optionally) `-` and fields this version does not know. */
const VERSION_LATER = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;
const ZERO_TRACE_ID = '0'.repeat(32);
const ZERO_SPAN_ID = '0'.repeat(16);
/** Longer than any header worth reading (version 00 is 55 characters). */
const MAX_LENGTH = 512;

/**
 * Parse a `traceparent` value; null when it is invalid: wrong shape, upper-case hex, version `ff`, an all-zero
 * trace id or parent id, or version 00 with trailing data. A later version is read by its first four fields
 * (forward compatibility, as the specification asks).
 */
export function parseTraceparent(value: string | null | undefined): TraceContext | null {
  if (typeof value !== 'string' || value.length > MAX_LENGTH) return null;
  const m = VERSION_00.exec(value) ?? laterVersion(value);
  if (!m) return null;
  const [, traceId, parentId, flags] = m as unknown as [string, string, string, string];
  if (traceId === ZERO_TRACE_ID || parentId === ZERO_SPAN_ID) return null;
  return { traceId, parentId, flags: parseInt(flags, 16) };
}

function laterVersion(value: string): [string, string, string, string] | null {
  const m = VERSION_LATER.exec(value);
  if (!m || m[1] === '00' || m[1] === 'ff') return null;
  return [m[0], m[2]!, m[3]!, m[4]!];
}

/** The version-00 header for a trace context. */
export function formatTraceparent(tc: TraceContext): string {
  return `00-${tc.traceId}-${tc.parentId}-${tc.flags.toString(16).padStart(2, '0')}`;
}

/**
 * A valid `traceparent` in its normal (version 00) form, or null for anything invalid: what Spool keeps with a
 * job (callers may forward an incoming header unchecked; a bad one never fails an enqueue).
 */
export function normalizeTraceparent(value: string | null | undefined): string | null {
  const tc = parseTraceparent(value);
  return tc ? formatTraceparent(tc) : null;
}

/** The trace id of a valid `traceparent`, else null. */
export function traceIdOf(traceparent: string | null | undefined): string | null {
  return parseTraceparent(traceparent)?.traceId ?? null;
}

/** A random 8-byte span id, never all zero. */
export function newSpanId(): string {
  for (;;) {
    const id = randomBytes(8).toString('hex');
    if (id !== ZERO_SPAN_ID) return id;
  }
}

/**
 * The `traceparent` to send on an outgoing request made on behalf of `parent`: same trace id and flags, a new
 * parent id for this hop. Null when `parent` is absent or invalid (then send no header).
 */
export function childTraceparent(parent: string | TraceContext | null | undefined): string | null {
  const tc = typeof parent === 'string' || parent == null ? parseTraceparent(parent) : parent;
  return tc ? formatTraceparent({ ...tc, parentId: newSpanId() }) : null;
}
