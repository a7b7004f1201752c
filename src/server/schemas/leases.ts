/**
 * Remote workers' request and response shapes (the pull API): the lease request with its long poll, the
 * leased job, and the fenced ack / nack / extend / progress / release bodies. Strict like every body: no
 * coercion, no unknown fields, `max` 1–100, `waitSeconds` ≤ 30.
 */
import { Type, type Static } from 'typebox';
import { MAX_LEASE_BATCH, MAX_LEASE_SECONDS, MAX_WAIT_SECONDS } from '../../engine/remote-leases.js';
import { AnyJson, Nullable, Timestamp } from './common.js';
import { PrioritySchema } from './jobs.js';

const LeaseToken = Type.String({ minLength: 1, maxLength: 128, description: 'the token the lease was granted with' });
const LeaseSeconds = (description: string) => Type.Number({ minimum: 1, maximum: MAX_LEASE_SECONDS, description });

export const LeaseBody = Type.Object(
  {
    max: Type.Integer({ minimum: 1, maximum: MAX_LEASE_BATCH, description: 'lease at most this many jobs' }),
    leaseSeconds: Type.Optional(LeaseSeconds("lease length for jobs without their own (default: the queue's leaseSeconds)")),
    waitSeconds: Type.Optional(
      Type.Number({ minimum: 0, maximum: MAX_WAIT_SECONDS, description: 'long poll: wait up to this long for claimable jobs (default 0)' }),
    ),
  },
  { additionalProperties: false },
);

export const LeasedJobSchema = Type.Object({
  id: Type.String(),
  queue: Type.String(),
  type: Nullable(Type.String()),
  version: Type.Integer(),
  payload: AnyJson,
  attempt: Type.Integer({ minimum: 1, description: '1-based number of this attempt' }),
  maxAttempts: Type.Integer(),
  priority: PrioritySchema,
  orderingKey: Nullable(Type.String()),
  groupKey: Nullable(Type.String()),
  correlationId: Nullable(Type.String()),
  createdAt: Timestamp,
  runAt: Timestamp,
  leaseToken: Type.String(),
  leaseExpiresAt: Timestamp,
  traceparent: Nullable(Type.String({ description: 'W3C traceparent kept with the job (from the enqueue request); send a child of it on outgoing calls' })),
  leaseSeconds: Type.Number({ description: 'the lease granted; extend by about this much before half of it is gone' }),
  timeoutSeconds: Type.Number({ description: 'longest run of this attempt; stop the handler after it' }),
});

export const LeaseResultSchema = Type.Object({ jobs: Type.Array(LeasedJobSchema) });

export const AckBody = Type.Object(
  {
    leaseToken: LeaseToken,
    result: Type.Optional(Type.Unknown({ description: "the handler's result (any JSON value), at most 64 KiB as JSON (UTF-8): larger → 413 `result-too-large`, the lease kept" })),
  },
  { additionalProperties: false },
);

export const NackErrorSchema = Type.Object(
  {
    message: Type.String({ maxLength: 100_000 }),
    retryable: Type.Optional(Type.Boolean({ description: 'false: to the dead-letter queue at once' })),
    name: Type.Optional(Type.String({ maxLength: 1000 })),
    code: Type.Optional(Type.String({ maxLength: 1000 })),
    stack: Type.Optional(Type.String({ maxLength: 100_000 })),
  },
  { additionalProperties: false },
);

export const NackBody = Type.Object(
  {
    leaseToken: LeaseToken,
    error: NackErrorSchema,
    retryAfterSeconds: Type.Optional(
      Type.Number({ minimum: 0, maximum: 10 * 365 * 86400, description: 'delay before the next attempt instead of the backoff (attempts still count)' }),
    ),
  },
  { additionalProperties: false },
);

export const ExtendBody = Type.Object(
  { leaseToken: LeaseToken, leaseSeconds: LeaseSeconds('the new lease length, from now (store clock)') },
  { additionalProperties: false },
);

export const ProgressBody = Type.Object({ leaseToken: LeaseToken, progress: Type.Unknown({ description: 'any JSON value' }) }, { additionalProperties: false });

export const ReleaseBody = Type.Object({ leaseToken: LeaseToken }, { additionalProperties: false });

export const AckResultSchema = Type.Object({ id: Type.String(), state: Type.Literal('completed') });
export const NackResultSchema = Type.Object({
  id: Type.String(),
  state: Type.Union([Type.Literal('retrying'), Type.Literal('dead')]),
  runAt: Nullable(Type.String({ format: 'date-time', description: 'when the next attempt may start (null when dead)' })),
});
export const ExtendResultSchema = Type.Object({ id: Type.String(), leaseExpiresAt: Timestamp });
export const ProgressResultSchema = Type.Object({ id: Type.String(), progress: AnyJson });
export const ReleaseResultSchema = Type.Object({ id: Type.String(), state: Type.Literal('queued') });

export type LeaseBodyJson = Static<typeof LeaseBody>;
export type LeasedJobJson = Static<typeof LeasedJobSchema>;
export type NackBodyJson = Static<typeof NackBody>;
