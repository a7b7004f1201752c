/**
 * Every error the HTTP API answers is an RFC 9457 `application/problem+json` document, built here and
 * nowhere else: `toProblem()` maps a SpoolError code, an HTTP-only condition (HttpProblem) or one of
 * Fastify's own errors (404, 405, 413, 415, malformed JSON, schema validation) to `{type, title, status,
 * detail, errors?}`. Routes throw; the app's error handler calls `toProblem()` and `sendProblem()`.
 *
 * `type` is `urn:spool:problem:<name>` (stable; the name is the error code in kebab case), see docs/http.md.
 */
import type { FastifyReply } from 'fastify';
import { isSpoolError, ValidationError, type ErrorCode, type SpoolError } from '../core/errors.js';
import { escapePointer } from '../core/validation.js';
import { PROBLEM_TYPE_PREFIX, type Problem as WireProblem, type ProblemFieldError } from '../client/errors.js';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
export { PROBLEM_TYPE_PREFIX, type ProblemFieldError };

/** The wire document (src/client/errors.ts owns it, so the client stays importable alone) plus server-side extras. */
export interface Problem extends WireProblem {
  /** Seconds, sent as the `Retry-After` header (not part of the body). */
  readonly retryAfterSeconds?: number;
}

interface ProblemKind {
  readonly status: number;
  readonly title: string;
  readonly retryAfterSeconds?: number;
}

/** The one table: SpoolError code → HTTP status. */
const BY_CODE: Record<ErrorCode, ProblemKind> = {
  invalid_argument: { status: 400, title: 'Invalid request' },
  validation_failed: { status: 422, title: 'Validation failed' },
  queue_not_found: { status: 404, title: 'Queue not found' },
  job_not_found: { status: 404, title: 'Job not found' },
  job_type_not_found: { status: 422, title: 'Job type not found' },
  topic_not_found: { status: 404, title: 'Topic not found' },
  schedule_not_found: { status: 404, title: 'Schedule not found' },
  invalid_transition: { status: 409, title: 'Invalid state transition' },
  lease_lost: { status: 409, title: 'Lease lost' },
  idempotency_key_reused: { status: 422, title: 'Idempotency key reused' },
  idempotency_key_in_flight: { status: 409, title: 'Idempotency key in flight', retryAfterSeconds: 1 },
  idempotency_key_required: { status: 400, title: 'Idempotency key required' },
  store_unavailable: { status: 503, title: 'Store unavailable', retryAfterSeconds: 2 },
  store_closed: { status: 503, title: 'Store closed', retryAfterSeconds: 2 },
  unsupported_store: { status: 500, title: 'Unsupported store' },
  migration_failed: { status: 503, title: 'Store not migrated', retryAfterSeconds: 5 },
  timeout: { status: 504, title: 'Timed out' },
  shutting_down: { status: 503, title: 'Shutting down', retryAfterSeconds: 1 },
  result_too_large: { status: 413, title: 'Result too large' },
};

/** Conditions that exist only over HTTP (no SpoolError code): their own problem names. */
export type HttpProblemName =
  | 'not-found'
  | 'method-not-allowed'
  | 'unsupported-media-type'
  | 'malformed-json'
  | 'payload-too-large'
  | 'invalid-request'
  | 'uri-too-long'
  | 'header-fields-too-large'
  | 'admission-rejected'
  | 'unauthorized'
  | 'forbidden'
  | 'rate-limited'
  | 'internal-error';

