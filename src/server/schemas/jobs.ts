/**
 * Job resources: the enqueue body (single and batch items: the library's per-job EnqueueOptions, so both faces
 * take the same options), the accepted receipt, the dry-run answer, the
 * full job representation with history, the search and status query strings, and the job event stream's
 * request header and event data.
 */
import { Type, type Static } from 'typebox';
import { PRIORITIES } from '../../core/priority.js';
import { BackoffSchema } from '../../core/queue-config.js';
import { JOB_STATES } from '../../core/states.js';
import { AnyJson, Nullable, QueueName, shared, Timestamp } from './common.js';

const Key = (description: string) => Type.String({ minLength: 1, maxLength: 256, description });

export const PrioritySchema = Type.Union([Type.Literal('critical'), Type.Literal('high'), Type.Literal('normal'), Type.Literal('low')]);
export const StateSchema = Type.Union([
  Type.Literal('scheduled'),
  Type.Literal('queued'),
  Type.Literal('active'),
  Type.Literal('retrying'),
  Type.Literal('completed'),
  Type.Literal('dead'),
  Type.Literal('cancelled'),
]);
// Kept in step with core: these fail to compile if a priority or state is added there and not here.
const _priorities: ReadonlyArray<Static<typeof PrioritySchema>> = PRIORITIES;
const _states: ReadonlyArray<Static<typeof StateSchema>> = JOB_STATES;
void _priorities;
void _states;

const enqueueFields = {
  payload: AnyJson,
  type: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  version: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  priority: Type.Optional(PrioritySchema),
  runAt: Type.Optional(Type.String({ format: 'date-time', description: 'start no earlier than this (not with delaySeconds)' })),
  delaySeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 10 * 365 * 86400, description: 'start no earlier than this many seconds from now (not with runAt)' })),
  orderingKey: Type.Optional(Key('jobs with the same key run one at a time, in enqueue order')),
  groupKey: Type.Optional(Key('limits per group (queue `groups`)')),
  maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  backoff: Type.Optional(BackoffSchema),
  leaseSeconds: Type.Optional(Type.Number({ minimum: 1, maximum: 86400, description: "this job's lease (visibility timeout); default: the job type's, else the queue's" })),
  timeoutSeconds: Type.Optional(
    Type.Number({ minimum: 0, maximum: 7 * 86400, description: "longest run of one attempt of this job; default: the job type's, else the queue's" }),
  ),
  callbackUrl: Type.Optional(Type.String({ minLength: 1, maxLength: 2048, format: 'uri', description: 'notified when the job completes or dies' })),
  correlationId: Type.Optional(Key('default: the X-Correlation-Id request header')),
};

export const EnqueueBody = Type.Object(enqueueFields, { additionalProperties: false });

export const BatchItem = Type.Object(
  { ...enqueueFields, idempotencyKey: Type.Optional(Key('per item (batch requests take no Idempotency-Key header)')) },
  { additionalProperties: false },
);

export const MAX_BATCH = 1000;
export const BatchBody = Type.Object({ jobs: Type.Array(BatchItem, { minItems: 1, maxItems: MAX_BATCH }) }, { additionalProperties: false });

const CORRELATION_HEADER = Type.Optional(
  Type.String({ minLength: 1, maxLength: 256, description: "the jobs' correlationId when the body gives none (`Correlation-Id` is read too); never part of the idempotency fingerprint" }),
);
const TRACEPARENT_HEADER = Type.Optional(
  Type.String({ description: 'W3C Trace Context; kept with the job (an invalid value is ignored); never part of the idempotency fingerprint' }),
);

/** Request headers of a single enqueue and a topic event (parsed by request-headers.ts). */
export const EnqueueHeadersSchema = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      description:
        'RFC 8941 sf-string ("…", with \\" and \\\\ escapes and optional `;parameters`, which are ignored), or an unquoted key taken as it stands (1–256 visible ASCII). ' +
        'Same key and body on the same queue → the original 202 with `Idempotent-Replayed: true`; another body → 422; while the first is in flight → 409 with Retry-After. Kept at least 24 h.',
    }),
  ),
  'x-correlation-id': CORRELATION_HEADER,
  traceparent: TRACEPARENT_HEADER,
});

/** Request headers of a batch (no Idempotency-Key header: each item has its own `idempotencyKey`). */
export const BatchHeadersSchema = Type.Object({ 'x-correlation-id': CORRELATION_HEADER, traceparent: TRACEPARENT_HEADER });

export const EnqueueQuery = Type.Object({ dryRun: Type.Optional(Type.Boolean()) }, { additionalProperties: false });

