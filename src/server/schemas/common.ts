/**
 * Schema pieces every route module uses: the problem document, timestamps, nullable values, path
 * parameters, and `errorResponses()` which documents a route's problem answers in the OpenAPI document.
 * The same TypeBox objects validate requests (app.ts's validator compiler) and describe responses.
 */
import { Type, type Static, type TSchema, type TUnsafe } from 'typebox';
import { QUEUE_NAME_PATTERN } from '../../core/queue-config.js';
import { PROBLEM_CONTENT_TYPE } from '../problem.js';

/**
 * Schemas shared by many routes: registered once (`app.addSchema`), referenced as `{$ref: 'Name#'}`, and
 * listed once under `components.schemas` of the OpenAPI document instead of being inlined everywhere.
 */
export const SHARED_SCHEMAS: Array<Record<string, unknown> & { $id: string }> = [];

export function shared<T extends TSchema>(id: string, schema: T): TUnsafe<Static<T>> {
  SHARED_SCHEMAS.push({ ...(schema as unknown as Record<string, unknown>), $id: id });
  return Type.Unsafe<Static<T>>({ $ref: `${id}#` });
}

export const Timestamp = Type.String({ format: 'date-time', description: 'ISO-8601 UTC' });

export const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

/** Any JSON value (payload, result, progress). */
export const AnyJson = Type.Unknown({ description: 'any JSON value' });

export const QueueName = Type.String({ pattern: QUEUE_NAME_PATTERN, description: 'queue name: [A-Za-z0-9][A-Za-z0-9._-]{0,63}' });

export const JobId = Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' });

/** The body of an action that takes no fields (pause, resume, cancel): may be left out, unknown fields are 400. */
export const EmptyBody = Type.Object({}, { additionalProperties: false, description: 'no fields; the body may be left out' });

/** Routes without query parameters still refuse unknown ones (a typo such as `?dryrun=true` must not pass silently). */
export const NoQuery = Type.Object({}, { additionalProperties: false });

export const QueueParams = Type.Object({ queue: QueueName }, { additionalProperties: false });
export const JobParams = Type.Object({ id: JobId }, { additionalProperties: false });

export const FieldErrorSchema = Type.Object({
  path: Type.String({ description: 'JSON Pointer into the request part (the body unless `location` says otherwise)' }),
  message: Type.String(),
  index: Type.Optional(Type.Integer({ minimum: 0, description: 'batch requests: the item' })),
  location: Type.Optional(Type.Union([Type.Literal('body'), Type.Literal('querystring'), Type.Literal('params'), Type.Literal('headers')])),
});

export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: 'urn:spool:problem:<name>' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    errors: Type.Optional(Type.Array(FieldErrorSchema)),
  },
  { description: 'RFC 9457 problem details' },
);
export const ProblemRef = shared('Problem', ProblemSchema);

const DESCRIPTIONS: Record<number, string> = {
  400: 'invalid request (malformed JSON, wrong types, unknown fields, out-of-range values)',
  401: 'no, unknown, revoked or wrong bearer token (WWW-Authenticate: Bearer); only when SPOOL_ADMIN_TOKEN is set',
  403: 'the token lacks the scope for this queue (or admin)',
  404: 'not found',
  409: 'conflict',
  413: 'body larger than SPOOL_MAX_BODY_BYTES (Connection: close, after the rest of the body was read and discarded)',
  414: 'a path parameter longer than 200 characters',
  415: 'a body that is not application/json',
  422: 'validation failed',
  429: "over the API key's rateLimit (Retry-After)",
  503: 'store unavailable, shutting down or admission rejected (Retry-After)',
};

/** `Retry-After` (whole seconds), as declared on every answer that may carry it. */
export const RETRY_AFTER_HEADER = { type: 'string', pattern: '^[0-9]+$', description: 'seconds to wait before retrying' };

/** `Location` of a created resource (201) or an accepted job (202). */
export const locationHeader = (description: string) => ({ location: { type: 'string', description } });

/** Statuses whose problem answers carry `Retry-After`. */
const RETRY_AFTER_STATUSES = new Set([429, 503]);

/** Problem responses for the given statuses (OpenAPI); 429 and 503 declare `Retry-After`. */
export function errorResponses(...statuses: number[]): Record<number, unknown> {
  const out: Record<number, unknown> = {};
  for (const status of statuses) {
    out[status] = {
      description: DESCRIPTIONS[status] ?? 'error',
      content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemRef } },
      ...(RETRY_AFTER_STATUSES.has(status) ? { headers: { 'retry-after': RETRY_AFTER_HEADER } } : {}),
    };
  }
  return out;
}

/** The 409 of a route that reads `Idempotency-Key`: also a key still in flight, answered with `Retry-After`. */
export function idempotencyConflict(): Record<number, unknown> {
  return {
    409: {
      description: 'conflict; `idempotency-key-in-flight`: a request with the same Idempotency-Key is still being committed (Retry-After)',
      content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemRef } },
      headers: { 'retry-after': { ...RETRY_AFTER_HEADER, description: 'seconds; on `idempotency-key-in-flight`' } },
    },
  };
}

const problemContent = { [PROBLEM_CONTENT_TYPE]: { schema: { $ref: '#/components/schemas/Problem' } } };

/**
 * Answers a request can get before it reaches an operation of the document (OpenAPI `components.responses`):
 * they belong to no operation, so they are documented once here (app.ts puts them in the document).
 */
export const ROUTING_RESPONSES = {
  NotFound: { description: 'a path outside this document (problem `not-found`)', content: problemContent },
  Unauthorized: { description: 'an unknown /v1 path without a valid token, when SPOOL_ADMIN_TOKEN is set (WWW-Authenticate: Bearer)', content: problemContent },
  MethodNotAllowed: {
    description: 'a method the path does not have (problem `method-not-allowed`)',
    headers: { allow: { required: true, schema: { type: 'string' }, description: "the path's methods, e.g. `GET, PUT`" } },
    content: problemContent,
  },
  HeaderFieldsTooLarge: { description: 'any request whose head is over 16 KiB (problem `header-fields-too-large`), answered before routing', content: problemContent },
};

/** A JSON success response (OpenAPI). */
export function jsonResponse(description: string, schema: TSchema, headers?: Record<string, unknown>): unknown {
  return { description, content: { 'application/json': { schema } }, ...(headers ? { headers } : {}) };
}

/** Standard error statuses every body-taking route can answer. */
export const BODY_ERRORS = [400, 413, 415, 503];
