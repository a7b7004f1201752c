/**
 * Remote workers (pull, any language): `POST /v1/queues/{queue}/leases` (long poll) and the fenced
 * `POST /v1/jobs/{id}/ack | nack | extend | progress | release`. HTTP ⇄ `spool.leases` (engine/remote-leases.ts)
 * only; a stale lease token is 409 (`lease-lost`), an unknown job 404, an unknown queue 404.
 *
 * A long poll whose client disconnects ends at once and leases nothing: the request's AbortSignal fires
 * when the connection closes before the answer went out, and jobs claimed for it meanwhile are released.
 * When this server closes (`preClose`) its long polls are aborted the same way and answer `{jobs: []}` at
 * once with `Connection: close`, so closing never waits for a long poll or its keep-alive connection. (The
 * facade's `spool.leases` outlives the app: another app on the same facade keeps serving.)
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { LeasedJob } from '../../engine/remote-leases.js';
import type { Spool } from '../../spool.js';
import { BODY_ERRORS, errorResponses, JobParams, jsonResponse, QueueParams } from '../schemas/common.js';
import {
  AckBody,
  AckResultSchema,
  ExtendBody,
  ExtendResultSchema,
  LeaseBody,
  LeaseResultSchema,
  NackBody,
  NackResultSchema,
  ProgressBody,
  ProgressResultSchema,
  ReleaseBody,
  ReleaseResultSchema,
  type LeaseBodyJson,
  type LeasedJobJson,
  type NackBodyJson,
} from '../schemas/leases.js';

/** `ctx` is app.ts's ServerContext (typed by what is used, so this module does not import app.ts back). */
export function leaseRoutes(app: FastifyInstance, ctx: { readonly spool: Spool }): void {
  const leases = ctx.spool.leases;
  /** The lease requests this app is answering; aborted when it closes. */
  const active = new Set<AbortController>();
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    for (const request of active) request.abort();
    done();
  });

  app.post(
    '/v1/queues/:queue/leases',
    {
      config: { scope: 'consume', queueParam: 'queue' },
      schema: {
        operationId: 'leaseJobs',
        summary: 'Lease jobs (long poll with waitSeconds)',
        description:
          'Leases up to `max` claimable jobs of the queue. With `waitSeconds` the request waits (at most 30 s) until jobs become ' +
          'claimable and answers at once when they do; on timeout `jobs` is empty. A paused queue leases nothing. A client that ' +
          'disconnects while waiting leases nothing. Each job must be acked, nacked or released with its `leaseToken` before ' +
          '`leaseExpiresAt` (extend it while working); an expired lease counts as a failed attempt.',
        params: QueueParams,
        body: LeaseBody,
        response: { 200: jsonResponse('the leased jobs (empty on timeout)', LeaseResultSchema), ...errorResponses(...BODY_ERRORS, 404) },
      },
    },
    async (request: FastifyRequest<{ Params: { queue: string }; Body: LeaseBodyJson }>, reply: FastifyReply) => {
      const controller = disconnectController(reply);
      active.add(controller);
      try {
        const jobs = await leases.lease(request.params.queue, { ...request.body, signal: controller.signal });
        // Ended by shutdown: close the connection after this answer, or its keep-alive would hold close() up.
        if (closing || leases.closed) reply.header('connection', 'close');
        return { jobs: jobs.map(leasedJson) };
      } finally {
        active.delete(controller);
      }
    },
  );

  const fenced = { scope: 'consume', jobParam: 'id' } as const;
  const jobErrors = errorResponses(...BODY_ERRORS, 404, 409);

  app.post(
    '/v1/jobs/:id/ack',
    {
      config: fenced,
      schema: {
        operationId: 'ackJob',
        summary: 'Complete a leased job',
        description:
          '409 when the lease token is stale (the lease expired and the job moved on, or the token is not the current one). ' +
          'A `result` over 64 KiB of JSON is 413 `result-too-large`: nothing changes and the lease stays, so a smaller result can be acked.',
        params: JobParams,
        body: AckBody,
        response: { 200: jsonResponse('completed', AckResultSchema), ...jobErrors },
      },
    },
    async (request: FastifyRequest<{ Params: { id: string }; Body: { leaseToken: string; result?: unknown } }>) =>
      leases.ack(request.params.id, request.body),
  );

  app.post(
    '/v1/jobs/:id/nack',
    {
      config: fenced,
      schema: {
        operationId: 'nackJob',
        summary: 'Fail the attempt of a leased job',
        description:
          "The attempt counts as failed: the job retries after the queue's backoff (or `retryAfterSeconds`), or goes to the " +
          'dead-letter queue when its attempts are spent or `error.retryable` is false.',
        params: JobParams,
        body: NackBody,
        response: { 200: jsonResponse('retrying or dead', NackResultSchema), ...jobErrors },
      },
    },
    async (request: FastifyRequest<{ Params: { id: string }; Body: NackBodyJson }>) => {
      const r = await leases.nack(request.params.id, request.body);
      return { id: r.id, state: r.state, runAt: r.runAt ? r.runAt.toISOString() : null };
    },
  );

  app.post(
    '/v1/jobs/:id/extend',
    {
      config: fenced,
      schema: {
        operationId: 'extendLease',
        summary: 'Extend the lease of a leased job',
        params: JobParams,
        body: ExtendBody,
        response: { 200: jsonResponse('the new expiry', ExtendResultSchema), ...jobErrors },
      },
    },
    async (request: FastifyRequest<{ Params: { id: string }; Body: { leaseToken: string; leaseSeconds: number } }>) => {
      const r = await leases.extend(request.params.id, request.body);
      return { id: r.id, leaseExpiresAt: r.leaseExpiresAt.toISOString() };
    },
  );

  app.post(
    '/v1/jobs/:id/progress',
    {
      config: fenced,
      schema: {
        operationId: 'reportProgress',
        summary: 'Record progress of a leased job',
        params: JobParams,
        body: ProgressBody,
        response: { 200: jsonResponse('recorded', ProgressResultSchema), ...jobErrors },
      },
    },
    async (request: FastifyRequest<{ Params: { id: string }; Body: { leaseToken: string; progress: unknown } }>) =>
      leases.progress(request.params.id, request.body),
  );

  app.post(
    '/v1/jobs/:id/release',
    {
      config: fenced,
      schema: {
        operationId: 'releaseJob',
        summary: 'Give a leased job back without spending the attempt',
        description: 'For a worker shutting down: the job is queued again at once, in its old place, its attempt not counted.',
        params: JobParams,
        body: ReleaseBody,
        response: { 200: jsonResponse('queued again', ReleaseResultSchema), ...jobErrors },
      },
    },
    async (request: FastifyRequest<{ Params: { id: string }; Body: { leaseToken: string } }>) => leases.release(request.params.id, request.body),
  );
}

/** Aborts when the connection closes before the answer was sent (the client went away). */
function disconnectController(reply: FastifyReply): AbortController {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableEnded) controller.abort();
  });
  return controller;
}

function leasedJson(job: LeasedJob): LeasedJobJson {
  return {
    ...job,
    createdAt: job.createdAt.toISOString(),
    runAt: job.runAt.toISOString(),
    leaseExpiresAt: job.leaseExpiresAt.toISOString(),
  };
}