export const AcceptedSchema = Type.Object({
  id: Type.String(),
  queue: Type.String(),
  state: Type.Union([Type.Literal('queued'), Type.Literal('scheduled')]),
  statusUrl: Type.String(),
  createdAt: Timestamp,
  runAt: Timestamp,
});

export const BatchAcceptedSchema = Type.Object({
  jobs: Type.Array(Type.Object({ ...AcceptedSchema.properties, replayed: Type.Boolean() })),
});

export const DryRunSchema = Type.Object({
  dryRun: Type.Literal(true),
  valid: Type.Literal(true),
  queue: Type.String(),
  count: Type.Integer({ description: 'jobs that would be written' }),
  state: Type.Union([Type.Literal('queued'), Type.Literal('scheduled')], { description: 'first job: the state it would start in' }),
  idempotencyKey: Nullable(Type.String()),
});

export const JobErrorSchema = Type.Object({
  message: Type.String(),
  name: Type.Optional(Type.String()),
  code: Type.Optional(Type.String()),
  stack: Type.Optional(Type.String()),
  retryable: Type.Optional(Type.Boolean()),
});

export const HistoryEntrySchema = Type.Object({
  state: StateSchema,
  at: Timestamp,
  attempt: Type.Integer(),
  error: Type.Optional(JobErrorSchema),
  reason: Type.Optional(Type.String()),
});

export const JobSchema = Type.Object({
  id: Type.String(),
  queue: Type.String(),
  type: Nullable(Type.String()),
  version: Type.Integer(),
  state: StateSchema,
  priority: PrioritySchema,
  orderingKey: Nullable(Type.String()),
  groupKey: Nullable(Type.String()),
  correlationId: Nullable(Type.String()),
  attempts: Type.Integer(),
  maxAttempts: Type.Integer(),
  createdAt: Timestamp,
  runAt: Timestamp,
  startedAt: Nullable(Timestamp),
  finishedAt: Nullable(Timestamp),
  progress: AnyJson,
  result: AnyJson,
  lastError: Type.Union([JobErrorSchema, Type.Null()], {
    description: "the most recent failed attempt's error; kept after a later success (a completed job may show it), null when no attempt failed. `history` lists each attempt's error",
  }),
  payload: Type.Unknown({ description: 'any JSON value; null when the payload is stored as a blob (see payloadRef)' }),
  payloadRef: Nullable(
    Type.String({ description: 'where to read a payload stored as a blob (over 256 KiB of JSON): /v1/jobs/{id}/payload; null when the payload is inline' }),
  ),
  payloadBytes: Nullable(Type.Integer({ minimum: 0, description: 'size in bytes of a payload stored as a blob; null when inline' })),
  history: Type.Array(HistoryEntrySchema),
});

export const JobRef = shared('Job', JobSchema);
export const JobPageSchema = Type.Object({ jobs: Type.Array(JobRef), nextCursor: Nullable(Type.String({ description: 'pass as `cursor` for the next page; null on the last' })) });

export const Limit = Type.Integer({ minimum: 1, maximum: 500, default: 50 });
export const Cursor = Type.String({ minLength: 1, maxLength: 200 });

export const JobSearchQuery = Type.Object(
  {
    queue: Type.Optional(QueueName),
    state: Type.Optional(StateSchema),
    type: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    correlationId: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    limit: Type.Optional(Limit),
    cursor: Type.Optional(Cursor),
  },
  { additionalProperties: false },
);

export const MAX_WAIT_SECONDS = 30;
export const JobGetQuery = Type.Object(
  { waitSeconds: Type.Optional(Type.Number({ minimum: 0, maximum: MAX_WAIT_SECONDS, description: 'hold the request until the job is terminal or this many seconds pass' })) },
  { additionalProperties: false },
);

/** `Last-Event-ID` as EventSource sends it back: the `id:` of the last event received (a history index). */
export const JobEventsHeaders = Type.Object({
  'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,9}$', description: 'resume after this event (a history index)' })),
});

/** The `data:` of one `event: state` (a history entry of the job). */
export const JobStateEventSchema = Type.Object({
  id: Type.String({ description: 'the job id' }),
  state: StateSchema,
  at: Timestamp,
  attempt: Type.Integer(),
  reason: Type.Optional(Type.String()),
  error: Type.Optional(JobErrorSchema),
});

export type EnqueueBodyJson = Static<typeof EnqueueBody>;
export type BatchItemJson = Static<typeof BatchItem>;
export type JobJson = Static<typeof JobSchema>;
export type JobStateEventJson = Static<typeof JobStateEventSchema>;
