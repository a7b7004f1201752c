/**
 * Jobs: the accept path (`POST /v1/queues/{queue}/jobs`, `…/jobs/batch`, both with `?dryRun=true`), status
 * (`GET /v1/jobs/{id}` with `?waitSeconds`), the payload (`GET /v1/jobs/{id}/payload`, also for payloads
 * stored as blobs), search (`GET /v1/jobs`) and cancel. The event stream is routes/job-events.ts.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Static } from 'typebox';
import { isTerminal } from '../../core/states.js';
import type { Job } from '../../core/job.js';
import type { DryRunAnswer, RequestContext } from '../accept.js';
import type { ServerContext } from '../context.js';
import { audit } from '../auth/audit.js';
import { absentBodyIsEmpty, OPTIONAL_BODY } from '../json-body.js';
import { enqueueHeaders } from '../request-headers.js';
import { access } from '../route-config.js';
import {
  AnyJson,
  AcceptedSchema,
  BatchAcceptedSchema,
  BatchBody,
  BatchHeadersSchema,
  DryRunSchema,
  EmptyBody,
  EnqueueHeadersSchema,
  idempotencyConflict,
  RETRY_AFTER_HEADER,
  EnqueueBody,
  EnqueueQuery,
  errorResponses,
  JobGetQuery,
  JobPageSchema,
  JobParams,
  JobRef,
  JobSearchQuery,
  jsonResponse,
  NoQuery,
  QueueParams,
  type EnqueueBodyJson,
} from '../schemas/index.js';
import { jobJson, receiptJson, statusUrl } from '../views.js';

const acceptHeaders = {
  location: { type: 'string', description: '/v1/jobs/{id}' },
  'idempotent-replayed': { type: 'string', enum: ['true'], description: 'present when an Idempotency-Key matched an earlier identical request' },
};

/** Idempotency-Key, correlation and trace headers (request-headers.ts); a malformed one is 400. */
function requestContext(req: FastifyRequest, dryRun: boolean): RequestContext {
  return { ...enqueueHeaders(req), dryRun };
}

function isDryRun(r: object): r is DryRunAnswer {
  return (r as { dryRun?: unknown }).dryRun === true;
}

/** A polling hint for a job that is not finished yet: until its start for a scheduled job, else a second. */
function retryAfter(job: Job, reply: FastifyReply): void {
  if (isTerminal(job.state)) return;
  const untilStart = Math.ceil((job.runAt.getTime() - Date.now()) / 1000);
  const seconds = job.state === 'scheduled' || job.state === 'retrying' ? Math.min(3600, Math.max(1, untilStart)) : 1;
  reply.header('retry-after', String(seconds));
}

