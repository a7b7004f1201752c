/**
 * Queues: `PUT /v1/queues/{queue}` (create or update, idempotent: 201 / 200), `GET /v1/queues`,
 * `GET /v1/queues/{queue}` (settings and live stats), `GET /v1/queues/{queue}/stats` (time series for charts,
 * engine/queue-series.ts), `POST …/pause` and `…/resume`.
 */
import type { FastifyInstance } from 'fastify';
import type { Static } from 'typebox';
import { ValidationError, type FieldError } from '../../core/errors.js';
import type { QueueConfig } from '../../core/queue-config.js';
import { compileSchema, escapePointer } from '../../core/validation.js';
import type { ServerContext } from '../context.js';
import { audit } from '../auth/audit.js';
import { access } from '../route-config.js';
import { absentBodyIsEmpty, OPTIONAL_BODY } from '../json-body.js';
import {
  EmptyBody,
  errorResponses,
  locationHeader,
  jsonResponse,
  NoQuery,
  QueueBody,
  QueueListSchema,
  QueueParams,
  QueueRef,
  QueueSeriesQuery,
  QueueSeriesSchema,
} from '../schemas/index.js';
import { queueJson, queueSeriesJson } from '../views.js';

type Params = Static<typeof QueueParams>;

export function queueRoutes(app: FastifyInstance, { spool, monitor }: ServerContext): void {
  const answer = async (name: string) => {
    const info = await monitor.get(name, { fresh: true });
    return queueJson(info, monitor.rates(name));
  };

  app.put<{ Params: Params; Body: QueueConfig }>(
    '/v1/queues/:queue',
    {
      config: access.adminQueue,
      // An empty PUT declares a queue with every default.
      preValidation: absentBodyIsEmpty,
      schema: {
        ...OPTIONAL_BODY,
        operationId: 'putQueue',
        summary: 'Create or update a queue (idempotent)',
        params: QueueParams,
        querystring: NoQuery,
        body: QueueBody,
        response: {
          200: jsonResponse('updated', QueueRef),
          201: jsonResponse('created', QueueRef, locationHeader('/v1/queues/{queue}')),
          ...errorResponses(400, 413, 415, 422, 503),
        },
      },
    },
    async (req, reply) => {
      const name = req.params.queue;
      checkSchemas(req.body);
      const declared = await spool.declareQueue(name, req.body);
      monitor.invalidate(name);
      await audit(req, 'queue.put', name, { created: declared.created, config: req.body });
      const body = await answer(name);
      if (declared.created) reply.header('location', `/v1/queues/${encodeURIComponent(name)}`);
      return reply.code(declared.created ? 201 : 200).send(body);
    },
  );

  app.get(
    '/v1/queues',
    {
      config: access.readQueues,
      schema: {
        operationId: 'listQueues',
        summary: 'List queues with their stats',
        querystring: NoQuery,
        response: { 200: jsonResponse('the queues', QueueListSchema), ...errorResponses(400, 503) },
      },
    },
    async (req) => {
      // `queueFilter`: a key sees only the queues it may read (auth/plugin.ts).
      const all = (await monitor.list()).filter((info) => req.auth.allows('read', info.name));
      return { queues: all.map((info) => queueJson(info, monitor.rates(info.name))) };
    },
  );

  app.get<{ Params: Params }>(
    '/v1/queues/:queue',
    {
      config: access.readQueue,
      schema: {
        operationId: 'getQueue',
        summary: 'A queue: settings and live stats',
        params: QueueParams,
        querystring: NoQuery,
        response: { 200: jsonResponse('the queue', QueueRef), ...errorResponses(400, 404, 503) },
      },
    },
    async (req) => answer(req.params.queue),
  );

  app.get<{ Params: Params; Querystring: Static<typeof QueueSeriesQuery> }>(
    '/v1/queues/:queue/stats',
    {
      config: access.readQueue,
      schema: {
        operationId: 'getQueueStatsSeries',
        summary: 'A queue\'s stats over time: depth, oldest age, throughput, failures, dead, latency percentiles',
        description:
          'Points of `step` seconds over the last `window` seconds (oldest first; `at` is the end of the step), computed from the ' +
          'stats samples the maintenance leader records every 10 s (kept 7 days). A point without a sample at its end has `counts` ' +
          'and `oldestAgeSeconds` null; one without samples at both ends counts 0 for the step.',
        params: QueueParams,
        querystring: QueueSeriesQuery,
        response: { 200: jsonResponse('the series', QueueSeriesSchema), ...errorResponses(400, 404, 503) },
      },
    },
    async (req) => queueSeriesJson(await spool.queueSeries(req.params.queue, { windowSeconds: req.query.window, stepSeconds: req.query.step })),
  );

  for (const action of ['pause', 'resume'] as const) {
    app.post<{ Params: Params }>(
      `/v1/queues/:queue/${action}`,
      {
        config: access.adminQueue,
        preValidation: absentBodyIsEmpty,
        schema: {
          ...OPTIONAL_BODY,
          operationId: `${action}Queue`,
          summary: action === 'pause' ? 'Stop claiming jobs of the queue (enqueue keeps working)' : 'Resume claiming jobs of the queue',
          params: QueueParams,
          querystring: NoQuery,
          body: EmptyBody,
          response: { 200: jsonResponse('the queue', QueueRef), ...errorResponses(400, 404, 503) },
        },
      },
      async (req) => {
        const name = req.params.queue;
        if (action === 'pause') await spool.pauseQueue(name);
        else await spool.resumeQueue(name);
        monitor.invalidate(name);
        await audit(req, `queue.${action}`, name);
        return answer(name);
      },
    );
  }
}

/** A payload `schema` or contract that is not a usable JSON Schema is refused at declaration (422), not at enqueue. */
function checkSchemas(config: QueueConfig): void {
  const errors: FieldError[] = [];
  const check = (schema: unknown, path: string) => {
    if (!schema || typeof schema !== 'object' || Array.isArray(schema)) {
      errors.push({ path, message: 'must be a JSON Schema object' });
      return;
    }
    try {
      compileSchema(schema);
    } catch (error) {
      errors.push({ path, message: (error as Error).message });
    }
  };
  if (config.schema) check(config.schema, '/schema');
  for (const [type, versions] of Object.entries(config.contracts ?? {})) {
    for (const [version, schema] of Object.entries(versions)) {
      const path = `/contracts/${escapePointer(type)}/${escapePointer(version)}`;
      if (!/^[1-9][0-9]{0,6}$/.test(version)) errors.push({ path, message: 'contract versions are integers ≥ 1' });
      else check(schema, path);
    }
  }
  if (errors.length > 0) throw new ValidationError(`queue config is invalid: ${errors[0]!.path} ${errors[0]!.message}`, errors);
}
