/**
 * Topics (fan-out): `PUT /v1/topics/{topic}` (admin; 201/200), `GET /v1/topics` (the topics whose every queue
 * the caller may read), `GET /v1/topics/{topic}`, `DELETE /v1/topics/{topic}` (admin; 204), and
 * `POST /v1/topics/{topic}/events` → 202 `{topic, jobs}` with one job per queue, all committed together or
 * none (engine/topics.ts). Events take the enqueue body and headers (Idempotency-Key: one key per queue is
 * derived from it, replays answer the original jobs with `Idempotent-Replayed: true`; 409 while the same key
 * is in flight on this node), `?dryRun=true`, and each queue's admission limits (503, nothing written).
 *
 * Scopes: the event route and `GET /v1/topics/{topic}` act on every queue of the topic (`topicParam`: the auth
 * plugin reads the topic); `GET /v1/topics` lists the topics whose every queue the caller may read.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Static } from 'typebox';
import { QueueNotFoundError, SpoolError, TopicNotFoundError } from '../../core/errors.js';
import { checkEvent, type PublishOptions, type Topic } from '../../engine/topics.js';
import { callbackSecretProblem } from '../../webhooks/webhook-delivery.js';
import { targetUrlProblem } from '../../net/target-guard.js';
import type { ServerContext } from '../context.js';
import { audit } from '../auth/audit.js';
import { principalOf } from '../auth/plugin.js';
import { FieldProblem, HttpProblem } from '../problem.js';
import { admissionRefusal } from '../accept.js';
import { access, type RouteAccess } from '../route-config.js';
import { enqueueHeaders } from '../request-headers.js';
import {
  BODY_ERRORS,
  EnqueueBody,
  EnqueueHeadersSchema,
  EnqueueQuery,
  errorResponses,
  idempotencyConflict,
  jsonResponse,
  locationHeader,
  NoQuery,
  type EnqueueBodyJson,
} from '../schemas/index.js';
import { EventAcceptedSchema, EventDryRunSchema, TopicBody, TopicListSchema, TopicParams, TopicSchema, type TopicBodyJson } from '../schemas/topics.js';
import { receiptJson } from '../views.js';

type Params = Static<typeof TopicParams>;

const AUTH_ERRORS = [401, 403, 429];
const readTopic: RouteAccess = { scope: 'read', topicParam: 'topic' };
const publishTopic: RouteAccess = { scope: 'publish', topicParam: 'topic' };

export function topicJson(t: Topic): Static<typeof TopicSchema> {
  return { name: t.name, queues: [...t.queues], createdAt: t.createdAt.toISOString(), updatedAt: t.updatedAt.toISOString() };
}

export function topicRoutes(app: FastifyInstance, { spool, monitor }: ServerContext): void {
  /** `topic \0 key` of events this node is committing now. */
  const inFlight = new Set<string>();

  app.put<{ Params: Params; Body: TopicBodyJson }>(
    '/v1/topics/:topic',
    {
      config: access.admin,
      schema: {
        tags: ['topics'],
        operationId: 'putTopic',
        querystring: NoQuery,
        summary: 'Create or replace a topic (the declared queues its events fan out to)',
        params: TopicParams,
        body: TopicBody,
        response: {
          200: jsonResponse('replaced', TopicSchema),
          201: jsonResponse('created', TopicSchema, locationHeader('/v1/topics/{topic}')),
          ...errorResponses(...BODY_ERRORS, 422, ...AUTH_ERRORS),
        },
      },
    },
    async (req, reply) => {
      const topic = await spool.putTopic(req.params.topic, { queues: req.body.queues });
      await audit(req, 'topic.put', topic.name, { created: topic.created, queues: topic.queues });
      if (topic.created) reply.header('location', `/v1/topics/${encodeURIComponent(topic.name)}`);
      return reply.code(topic.created ? 201 : 200).send(topicJson(topic));
    },
  );

  app.get(
    '/v1/topics',
    {
      config: access.readQueues,
      schema: {
        tags: ['topics'],
        operationId: 'listTopics',
        querystring: NoQuery,
        summary: 'List topics (those whose every queue the caller may read)',
        response: { 200: jsonResponse('the topics', TopicListSchema), ...errorResponses(...AUTH_ERRORS, 503) },
      },
    },
    async (req) => {
      const who = principalOf(req);
      const all = await spool.listTopics();
      return { topics: all.filter((t) => t.queues.every((q) => who.allows('read', q))).map(topicJson) };
    },
  );

  app.get<{ Params: Params }>(
    '/v1/topics/:topic',
    {
      config: readTopic,
      schema: {
        tags: ['topics'],
        operationId: 'getTopic',
        querystring: NoQuery,
        summary: 'A topic',
        params: TopicParams,
        response: { 200: jsonResponse('the topic', TopicSchema), ...errorResponses(400, 404, ...AUTH_ERRORS, 503) },
      },
    },
    async (req) => topicJson(await spool.getTopic(req.params.topic)),
  );

  app.delete<{ Params: Params }>(
    '/v1/topics/:topic',
    {
      config: access.admin,
      schema: {
        tags: ['topics'],
        operationId: 'deleteTopic',
        querystring: NoQuery,
        summary: 'Delete a topic (jobs already published stay)',
        params: TopicParams,
        response: { 204: { description: 'deleted', type: 'null' }, ...errorResponses(400, 404, ...AUTH_ERRORS, 503) },
      },
    },
    async (req, reply) => {
      if (!(await spool.deleteTopic(req.params.topic))) throw new TopicNotFoundError(req.params.topic);
      await audit(req, 'topic.delete', req.params.topic);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: Params; Body: EnqueueBodyJson; Querystring: Static<typeof EnqueueQuery> }>(
    '/v1/topics/:topic/events',
    {
      config: publishTopic,
      schema: {
        tags: ['topics'],
        operationId: 'publishEvent',
        summary: 'Publish an event: one job per queue of the topic, all committed together or none (202)',
        description:
          'The body is the enqueue body. One queue refusing the payload (its schema or contract) → 422 naming the queue, and no job anywhere. ' +
          '`Idempotency-Key`: the same key and body answer the original jobs with `Idempotent-Replayed: true`; another body → 422; while in flight → 409. ' +
          'A queue over its admission limits → 503, nothing written. `?dryRun=true` checks everything and writes nothing (200).',
        params: TopicParams,
        querystring: EnqueueQuery,
        headers: EnqueueHeadersSchema,
        body: EnqueueBody,
        response: {
          202: jsonResponse('accepted and committed: one job per queue', EventAcceptedSchema, {
            'idempotent-replayed': { type: 'string', enum: ['true'], description: 'present when an Idempotency-Key matched an earlier identical event' },
          }),
          200: jsonResponse('dry run: valid, nothing written', EventDryRunSchema),
          ...errorResponses(...BODY_ERRORS, 404, 422, ...AUTH_ERRORS),
          ...idempotencyConflict(),
        },
      },
    },
    async (req, reply) => {
      const name = req.params.topic;
      const { key, options } = eventOptions(req, req.body);
      const topic = await spool.getTopic(name);
      for (const queue of topic.queues) await admit(queue, options.meta?.['callbackUrl'] !== undefined);
      if (req.query.dryRun === true) {
        const items = await checkEvent(spool, name, req.body.payload, options);
        return reply.code(200).send({ dryRun: true, valid: true, topic: name, queues: items.map((i) => i.queue), count: items.length, idempotencyKey: key });
      }
      const flight = key !== null ? `${name}\0${key}` : null;
      if (flight !== null) {
        if (inFlight.has(flight)) {
          throw new SpoolError('idempotency_key_in_flight', `an event with idempotency key "${key}" on topic "${name}" is still in flight; retry once it has finished`);
        }
        inFlight.add(flight);
      }
      try {
        const result = await spool.publish(name, req.body.payload, options);
        for (const job of result.jobs) if (!job.replayed) monitor.noteAccepted(job.queue, 1);
        if (result.jobs.length > 0 && result.jobs.every((j) => j.replayed)) reply.header('idempotent-replayed', 'true');
        return reply.code(202).send({ topic: name, jobs: result.jobs.map((j) => ({ ...receiptJson(j), replayed: j.replayed })) });
      } finally {
        if (flight !== null) inFlight.delete(flight);
      }
    },
  );

  /**
   * A queue's admission limits, as the enqueue path applies them (503, nothing written); with a callbackUrl,
   * also that each queue can sign it (accept.ts).
   */
  async function admit(queue: string, callback: boolean): Promise<void> {
    let info;
    try {
      info = await monitor.get(queue);
    } catch (error) {
      if (error instanceof QueueNotFoundError) return; // the engine names the topic's missing queue
      throw error;
    }
    const unsigned = callback ? callbackSecretProblem(info.config) : null;
    if (unsigned) throw new FieldProblem(422, `callbackUrl ${unsigned} (queue "${queue}")`, [{ path: '/callbackUrl', message: `${unsigned} (queue "${queue}")` }]);
    const refusal = await admissionRefusal(monitor, queue, info, 1);
    if (refusal) throw new HttpProblem('admission-rejected', `queue "${queue}" of this topic ${refusal.detail}`);
  }
}

