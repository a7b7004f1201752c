/**
 * Queue configuration: the schema (TypeBox, so the same definition validates library calls, CLI input and,
 * later, HTTP bodies and the OpenAPI document), the contract's defaults, and the resolution order
 * job option > job type > queue > server default.
 */
import { Type, type Static } from 'typebox';
import type { FieldError } from './errors.js';
import { DEFAULT_BACKOFF, type BackoffPolicy, type RetryPolicy } from './retry.js';

export const QUEUE_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
const QUEUE_NAME_RE = new RegExp(QUEUE_NAME_PATTERN);

export function isValidQueueName(name: unknown): name is string {
  return typeof name === 'string' && QUEUE_NAME_RE.test(name);
}

/**
 * Queue names starting with `spool.` belong to Spool itself (the webhook deliveries' `spool.webhooks`):
 * they cannot be declared, and jobs cannot be enqueued into them, from the API, the library or the CLI.
 * Operators still see them, page their DLQs, replay and pause them.
 */
export const INTERNAL_QUEUE_PREFIX = 'spool.';

export function isInternalQueueName(name: string): boolean {
  return name.startsWith(INTERNAL_QUEUE_PREFIX);
}

/** The transitions a queue's `webhook` may notify; a job's `callbackUrl` hears `completed` and `dead`. */
export const WEBHOOK_EVENTS = ['completed', 'dead', 'cancelled'] as const;
export type WebhookEvent = (typeof WEBHOOK_EVENTS)[number];
export const DEFAULT_WEBHOOK_EVENTS: readonly WebhookEvent[] = ['completed', 'dead'];
/** How long a replaced webhook secret keeps signing alongside the new one (`webhook.secretRotationSeconds`). */
export const DEFAULT_SECRET_ROTATION_SECONDS = 86400;

const PositiveSeconds = (description: string) => Type.Number({ exclusiveMinimum: 0, maximum: 10 * 365 * 86400, description });

export const BackoffSchema = Type.Object(
  {
    initialSeconds: Type.Optional(PositiveSeconds('first retry delay ceiling')),
    maxSeconds: Type.Optional(PositiveSeconds('largest retry delay')),
    multiplier: Type.Optional(Type.Number({ minimum: 1, maximum: 100 })),
  },
  { additionalProperties: false },
);

export const QueueConfigSchema = Type.Object(
  {
    maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    backoff: Type.Optional(BackoffSchema),
    leaseSeconds: Type.Optional(Type.Number({ minimum: 1, maximum: 86400 })),
    timeoutSeconds: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 7 * 86400 })),
    concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
    rateLimit: Type.Optional(Type.Object({ perSecond: Type.Number({ exclusiveMinimum: 0 }) }, { additionalProperties: false })),
    agingSeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 365 * 86400 })),
    ordering: Type.Optional(
      Type.Object({ onDead: Type.Optional(Type.Union([Type.Literal('continue'), Type.Literal('block')])) }, { additionalProperties: false }),
    ),
    retention: Type.Optional(
      Type.Object(
        {
          completedSeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 10 * 365 * 86400 })),
          deadSeconds: Type.Optional(Type.Number({ minimum: 0, maximum: 10 * 365 * 86400 })),
        },
        { additionalProperties: false },
      ),
    ),
    admission: Type.Optional(
      Type.Object(
        {
          maxDepth: Type.Optional(Type.Integer({ minimum: 0 })),
          maxAgeSeconds: Type.Optional(Type.Number({ minimum: 0 })),
        },
        { additionalProperties: false },
      ),
    ),
    requireIdempotencyKey: Type.Optional(Type.Boolean()),
    // Service-level objectives the dashboard and alerts compare the queue against (nothing enforces them).
    slo: Type.Optional(
      Type.Object(
        {
          p95CompletionSeconds: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 30 * 86400, description: 'enqueue→finish p95 target' })),
          maxAgeSeconds: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 30 * 86400, description: 'oldest waiting job age target' })),
        },
        { additionalProperties: false },
      ),
    ),
    groups: Type.Optional(
      Type.Object(
        {
          concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000 })),
          rateLimit: Type.Optional(Type.Object({ perSecond: Type.Number({ exclusiveMinimum: 0 }) }, { additionalProperties: false })),
        },
        { additionalProperties: false },
      ),
    ),
    target: Type.Optional(
      Type.Object(
        {
          url: Type.String({ minLength: 1, maxLength: 2048 }),
          timeoutSeconds: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 3600 })),
          secret: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
        },
        { additionalProperties: false },
      ),
    ),
    webhook: Type.Optional(
      Type.Object(
        {
          url: Type.String({ minLength: 1, maxLength: 2048 }),
          secret: Type.String({ minLength: 1, maxLength: 512 }),
          // Checked by webhookEventErrors (a 422 naming the item), like the URL: the schema only bounds the shape.
          events: Type.Optional(
            Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
              maxItems: 16,
              description: `which transitions notify: ${WEBHOOK_EVENTS.join(', ')} (default ${DEFAULT_WEBHOOK_EVENTS.join(', ')})`,
            }),
          ),
          secretRotationSeconds: Type.Optional(
            Type.Number({
              minimum: 0,
              maximum: 30 * 86400,
              description: 'how long a replaced secret keeps signing alongside the new one (default 86400)',
            }),
          ),
        },
        { additionalProperties: false },
      ),
    ),
    schema: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    contracts: Type.Optional(Type.Record(Type.String(), Type.Record(Type.String(), Type.Unknown()))),
  },
  { additionalProperties: false },
);