const HTTP_KINDS: Record<HttpProblemName, ProblemKind> = {
  'not-found': { status: 404, title: 'Not found' },
  'method-not-allowed': { status: 405, title: 'Method not allowed' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type' },
  'malformed-json': { status: 400, title: 'Malformed JSON' },
  'payload-too-large': { status: 413, title: 'Payload too large' },
  'invalid-request': { status: 400, title: 'Invalid request' },
  'uri-too-long': { status: 414, title: 'URI too long' },
  'header-fields-too-large': { status: 431, title: 'Request header fields too large' },
  'admission-rejected': { status: 503, title: 'Admission rejected', retryAfterSeconds: 5 },
  unauthorized: { status: 401, title: 'Unauthorized' },
  forbidden: { status: 403, title: 'Forbidden' },
  'rate-limited': { status: 429, title: 'Too many requests', retryAfterSeconds: 1 },
  'internal-error': { status: 500, title: 'Internal server error' },
};

/** An HTTP-only problem, thrown by routes and hooks. */
export class HttpProblem extends Error {
  readonly problem: Problem;
  readonly headers: Readonly<Record<string, string>>;
  constructor(
    name: HttpProblemName,
    detail: string,
    extra: { errors?: readonly ProblemFieldError[]; retryAfterSeconds?: number; headers?: Record<string, string> } = {},
  ) {
    super(detail);
    const kind = HTTP_KINDS[name];
    const retryAfterSeconds = extra.retryAfterSeconds ?? kind.retryAfterSeconds;
    this.problem = {
      type: PROBLEM_TYPE_PREFIX + name,
      title: kind.title,
      status: kind.status,
      detail,
      ...(extra.errors ? { errors: extra.errors } : {}),
      ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
    };
    this.headers = extra.headers ?? {};
  }
}

/** A validation failure with several field errors (batch items carry `index`). */
export class FieldProblem extends Error {
  readonly status: 400 | 422;
  readonly errors: readonly ProblemFieldError[];
  constructor(status: 400 | 422, detail: string, errors: readonly ProblemFieldError[]) {
    super(detail);
    this.status = status;
    this.errors = errors;
  }
}

/** A SpoolError answered with field errors the error itself does not carry (e.g. which batch item). */
export class SpoolProblem extends Error {
  readonly error: SpoolError;
  readonly errors: readonly ProblemFieldError[];
  constructor(error: SpoolError, errors: readonly ProblemFieldError[]) {
    super(error.message);
    this.error = error;
    this.errors = errors;
  }
}

export function problemTypeOf(code: ErrorCode): string {
  return PROBLEM_TYPE_PREFIX + code.replace(/_/g, '-');
}

/** Shape of Fastify's own errors, as far as the mapping needs it. */
interface FastifyLikeError {
  code?: unknown;
  statusCode?: unknown;
  message?: unknown;
  validation?: ReadonlyArray<{ instancePath?: string; message?: string; keyword?: string; params?: Record<string, unknown> }>;
  validationContext?: string;
}

const FASTIFY_CODES: Record<string, HttpProblemName> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported-media-type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid-request',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload-too-large',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'malformed-json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'malformed-json',
  FST_ERR_CTP_EMPTY_TYPE: 'unsupported-media-type',
  FST_ERR_CTP_INVALID_TYPE: 'unsupported-media-type',
  FST_ERR_BAD_URL: 'invalid-request',
  FST_ERR_MAX_PARAM_LENGTH: 'uri-too-long',
  FST_ERR_ASYNC_CONSTRAINT: 'invalid-request',
};

