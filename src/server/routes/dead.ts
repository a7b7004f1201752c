/**
 * The dead-letter queue: list (`GET /v1/queues/{queue}/dead`, cursor), replay (`POST …/dead/replay`,
 * ids or all, dry run) and purge (`DELETE …/dead/{id}`). Replays are recorded in each job's history by the
 * store; the audit log joins here once the audit seam exists.
 */
import type { FastifyInstance } from 'fastify';
import type { Static } from 'typebox';
import { InvalidTransitionError, JobNotFoundError } from '../../core/errors.js';
import type { ServerContext } from '../context.js';
import { audit } from '../auth/audit.js';
import { FieldProblem } from '../problem.js';
import { access } from '../route-config.js';
import { DeadListQuery, DeadParams, errorResponses, JobPageSchema, jsonResponse, NoQuery, QueueParams, ReplayBody, ReplayResultSchema } from '../schemas/index.js';
import { jobJson } from '../views.js';

export function deadRoutes(app: FastifyInstance, { spool, monitor }: ServerContext): void {
  app.get<{ Params: Static<typeof QueueParams>; Querystring: Static<typeof DeadListQuery> }>(
    '/v1/queues/:queue/dead',
    {
      config: access.readQueue,
      schema: {
        operationId: 'listDeadJobs',
        summary: 'Dead jobs of a queue (each with every attempt\'s error in its history), newest first',
        params: QueueParams,
        querystring: DeadListQuery,
        response: { 200: jsonResponse('a page of dead jobs', JobPageSchema), ...errorResponses(400, 404, 503) },
      },
    },
    async (req) => {
      const page = await spool.dlq.list(req.params.queue, { limit: req.query.limit ?? 50, cursor: req.query.cursor ?? null });
      return { jobs: page.jobs.map(jobJson), nextCursor: page.nextCursor };
    },
  );

  app.post<{ Params: Static<typeof QueueParams>; Body: Static<typeof ReplayBody> }>(
    '/v1/queues/:queue/dead/replay',
    {
      config: access.adminQueue,
      schema: {
        operationId: 'replayDeadJobs',
        summary: 'Replay dead jobs: back to queued with attempts reset',
        description: 'Body `{ids: [...]}` or `{all: true}`, optionally `dryRun: true` (count only, nothing changes).',
        params: QueueParams,
        querystring: NoQuery,
        body: ReplayBody,
        response: { 200: jsonResponse('how many were (or would be) replayed', ReplayResultSchema), ...errorResponses(400, 404, 413, 415, 503) },
      },
    },
    async (req) => {
      const { ids, all, dryRun } = req.body;
      if ((ids === undefined) === (all === undefined)) {
        throw new FieldProblem(400, 'give either ids or all: true', [{ path: ids ? '/all' : '/ids', message: ids ? 'cannot be combined with ids' : 'give ids or all: true' }]);
      }
      await monitor.get(req.params.queue); // 404 for an undeclared queue
      const r = await spool.dlq.replay(req.params.queue, { ...(ids ? { ids } : { all: true }), dryRun: dryRun === true });
      monitor.invalidate(req.params.queue);
      if (dryRun !== true) await audit(req, 'dead.replay', req.params.queue, { ids: ids ?? null, all: all === true, replayed: r.count });
      return { replayed: r.count, dryRun: dryRun === true };
    },
  );

  app.delete<{ Params: Static<typeof DeadParams> }>(
    '/v1/queues/:queue/dead/:id',
    {
      config: access.adminQueue,
      schema: {
        operationId: 'purgeDeadJob',
        summary: 'Purge one dead job',
        params: DeadParams,
        querystring: NoQuery,
        response: { 204: { description: 'purged', type: 'null' }, ...errorResponses(400, 404, 409, 503) },
      },
    },
    async (req, reply) => {
      const { queue, id } = req.params;
      await monitor.get(queue);
      if (await spool.dlq.purge(queue, id)) {
        await audit(req, 'dead.purge', id, { queue });
        return reply.code(204).send();
      }
      const job = await spool.getJob(id).catch(() => null);
      if (!job || job.queue !== queue) throw new JobNotFoundError(id);
      throw new InvalidTransitionError(id, job.state, 'purge');
    },
  );
}