export type QueueConfig = Static<typeof QueueConfigSchema>;

export const DEFAULTS = {
  maxAttempts: 5,
  backoff: DEFAULT_BACKOFF,
  leaseSeconds: 30,
  timeoutSeconds: 900,
  concurrency: 10,
  agingSeconds: 60,
  onDead: 'continue' as const,
  retention: { completedSeconds: 7 * 86400, deadSeconds: 30 * 86400 },
  /** Idempotency records are kept at least this long, and never shorter than the job's own retention. */
  idempotencySeconds: 24 * 3600,
};

/** Per-job or per-type overrides of the settings that resolve job > type > queue > default. */
export interface RunSettings {
  maxAttempts?: number | undefined;
  backoff?: Partial<BackoffPolicy> | undefined;
  leaseSeconds?: number | undefined;
  timeoutSeconds?: number | undefined;
}

export interface ResolvedRunSettings {
  readonly retry: RetryPolicy;
  readonly leaseSeconds: number;
  readonly timeoutSeconds: number;
}

/** Resolve run settings: the first layer that sets a value wins (job, then type, then queue, then default). */
export function resolveRunSettings(...layers: ReadonlyArray<RunSettings | QueueConfig | undefined>): ResolvedRunSettings {
  const pick = <K extends keyof RunSettings>(key: K): RunSettings[K] => {
    for (const layer of layers) {
      const v = layer?.[key];
      if (v !== undefined) return v as RunSettings[K];
    }
    return undefined;
  };
  const backoff: BackoffPolicy = {
    initialSeconds: pickBackoff(layers, 'initialSeconds') ?? DEFAULTS.backoff.initialSeconds,
    maxSeconds: pickBackoff(layers, 'maxSeconds') ?? DEFAULTS.backoff.maxSeconds,
    multiplier: pickBackoff(layers, 'multiplier') ?? DEFAULTS.backoff.multiplier,
  };
  return {
    retry: { maxAttempts: pick('maxAttempts') ?? DEFAULTS.maxAttempts, backoff },
    leaseSeconds: pick('leaseSeconds') ?? DEFAULTS.leaseSeconds,
    timeoutSeconds: pick('timeoutSeconds') ?? DEFAULTS.timeoutSeconds,
  };
}

function pickBackoff(
  layers: ReadonlyArray<RunSettings | QueueConfig | undefined>,
  key: keyof BackoffPolicy,
): number | undefined {
  for (const layer of layers) {
    const v = layer?.backoff?.[key];
    if (v !== undefined) return v;
  }
  return undefined;
}

export function agingSecondsOf(config: QueueConfig): number {
  return config.agingSeconds ?? DEFAULTS.agingSeconds;
}

export function onDeadOf(config: QueueConfig): 'continue' | 'block' {
  return config.ordering?.onDead ?? DEFAULTS.onDead;
}

export function webhookEventsOf(config: QueueConfig): readonly string[] {
  return config.webhook ? (config.webhook.events ?? DEFAULT_WEBHOOK_EVENTS) : [];
}

/** Unknown or repeated `webhook.events` entries, each with its JSON Pointer (the declaration answers 422). */
export function webhookEventErrors(config: QueueConfig): FieldError[] {
  const errors: FieldError[] = [];
  (config.webhook?.events ?? []).forEach((event, i) => {
    if (!(WEBHOOK_EVENTS as readonly string[]).includes(event)) errors.push({ path: `/webhook/events/${i}`, message: `must be one of ${WEBHOOK_EVENTS.join(', ')}` });
    else if (config.webhook!.events!.indexOf(event) !== i) errors.push({ path: `/webhook/events/${i}`, message: `repeats "${event}"` });
  });
  return errors;
}

export function retentionOf(config: QueueConfig): { completedSeconds: number; deadSeconds: number } {
  return {
    completedSeconds: config.retention?.completedSeconds ?? DEFAULTS.retention.completedSeconds,
    deadSeconds: config.retention?.deadSeconds ?? DEFAULTS.retention.deadSeconds,
  };
}