export function jobRoutes(app: FastifyInstance, { accept, spool, monitor, waiter }: ServerContext): void {
  app.post<{ Params: Static<typeof QueueParams>; Body: EnqueueBodyJson; Querystring: Static<typeof EnqueueQuery> }>(
    '/v1/queues/:queue/jobs',
    {
      config: access.publish,
      schema: {
        operationId: 'enqueueJob',
        summary: 'Enqueue a job: 202 once it is durably committed',
        description:
          'Headers (declared below): `Idempotency-Key` (same key + same body → the original 202 with `Idempotent-Replayed: true`; a different body → 422; while the first is in flight → 409 with Retry-After), `X-Correlation-Id` (default correlationId), `traceparent` (kept with the job). Transport headers are never part of the idempotency fingerprint.',
        params: QueueParams,
        querystring: EnqueueQuery,
        headers: EnqueueHeadersSchema,
        body: EnqueueBody,
        response: {
          202: jsonResponse('accepted and committed', AcceptedSchema, acceptHeaders),
          200: jsonResponse('dry run: valid, nothing written', DryRunSchema),
          ...errorResponses(400, 404, 413, 415, 422, 503),
          ...idempotencyConflict(),
        },
      },
    },
    async (req, reply) => {
      const result = await accept.one(req.params.queue, req.body, requestContext(req, req.query.dryRun === true));
      if (isDryRun(result)) return reply.code(200).send(result);
      reply.code(202).header('location', statusUrl(result.id));
      if (result.replayed) reply.header('idempotent-replayed', 'true');
      return reply.send(receiptJson(result));
    },
  );

  app.post<{ Params: Static<typeof QueueParams>; Body: Static<typeof BatchBody>; Querystring: Static<typeof EnqueueQuery> }>(
    '/v1/queues/:queue/jobs/batch',
    {
      config: access.publish,
      schema: {
        operationId: 'enqueueJobs',
        summary: 'Enqueue up to 1,000 jobs, all or nothing, in one commit',
        description: 'Idempotency per item (`jobs[].idempotencyKey`); a batch takes no Idempotency-Key header. 422 errors carry `{index, path, message}`.',
        params: QueueParams,
        querystring: EnqueueQuery,
        headers: BatchHeadersSchema,
        body: BatchBody,
        response: {
          202: jsonResponse('accepted and committed, in request order', BatchAcceptedSchema, {
            'idempotent-replayed': { type: 'string', enum: ['true'], description: "present when every item's idempotencyKey matched an earlier identical job" },
          }),
          200: jsonResponse('dry run: valid, nothing written', DryRunSchema),
          ...errorResponses(400, 404, 413, 415, 422, 503),
          ...idempotencyConflict(),
        },
      },
    },
    async (req, reply) => {
      const result = await accept.batch(req.params.queue, req.body.jobs, requestContext(req, req.query.dryRun === true));
      if (isDryRun(result)) return reply.code(200).send(result);
      if (result.every((r) => r.replayed)) reply.header('idempotent-replayed', 'true');
      return reply.code(202).send({ jobs: result.map((r) => ({ ...receiptJson(r), replayed: r.replayed })) });
    },
  );

  app.get<{ Params: Static<typeof JobParams>; Querystring: Static<typeof JobGetQuery> }>(
    '/v1/jobs/:id',
    {
      config: access.readJob,
      schema: {
        operationId: 'getJob',
        summary: 'A job with its history',
        description: '`Retry-After` while the job is not finished. `?waitSeconds=N` (≤ 30) holds the request until the job is terminal or N seconds pass.',
        params: JobParams,
        querystring: JobGetQuery,
        response: {
          200: jsonResponse('the job', JobRef, { 'retry-after': { ...RETRY_AFTER_HEADER, description: 'seconds: a polling hint, only while the job is not terminal' } }),
          ...errorResponses(400, 404, 503),
        },
      },
    },
    async (req, reply) => {
      const waitMs = Math.round((req.query.waitSeconds ?? 0) * 1000);
      let job: Job;
      if (waitMs > 0) {
        const gone = new AbortController();
        const onClose = () => gone.abort();
        req.raw.once('close', onClose);
        try {
          job = await waiter.wait(req.params.id, waitMs, gone.signal);
        } finally {
          req.raw.off('close', onClose);
        }
      } else {
        job = await spool.getJob(req.params.id);
      }
      retryAfter(job, reply);
      return jobJson(job);
    },
  );

  app.get<{ Params: Static<typeof JobParams> }>(
    '/v1/jobs/:id/payload',
    {
      config: access.readJob,
      schema: {
        operationId: 'getJobPayload',
        summary: "A job's payload, also one stored as a blob",
        description:
          'The payload\'s JSON exactly as stored (`application/json`). Payloads over 256 KiB of JSON are stored once as a blob: `GET /v1/jobs/{id}` then answers `payload: null` with `payloadRef` (this URL) and `payloadBytes`. Inline payloads are answered here too.',
        params: JobParams,
        querystring: NoQuery,
        response: { 200: jsonResponse('the payload (any JSON value)', AnyJson), ...errorResponses(400, 404, 503) },
      },
    },
    async (req, reply) => {
      const bytes = await spool.getPayloadBytes(req.params.id);
      return reply.type('application/json; charset=utf-8').send(bytes);
    },
  );

  app.get<{ Querystring: Static<typeof JobSearchQuery> }>(
    '/v1/jobs',
    {
      config: access.readSearch,
      schema: {
        operationId: 'searchJobs',
        summary: 'Search jobs, newest first',
        querystring: JobSearchQuery,
        response: { 200: jsonResponse('a page of jobs', JobPageSchema), ...errorResponses(400, 404, 503) },
      },
    },
    async (req) => {
      const q = req.query;
      if (q.queue !== undefined) await monitor.get(q.queue); // an undeclared queue is 404, not an empty page
      const page = await spool.listJobs({
        ...(q.queue !== undefined ? { queue: q.queue } : {}),
        ...(q.state !== undefined ? { state: q.state } : {}),
        ...(q.type !== undefined ? { type: q.type } : {}),
        ...(q.correlationId !== undefined ? { correlationId: q.correlationId } : {}),
        limit: q.limit ?? 50,
        cursor: q.cursor ?? null,
      });
      return { jobs: page.jobs.map(jobJson), nextCursor: page.nextCursor };
    },
  );

  app.post<{ Params: Static<typeof JobParams> }>(
    '/v1/jobs/:id/cancel',
    {
      config: access.adminJob,
      preValidation: absentBodyIsEmpty,
      schema: {
        ...OPTIONAL_BODY,
        operationId: 'cancelJob',
        summary: 'Cancel a waiting job (scheduled, queued, retrying)',
        description: '409 when the job is active or already finished: cancelling running work is not part of v1.',
        params: JobParams,
        querystring: NoQuery,
        body: EmptyBody,
        response: { 200: jsonResponse('the cancelled job', JobRef), ...errorResponses(400, 404, 409, 503) },
      },
    },
    async (req) => {
      const job = await spool.cancel(req.params.id);
      await audit(req, 'job.cancel', job.id, { queue: job.queue });
      return jobJson(job);
    },
  );
}
