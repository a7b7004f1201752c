/** The dead-letter queue's request and response shapes. */
import { Type } from 'typebox';
import { JobId, QueueName } from './common.js';
import { Cursor, Limit } from './jobs.js';

export const DeadListQuery = Type.Object({ limit: Type.Optional(Limit), cursor: Type.Optional(Cursor) }, { additionalProperties: false });

export const MAX_REPLAY_IDS = 1000;
export const ReplayBody = Type.Object(
  {
    ids: Type.Optional(Type.Array(JobId, { minItems: 1, maxItems: MAX_REPLAY_IDS })),
    all: Type.Optional(Type.Literal(true)),
    dryRun: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const ReplayResultSchema = Type.Object({
  replayed: Type.Integer({ minimum: 0, description: 'jobs moved back to queued (dryRun: that would be)' }),
  dryRun: Type.Boolean(),
});

export const DeadParams = Type.Object({ queue: QueueName, id: JobId }, { additionalProperties: false });
