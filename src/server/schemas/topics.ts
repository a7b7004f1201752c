/**
 * Topic resources: the PUT body (strict), the topic, the event's answers, the path parameter. The event body
 * of `POST /v1/topics/{topic}/events` is the single-job enqueue body (schemas/jobs.ts), its answer one receipt
 * per queue. Engine-side rules (declared queues, payload contracts) are answered 422.
 */
import { Type, type Static } from 'typebox';
import { QUEUE_NAME_PATTERN } from '../../core/queue-config.js';
import { MAX_TOPIC_QUEUES } from '../../engine/topics.js';
import { Nullable, QueueName, Timestamp } from './common.js';
import { AcceptedSchema } from './jobs.js';

export const ResourceName = (what: string) => Type.String({ pattern: QUEUE_NAME_PATTERN, description: `${what} name: [A-Za-z0-9][A-Za-z0-9._-]{0,63}` });

export const TopicParams = Type.Object({ topic: ResourceName('topic') }, { additionalProperties: false });

export const TopicBody = Type.Object(
  {
    queues: Type.Array(QueueName, {
      minItems: 1,
      maxItems: MAX_TOPIC_QUEUES,
      uniqueItems: true,
      description: 'declared queues; every event makes one job in each, all committed together or none',
    }),
  },
  { additionalProperties: false },
);
export type TopicBodyJson = Static<typeof TopicBody>;

export const TopicSchema = Type.Object({
  name: Type.String(),
  queues: Type.Array(Type.String()),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export const TopicListSchema = Type.Object({ topics: Type.Array(TopicSchema) });

export const EventAcceptedSchema = Type.Object({
  topic: Type.String(),
  jobs: Type.Array(Type.Object({ ...AcceptedSchema.properties, replayed: Type.Boolean() }), { description: 'one per queue of the topic, in its order' }),
});

export const EventDryRunSchema = Type.Object({
  dryRun: Type.Literal(true),
  valid: Type.Literal(true),
  topic: Type.String(),
  queues: Type.Array(Type.String(), { description: 'a job would be written to each' }),
  count: Type.Integer(),
  idempotencyKey: Nullable(Type.String()),
});
