/**
 * Queue resources: the PUT body (the library's QueueConfigSchema itself, so HTTP, CLI and library accept
 * exactly the same settings) and the queue representation with its effective settings, the declared
 * config and live stats.
 */
import { Type, type Static } from 'typebox';
import { JOB_STATES } from '../../core/states.js';
import { AnyJson, Nullable, shared, Timestamp } from './common.js';

export { QueueConfigSchema as QueueBody } from '../../core/queue-config.js';

const PerSecond = Type.Object({ perSecond: Type.Number() });

const StateCountsSchema = Type.Object(
  Object.fromEntries(JOB_STATES.map((s) => [s, Type.Integer({ minimum: 0 })])) as Record<(typeof JOB_STATES)[number], ReturnType<typeof Type.Integer>>,
);

export const QueueStatsSchema = Type.Object({
  counts: StateCountsSchema,
  waiting: Type.Integer({ minimum: 0, description: 'queued + retrying: what admission control measures' }),
  oldestAgeSeconds: Type.Number({ minimum: 0, description: 'how long the oldest due job has waited since it became runnable' }),
  totals: Type.Object({
    enqueued: Type.Integer(),
    completed: Type.Integer(),
    failed: Type.Integer({ description: 'failed attempts' }),
    dead: Type.Integer(),
    cancelled: Type.Integer(),
    replayed: Type.Integer(),
  }),
  throughput: Nullable(
    Type.Object({
      windowSeconds: Type.Number({ description: 'the period the rates are measured over' }),
      enqueuedPerSecond: Type.Number(),
      completedPerSecond: Type.Number(),
      failedPerSecond: Type.Number(),
      deadPerSecond: Type.Number(),
    }),
  ),
  failureRate: Nullable(Type.Number({ minimum: 0, maximum: 1, description: 'failed attempts / (failed attempts + completions) over the window' })),
  sampledAt: Timestamp,
});

export const QueueSchema = Type.Object({
  name: Type.String(),
  paused: Type.Boolean(),
  maxAttempts: Type.Integer(),
  backoff: Type.Object({ initialSeconds: Type.Number(), maxSeconds: Type.Number(), multiplier: Type.Number() }),
  leaseSeconds: Type.Number(),
  timeoutSeconds: Type.Number(),
  concurrency: Type.Integer(),
  rateLimit: Nullable(PerSecond),
  agingSeconds: Type.Number(),
  ordering: Type.Object({ onDead: Type.Union([Type.Literal('continue'), Type.Literal('block')]) }),
  retention: Type.Object({ completedSeconds: Type.Number(), deadSeconds: Type.Number() }),
  admission: Nullable(Type.Object({ maxDepth: Nullable(Type.Integer()), maxAgeSeconds: Nullable(Type.Number()) })),
  requireIdempotencyKey: Type.Boolean(),
  slo: Nullable(Type.Object({ p95CompletionSeconds: Nullable(Type.Number()), maxAgeSeconds: Nullable(Type.Number()) })),
  groups: Nullable(Type.Object({ concurrency: Nullable(Type.Integer()), rateLimit: Nullable(PerSecond) })),
  target: Nullable(Type.Object({ url: Type.String(), timeoutSeconds: Nullable(Type.Number()), secret: Nullable(Type.String({ description: 'redacted' })) })),
  webhook: Nullable(
    Type.Object({
      url: Type.String(),
      secret: Type.String({ description: 'redacted' }),
      events: Nullable(Type.Array(Type.String(), { description: 'as declared; null: completed and dead' })),
      secretRotationSeconds: Type.Number({ description: 'in effect: as declared, else 86400 (24 h)' }),
      disabledAt: Type.Union([Timestamp, Type.Null()], { description: 'the endpoint answered 410 Gone: deliveries end at once until the webhook is set again' }),
      disabledReason: Nullable(Type.String()),
      previousSecretUntil: Type.Union([Timestamp, Type.Null()], { description: 'a replaced secret still signs alongside the current one until then' }),
    }),
  ),
  schema: Nullable(Type.Record(Type.String(), AnyJson)),
  contracts: Nullable(Type.Record(Type.String(), Type.Record(Type.String(), AnyJson))),
  config: Type.Record(Type.String(), AnyJson, { description: 'the settings as declared (secrets redacted); the fields above resolve defaults' }),
  createdAt: Timestamp,
  updatedAt: Timestamp,
  stats: QueueStatsSchema,
});

export const QueueRef = shared('Queue', QueueSchema);

const PercentilesSchema = Type.Object({ p50: Type.Number({ minimum: 0 }), p95: Type.Number({ minimum: 0 }), p99: Type.Number({ minimum: 0 }) });
const StepCount = (description: string) => Type.Integer({ minimum: 0, description });

export const QueueSeriesQuery = Type.Object(
  {
    window: Type.Optional(Type.Integer({ minimum: 10, maximum: 7 * 86_400, default: 3600, description: 'seconds (≤ 7 days), a whole multiple of step' })),
    step: Type.Optional(Type.Integer({ minimum: 10, maximum: 7 * 86_400, default: 60, description: 'seconds (≥ 10); window / step ≤ 1000' })),
  },
  { additionalProperties: false },
);

export const QueueSeriesSchema = Type.Object({
  queue: Type.String(),
  window: Type.Integer({ description: 'seconds' }),
  step: Type.Integer({ description: 'seconds' }),
  from: Timestamp,
  to: Timestamp,
  slo: Nullable(
    Type.Object(
      { p95CompletionSeconds: Type.Optional(Type.Number()), maxAgeSeconds: Type.Optional(Type.Number()) },
      { description: "the queue's declared objectives" },
    ),
  ),
  points: Type.Array(
    Type.Object({
      at: Type.String({ format: 'date-time', description: 'the end of the step (ISO-8601 UTC)' }),
      counts: Nullable(StateCountsSchema),
      oldestAgeSeconds: Nullable(Type.Number({ minimum: 0 })),
      enqueued: StepCount('jobs enqueued during the step'),
      completed: StepCount('jobs completed during the step'),
      failed: StepCount('failed attempts during the step'),
      dead: StepCount('jobs that went to the DLQ during the step'),
      throughputPerSecond: Type.Number({ minimum: 0, description: 'completed / step' }),
      retryRate: Nullable(Type.Number({ minimum: 0, maximum: 1, description: 'failed / (completed + failed); null when both are 0' })),
      waitSeconds: Nullable(PercentilesSchema),
      e2eSeconds: Nullable(PercentilesSchema),
    }),
    { description: 'oldest first, one per step' },
  ),
});
export const QueueListSchema = Type.Object({ queues: Type.Array(QueueRef) });

export type QueueJson = Static<typeof QueueSchema>;
export type QueueStatsJson = Static<typeof QueueStatsSchema>;
export type QueueSeriesJson = Static<typeof QueueSeriesSchema>;
