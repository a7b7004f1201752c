/**
 * Driver-independent pieces both stores use: the atomic-batch failure, and the job-list cursor (an opaque
 * encoding of the last row's sequence number).
 */
import { SpoolError } from '../core/errors.js';
import type { JobInsertManyParams, JobInsertResult } from './store.js';

/** Thrown inside an atomic insert so the transaction rolls the whole batch back; carries the item index. */
export class AtomicInsertError extends Error {
  readonly index: number;
  readonly error: SpoolError;
  constructor(index: number, error: SpoolError) {
    super(error.message);
    this.index = index;
    this.error = error;
  }
}

/** The per-item answer of a rejected atomic batch: the culprit's own error, and a pointer to it for the rest. */
export function atomicFailure(params: JobInsertManyParams, error: AtomicInsertError): JobInsertResult[] {
  return params.jobs.map((_, i) =>
    i === error.index ? { ok: false, error: error.error } : { ok: false, error: new SpoolError('invalid_argument', 'batch rejected: another item failed') },
  );
}

export function encodeCursor(seq: number): string {
  return Buffer.from(`s:${seq}`).toString('base64url');
}

export function decodeCursor(cursor: string): number {
  const text = Buffer.from(cursor, 'base64url').toString();
  const m = /^s:(\d+)$/.exec(text);
  if (!m) throw new SpoolError('invalid_argument', 'invalid cursor');
  return Number(m[1]);
}