/** The event's job options from its body and headers (Idempotency-Key, X-Correlation-Id, traceparent). */
function eventOptions(req: FastifyRequest, body: EnqueueBodyJson): { key: string | null; options: PublishOptions } {
  const { idempotencyKey: key, correlationId: headerCorrelation, traceparent } = enqueueHeaders(req);
  if (body.runAt !== undefined && body.delaySeconds !== undefined) {
    throw new FieldProblem(400, 'give runAt or delaySeconds, not both', [{ path: '/delaySeconds', message: 'cannot be combined with runAt' }]);
  }
  const meta: Record<string, string> = {};
  // The SSRF guard's configuration-time check, as on enqueue (accept.ts).
  const callback = body.callbackUrl === undefined ? null : targetUrlProblem(body.callbackUrl);
  if (callback) throw new FieldProblem(422, `callbackUrl ${callback}`, [{ path: '/callbackUrl', message: callback }]);
  if (body.callbackUrl !== undefined) meta['callbackUrl'] = body.callbackUrl;
  const options: PublishOptions = {
    ...(body.type !== undefined ? { type: body.type } : {}),
    ...(body.version !== undefined ? { version: body.version } : {}),
    ...(body.priority !== undefined ? { priority: body.priority } : {}),
    ...(body.runAt !== undefined ? { runAt: body.runAt } : {}),
    ...(body.delaySeconds !== undefined ? { delaySeconds: body.delaySeconds } : {}),
    ...(body.orderingKey !== undefined ? { orderingKey: body.orderingKey } : {}),
    ...(body.groupKey !== undefined ? { groupKey: body.groupKey } : {}),
    ...(body.maxAttempts !== undefined ? { maxAttempts: body.maxAttempts } : {}),
    ...(body.backoff !== undefined ? { backoff: body.backoff } : {}),
    ...(body.leaseSeconds !== undefined ? { leaseSeconds: body.leaseSeconds } : {}),
    ...(body.timeoutSeconds !== undefined ? { timeoutSeconds: body.timeoutSeconds } : {}),
    // The header's correlation id is transport metadata: not part of the idempotency fingerprint.
    ...(body.correlationId !== undefined ? { correlationId: body.correlationId } : {}),
    ...(headerCorrelation !== null ? { transportCorrelationId: headerCorrelation } : {}),
    ...(key !== null ? { idempotencyKey: key } : {}),
    ...(traceparent ? { traceparent } : {}),
    ...(Object.keys(meta).length > 0 ? { meta } : {}),
  };
  return { key, options };
}
