/**
 * What the HTTP client throws. Every answer that is not a success becomes a SpoolHttpError (or one of its
 * subclasses, by status) carrying the server's RFC 9457 problem document; a request that got no answer at
 * all is a SpoolConnectionError. `code` is the problem `type`'s name in snake case — for errors the engine
 * raises that is the library's own SpoolError code (`lease_lost`, `queue_not_found`, `validation_failed`,
 * `idempotency_key_reused`, `store_unavailable`, …), so code that branches on `error.code` works the same
 * against the library and the server. Importable alone: no dependency on the rest of Spool.
 */

/** The wire format's problem `type` prefix; the server imports it (and the types below) from here. */
export const PROBLEM_TYPE_PREFIX = 'urn:spool:problem:';

/** A field error of a 400/422 problem: `path` is a JSON Pointer into the request (e.g. `/payload/email`). */
export interface ProblemFieldError {
  readonly path: string;
  readonly message: string;
  readonly index?: number;
  readonly location?: 'body' | 'querystring' | 'params' | 'headers';
}

/** The RFC 9457 document the server answers errors with. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly errors?: readonly ProblemFieldError[];
}

/** Base of everything the client throws. */
export class SpoolClientError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** No answer: the server could not be reached, the connection broke, or the request timed out (`code` `timeout`). */
export class SpoolConnectionError extends SpoolClientError {
  constructor(message: string, options: { cause?: unknown; timeout?: boolean } = {}) {
    super(options.timeout ? 'timeout' : 'connection_failed', message, options);
  }
}

/** The server answered with an error status. */
export class SpoolHttpError extends SpoolClientError {
  readonly status: number;
  /** `urn:spool:problem:<name>`. */
  readonly type: string;
  readonly title: string;
  readonly detail: string;
  readonly errors: readonly ProblemFieldError[];
  /** From `Retry-After` (seconds), when the server sent one (429, 503). */
  readonly retryAfterSeconds: number | null;
  readonly problem: Problem;
  constructor(problem: Problem, retryAfterSeconds: number | null = null) {
    super(codeOf(problem.type, problem.status), `${problem.status} ${problem.title}: ${problem.detail}`);
    this.status = problem.status;
    this.type = problem.type;
    this.title = problem.title;
    this.detail = problem.detail;
    this.errors = problem.errors ?? [];
    this.retryAfterSeconds = retryAfterSeconds;
    this.problem = problem;
  }
}

/** 400, 413, 414, 415, 431: the request itself is wrong (malformed JSON, unknown fields, out of range, too large). */
export class BadRequestError extends SpoolHttpError {}
/** 401: no token, or a wrong one. */
export class UnauthorizedError extends SpoolHttpError {}
/** 403: the token lacks the scope for this queue. */
export class ForbiddenError extends SpoolHttpError {}
/** 404: no such queue or job (`code` `queue_not_found`, `job_not_found`, or `not_found` for a route). */
export class NotFoundError extends SpoolHttpError {}
/** 409: the state does not allow it (`invalid_transition`, `idempotency_key_in_flight`, `lease_lost`). */
export class ConflictError extends SpoolHttpError {}
/** 409 `lease_lost`: the lease token is stale — the lease expired and the job moved on, or it is not yours. */
export class LeaseLostError extends ConflictError {}
/** 422: the payload or settings failed validation (`errors` has the paths), or an idempotency key was reused. */
export class UnprocessableError extends SpoolHttpError {}
/** 429: over the key's rate limit; `retryAfterSeconds` says when to try again. */
export class RateLimitedError extends SpoolHttpError {}
/** 503: store unavailable, admission rejected or shutting down; `retryAfterSeconds` says when to try again. */
export class UnavailableError extends SpoolHttpError {}

/** The error class for an answer's status and problem. */
export function errorFromProblem(problem: Problem, retryAfterSeconds: number | null = null): SpoolHttpError {
  const s = problem.status;
  if (s === 401) return new UnauthorizedError(problem, retryAfterSeconds);
  if (s === 403) return new ForbiddenError(problem, retryAfterSeconds);
  if (s === 404) return new NotFoundError(problem, retryAfterSeconds);
  if (s === 409) {
    return codeOf(problem.type, s) === 'lease_lost' ? new LeaseLostError(problem, retryAfterSeconds) : new ConflictError(problem, retryAfterSeconds);
  }
  if (s === 422) return new UnprocessableError(problem, retryAfterSeconds);
  if (s === 429) return new RateLimitedError(problem, retryAfterSeconds);
  if (s === 503) return new UnavailableError(problem, retryAfterSeconds);
  if (s >= 400 && s < 500) return new BadRequestError(problem, retryAfterSeconds);
  return new SpoolHttpError(problem, retryAfterSeconds);
}

/** Read an error answer into a Problem, also when the body is not problem+json (a proxy's HTML page). */
export function problemOf(status: number, statusText: string, body: string): Problem {
  try {
    const parsed = JSON.parse(body) as Partial<Problem> | null;
    if (parsed && typeof parsed === 'object' && typeof parsed.type === 'string' && typeof parsed.detail === 'string') {
      return {
        type: parsed.type,
        title: typeof parsed.title === 'string' ? parsed.title : statusText,
        status,
        detail: parsed.detail,
        ...(Array.isArray(parsed.errors) ? { errors: parsed.errors } : {}),
      };
    }
  } catch {
    // not JSON: described below
  }
  const text = body.trim().slice(0, 200);
  return { type: 'about:blank', title: statusText || `HTTP ${status}`, status, detail: text || `HTTP ${status} ${statusText}`.trim() };
}

function codeOf(type: string, status: number): string {
  if (type.startsWith(PROBLEM_TYPE_PREFIX)) return type.slice(PROBLEM_TYPE_PREFIX.length).replace(/-/g, '_');
  return `http_${status}`;
}
