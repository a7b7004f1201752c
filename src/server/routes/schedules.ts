/**
 * Schedules (recurring jobs): `PUT /v1/schedules/{name}` (admin; 201/200), `GET /v1/schedules` and
 * `GET /v1/schedules/{name}` (with nextRunAt, lastRunAt, lastJobId, lastError; a caller sees the schedules of
 * the queues it may read, another one is 404), `DELETE /v1/schedules/{name}` (admin; 204). The engine
 * (engine/schedules.ts) checks cron, time zone, queue and payload (422 with JSON Pointers); the maintenance
 * leader's schedule runner enqueues each due time once across nodes.
 */
import type { FastifyInstance } from 'fastify';
import type { Static } from 'typebox';
import { ScheduleNotFoundError } from '../../core/errors.js';
import type { Schedule } from '../../engine/schedules.js';
import type { ServerContext } from '../context.js';
import { audit } from '../auth/audit.js';
import { principalOf } from '../auth/plugin.js';
import { access } from '../route-config.js';
import { BODY_ERRORS, errorResponses, jsonResponse, locationHeader, NoQuery } from '../schemas/common.js';
import { ScheduleBody, ScheduleListSchema, ScheduleParams, ScheduleSchema, type ScheduleBodyJson } from '../schemas/schedules.js';

type Params = Static<typeof ScheduleParams>;

const AUTH_ERRORS = [401, 403, 429];

export function scheduleJson(s: Schedule): Static<typeof ScheduleSchema> {
  const iso = (d: Date | null) => (d ? d.toISOString() : null);
  return {
    name: s.name,
    cron: s.cron,
    timezone: s.timezone,
    queue: s.queue,
    payload: s.payload === undefined ? null : s.payload,
    type: s.type,
    priority: s.priority,
    nextRunAt: iso(s.nextRunAt),
    lastRunAt: iso(s.lastRunAt),
    lastJobId: s.lastJobId,
    lastError: s.lastError,
    createdAt: s.createdAt.toISOString(),
    updatedAt: s.updatedAt.toISOString(),
  };
}

export function scheduleRoutes(app: FastifyInstance, { spool }: ServerContext): void {
  app.put<{ Params: Params; Body: ScheduleBodyJson }>(
    '/v1/schedules/:name',
    {
      config: access.admin,
      schema: {
        tags: ['schedules'],
        operationId: 'putSchedule',
        querystring: NoQuery,
        summary: 'Create or update a schedule (a cron expression in a time zone that enqueues one job per due time)',
        description:
          'Changing `cron` or `timezone` computes the next due time from now; changing only the job (queue, payload, type, priority) keeps the pending one. ' +
          'A bad cron expression or time zone, an undeclared queue or a payload the queue refuses → 422 with JSON Pointers.',
        params: ScheduleParams,
        body: ScheduleBody,
        response: {
          200: jsonResponse('updated', ScheduleSchema),
          201: jsonResponse('created', ScheduleSchema, locationHeader('/v1/schedules/{name}')),
          ...errorResponses(...BODY_ERRORS, 422, ...AUTH_ERRORS),
        },
      },
    },
    async (req, reply) => {
      const schedule = await spool.putSchedule(req.params.name, req.body);
      await audit(req, 'schedule.put', schedule.name, { created: schedule.created, cron: schedule.cron, timezone: schedule.timezone, queue: schedule.queue });
      if (schedule.created) reply.header('location', `/v1/schedules/${encodeURIComponent(schedule.name)}`);
      return reply.code(schedule.created ? 201 : 200).send(scheduleJson(schedule));
    },
  );

  app.get(
    '/v1/schedules',
    {
      config: access.readQueues,
      schema: {
        tags: ['schedules'],
        operationId: 'listSchedules',
        querystring: NoQuery,
        summary: 'List schedules (those of the queues the caller may read) with their next and last runs',
        response: { 200: jsonResponse('the schedules', ScheduleListSchema), ...errorResponses(...AUTH_ERRORS, 503) },
      },
    },
    async (req) => {
      const who = principalOf(req);
      const all = await spool.listSchedules();
      return { schedules: all.filter((s) => who.allows('read', s.queue)).map(scheduleJson) };
    },
  );

  app.get<{ Params: Params }>(
    '/v1/schedules/:name',
    {
      config: access.readQueues,
      schema: {
        tags: ['schedules'],
        operationId: 'getSchedule',
        querystring: NoQuery,
        summary: 'A schedule with its next and last runs',
        params: ScheduleParams,
        response: { 200: jsonResponse('the schedule', ScheduleSchema), ...errorResponses(400, 404, ...AUTH_ERRORS, 503) },
      },
    },
    async (req) => {
      const schedule = await spool.getSchedule(req.params.name);
      // Another queue's schedule is answered like a missing one, as jobs are.
      if (!principalOf(req).allows('read', schedule.queue)) throw new ScheduleNotFoundError(req.params.name);
      return scheduleJson(schedule);
    },
  );

  app.delete<{ Params: Params }>(
    '/v1/schedules/:name',
    {
      config: access.admin,
      schema: {
        tags: ['schedules'],
        operationId: 'deleteSchedule',
        querystring: NoQuery,
        summary: 'Delete a schedule (jobs it already enqueued stay)',
        params: ScheduleParams,
        response: { 204: { description: 'deleted', type: 'null' }, ...errorResponses(400, 404, ...AUTH_ERRORS, 503) },
      },
    },
    async (req, reply) => {
      if (!(await spool.deleteSchedule(req.params.name))) throw new ScheduleNotFoundError(req.params.name);
      await audit(req, 'schedule.delete', req.params.name);
      return reply.code(204).send();
    },
  );
}