/** Map anything thrown while answering a request to a problem. Unknown errors are 500 without internals. */
export function toProblem(error: unknown): Problem & { headers?: Readonly<Record<string, string>> } {
  if (error instanceof HttpProblem) return { ...error.problem, headers: error.headers };
  if (error instanceof FieldProblem) {
    return {
      type: PROBLEM_TYPE_PREFIX + (error.status === 422 ? 'validation-failed' : 'invalid-request'),
      title: error.status === 422 ? 'Validation failed' : 'Invalid request',
      status: error.status,
      detail: error.message,
      errors: error.errors,
    };
  }
  if (error instanceof SpoolProblem) return { ...toProblem(error.error), errors: error.errors };
  if (isSpoolError(error)) {
    const kind = BY_CODE[error.code] ?? { status: 500, title: 'Internal server error' };
    return {
      type: problemTypeOf(error.code),
      title: kind.title,
      status: kind.status,
      detail: error.message,
      ...(error instanceof ValidationError ? { errors: error.errors.map((e) => ({ path: e.path, message: e.message, ...batchIndex(e.path) })) } : {}),
      ...(kind.retryAfterSeconds !== undefined ? { retryAfterSeconds: kind.retryAfterSeconds } : {}),
    };
  }
  const e = (error ?? {}) as FastifyLikeError;
  if (Array.isArray(e.validation)) {
    const location = (e.validationContext ?? 'body') as ProblemFieldError['location'] & string;
    const errors = e.validation.map((v) => ajvToFieldError(v, location));
    const first = errors[0];
    return {
      type: PROBLEM_TYPE_PREFIX + 'invalid-request',
      title: 'Invalid request',
      status: 400,
      detail: first ? `${location === 'body' ? 'body' : location}${first.path ? ` ${first.path}` : ''} ${first.message}` : 'invalid request',
      errors,
    };
  }
  const code = typeof e.code === 'string' ? e.code : '';
  const name = FASTIFY_CODES[code];
  if (name) return new HttpProblem(name, fastifyDetail(name, e)).problem;
  if (error instanceof SyntaxError) return new HttpProblem('malformed-json', `body is not valid JSON: ${error.message}`).problem;
  const status = typeof e.statusCode === 'number' ? e.statusCode : 500;
  if (status >= 400 && status < 500) {
    return { type: PROBLEM_TYPE_PREFIX + 'invalid-request', title: 'Invalid request', status, detail: String(e.message ?? 'invalid request') };
  }
  return new HttpProblem('internal-error', 'the server failed to answer this request; see its log').problem;
}

function fastifyDetail(name: HttpProblemName, e: FastifyLikeError): string {
  switch (name) {
    case 'unsupported-media-type':
      return 'request bodies must be application/json';
    case 'payload-too-large':
      return 'request body is larger than the server accepts (SPOOL_MAX_BODY_BYTES)';
    case 'malformed-json':
      return `body is not valid JSON${typeof e.message === 'string' ? `: ${e.message}` : ''}`;
    default:
      return typeof e.message === 'string' ? e.message : 'invalid request';
  }
}

function ajvToFieldError(
  v: { instancePath?: string; message?: string; keyword?: string; params?: Record<string, unknown> },
  location: ProblemFieldError['location'] & string,
): ProblemFieldError {
  let path = v.instancePath ?? '';
  let message = v.message ?? 'is invalid';
  if (v.keyword === 'required' && typeof v.params?.['missingProperty'] === 'string') {
    path += `/${escapePointer(v.params['missingProperty'])}`;
    message = 'is required';
  } else if (v.keyword === 'additionalProperties' && typeof v.params?.['additionalProperty'] === 'string') {
    path += `/${escapePointer(v.params['additionalProperty'])}`;
    message = 'is not allowed';
  }
  return { path, message, ...(location === 'body' ? batchIndex(path) : { location }) };
}

/** `{index}` for a pointer into a batch body (`/jobs/3/...`), else nothing. */
export function batchIndex(path: string): { index?: number } {
  const m = /^\/jobs\/(\d+)(?:\/|$)/.exec(path);
  return m ? { index: Number(m[1]) } : {};
}

/** 5xx answers that are deliberate refusals, not server failures: logged at `info` like 4xx (app.ts). */
const REFUSALS = new Set([`${PROBLEM_TYPE_PREFIX}admission-rejected`, `${PROBLEM_TYPE_PREFIX}shutting-down`]);
const refused = new WeakSet<FastifyReply>();

/** Was this reply a deliberate refusal (admission control, shutdown) rather than a failure? */
export function isRefusal(reply: FastifyReply): boolean {
  return refused.has(reply);
}

/** Send a problem: the status, `application/problem+json`, `Retry-After` when it has one. */
export function sendProblem(reply: FastifyReply, problem: Problem & { headers?: Readonly<Record<string, string>> }): FastifyReply {
  const { retryAfterSeconds, headers, ...body } = problem;
  if (REFUSALS.has(body.type)) refused.add(reply);
  if (retryAfterSeconds !== undefined) reply.header('retry-after', String(retryAfterSeconds));
  for (const [k, v] of Object.entries(headers ?? {})) reply.header(k, v);
  return reply.code(body.status).type(PROBLEM_CONTENT_TYPE).serializer(JSON.stringify).send(body);
}
