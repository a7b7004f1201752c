/**
 * The one rule for job results, on every path that stores one: at most MAX_RESULT_BYTES of UTF-8 JSON. An ack
 * (HTTP single or the library's `spool.leases.ack`) and an in-process handler's return value over it are refused
 * with ResultTooLargeError; a push target's answer over it is not kept (the job completes with `result: null`,
 * push/push-delivery.ts), since the body of a 2xx is not a result the target declared. Results live in the job
 * row and ride along in webhooks (core/webhooks.ts caps what is notified at the same size).
 */
import { ResultTooLargeError } from './errors.js';

export const MAX_RESULT_BYTES = 64 * 1024;

/** A result as stored (JSON text, null for none), or ResultTooLargeError when it is over the limit. */
export function resultJsonOf(result: unknown): string | null {
  if (result === undefined) return null;
  const json = JSON.stringify(result);
  if (json === undefined) return null; // a function or symbol: nothing to keep, as before
  const bytes = Buffer.byteLength(json, 'utf8');
  if (bytes > MAX_RESULT_BYTES) throw new ResultTooLargeError(bytes, MAX_RESULT_BYTES);
  return json;
}
