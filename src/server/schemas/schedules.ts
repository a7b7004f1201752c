/**
 * Schedule resources: the PUT body (strict), the schedule with its runner state (nextRunAt, lastRunAt,
 * lastJobId, lastError), the path parameter. Engine-side rules (cron, IANA time zone, declared queue, payload
 * against the queue's contract) are answered 422 with JSON Pointers.
 */
import { Type, type Static } from 'typebox';
import { AnyJson, Nullable, QueueName, Timestamp } from './common.js';
import { PrioritySchema } from './jobs.js';
import { ResourceName } from './topics.js';

export const ScheduleParams = Type.Object({ name: ResourceName('schedule') }, { additionalProperties: false });

export const ScheduleBody = Type.Object(
  {
    cron: Type.String({
      minLength: 1,
      maxLength: 200,
      description: '5 fields (minute hour day-of-month month day-of-week), 6 with seconds first, or @hourly, @daily, @weekly, @monthly, @yearly',
    }),
    timezone: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone the expression is read in (default UTC)' })),
    queue: QueueName,
    payload: AnyJson,
    type: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    priority: Type.Optional(PrioritySchema),
  },
  { additionalProperties: false },
);
export type ScheduleBodyJson = Static<typeof ScheduleBody>;

export const ScheduleSchema = Type.Object({
  name: Type.String(),
  cron: Type.String(),
  timezone: Type.String(),
  queue: Type.String(),
  payload: AnyJson,
  type: Nullable(Type.String()),
  priority: Nullable(PrioritySchema),
  nextRunAt: Nullable(Timestamp),
  lastRunAt: Nullable(Timestamp),
  lastJobId: Nullable(Type.String()),
  lastError: Nullable(Type.String()),
  createdAt: Timestamp,
  updatedAt: Timestamp,
});
export const ScheduleListSchema = Type.Object({ schedules: Type.Array(ScheduleSchema) });
