/**
 * The request headers the enqueue routes read (jobs.ts, topics.ts): `Idempotency-Key`, `X-Correlation-Id`
 * (or `Correlation-Id`) and W3C `traceparent`. Malformed ones are a 400 problem naming the header; an invalid
 * traceparent is ignored, as W3C Trace Context asks. Transport metadata only: none of it is part of the
 * idempotency fingerprint (accept.ts).
 *
 * `Idempotency-Key` (IETF draft-ietf-httpapi-idempotency-key-header: an RFC 8941 sf-string item):
 *   - a value that starts with `"` is parsed as an RFC 8941 sf-string item: the quoted string (printable
 *     ASCII, `\"` and `\\` the only escapes) followed by optional parameters (`;key` or `;key=bare-item`),
 *     which are parsed and ignored. Anything else — an unterminated string, a bad escape, text after the
 *     string that is not a parameter — is 400. The key is the unescaped string, 1–256 characters.
 *   - an unquoted value is the key as it stands (1–256 visible ASCII characters, the plain keys Stripe-style
 *     clients send): `abc;v=1` is the key `abc;v=1`, so plain keys that worked before keep their replays.
 */
import type { FastifyRequest } from 'fastify';
import { normalizeTraceparent } from '../observability/trace-context.js';
import { FieldProblem } from './problem.js';

export const MAX_KEY_LENGTH = 256;
const PLAIN_KEY = /^[\x21-\x7e]{1,256}$/;

export interface EnqueueHeaders {
  readonly idempotencyKey: string | null;
  readonly correlationId: string | null;
  readonly traceparent: string | null;
}

function keyProblem(detail: string): FieldProblem {
  return new FieldProblem(400, `Idempotency-Key ${detail}`, [{ path: '/Idempotency-Key', message: detail, location: 'headers' }]);
}

/** The key an `Idempotency-Key` header value names (see the module comment), or a 400 FieldProblem. */
export function parseIdempotencyKey(raw: string): string {
  const value = raw.trim();
  if (!value.startsWith('"')) {
    if (!PLAIN_KEY.test(value)) throw keyProblem('must be 1–256 visible ASCII characters, or an RFC 8941 string ("…")');
    return value;
  }
  let key = '';
  let i = 1;
  for (;;) {
    if (i >= value.length) throw keyProblem('is an unterminated RFC 8941 string: the closing quote is missing');
    const c = value[i]!;
    if (c === '\\') {
      const next = value[i + 1];
      if (next !== '"' && next !== '\\') throw keyProblem('has a bad escape in its RFC 8941 string: only \\" and \\\\ are allowed');
      key += next;
      i += 2;
      continue;
    }
    if (c === '"') break;
    const code = c.charCodeAt(0);
    if (code < 0x20 || code > 0x7e) throw keyProblem('may hold printable ASCII only');
    key += c;
    i++;
  }
  parseParameters(value, i + 1);
  if (key.length === 0 || key.length > MAX_KEY_LENGTH) throw keyProblem(`must be 1–${MAX_KEY_LENGTH} characters`);
  return key;
}

/** RFC 8941 §4.2.3.2: `*( ";" *SP key [ "=" bare-item ] )` to the end of the value; the parameters are ignored. */
function parseParameters(text: string, from: number): void {
  let i = from;
  while (i < text.length) {
    if (text[i] !== ';') throw keyProblem(`has unexpected text after its RFC 8941 string: ${JSON.stringify(text.slice(i, i + 20))}`);
    i++;
    while (text[i] === ' ') i++;
    const key = /^[a-z*][a-z0-9_.*-]*/.exec(text.slice(i));
    if (!key) throw keyProblem('has a malformed parameter: a key is lowercase letters, digits, _ - . *');
    i += key[0].length;
    if (text[i] !== '=') continue;
    i++;
    const rest = text.slice(i);
    const bare =
      /^-?[0-9]{1,15}(\.[0-9]{1,3})?/.exec(rest) ?? // integer or decimal
      /^"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*"/.exec(rest) ?? // string
      /^[A-Za-z*][\x21\x23-\x27\x2a\x2b\x2d-\x3a\x41-\x5a\x5e-\x7a\x7c\x7e]*/.exec(rest) ?? // token
      /^:[A-Za-z0-9+/=]*:/.exec(rest) ?? // byte sequence
      /^\?[01]/.exec(rest); // boolean
    if (!bare) throw keyProblem('has a malformed parameter value');
    i += bare[0].length;
  }
}

/** The enqueue headers of a request (Idempotency-Key parsed, X-Correlation-Id checked, traceparent normalised). */
export function enqueueHeaders(req: FastifyRequest): EnqueueHeaders {
  const header = (name: string): string | null => {
    const v = req.headers[name];
    return typeof v === 'string' ? v : Array.isArray(v) ? (v[0] ?? null) : null;
  };
  const rawKey = header('idempotency-key');
  const correlationId = header('x-correlation-id') ?? header('correlation-id');
  if (correlationId !== null && (correlationId.length === 0 || correlationId.length > 256)) {
    throw new FieldProblem(400, 'X-Correlation-Id must be 1–256 characters', [{ path: '/X-Correlation-Id', message: 'must be 1–256 characters', location: 'headers' }]);
  }
  return {
    idempotencyKey: rawKey === null ? null : parseIdempotencyKey(rawKey),
    correlationId,
    traceparent: normalizeTraceparent(header('traceparent')),
  };
}
