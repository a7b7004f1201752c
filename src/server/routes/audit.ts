/**
 * `GET /v1/audit` (admin): the audit log, newest first, with a cursor. Entries are written by admin routes
 * through auth/audit.ts; this module only reads them through the store seam's `auditList`.
 */
import type { FastifyInstance } from 'fastify';
import { AuditPageSchema, AuditQuery } from '../auth/schemas.js';
import { access } from '../route-config.js';
import { errorResponses, jsonResponse } from '../schemas/common.js';

export function auditRoutes(app: FastifyInstance): void {
  app.get<{ Querystring: { limit?: number; cursor?: string } }>(
    '/v1/audit',
    {
      config: access.admin,
      schema: {
        tags: ['audit'],
        summary: 'The audit log of admin actions, newest first',
        querystring: AuditQuery,
        response: { 200: jsonResponse('a page of entries', AuditPageSchema), ...errorResponses(400, 401, 403, 429, 503) },
      },
    },
    async (request) => {
      const page = await request.server.spoolAuth.store.auditList({ limit: request.query.limit ?? 50, cursor: request.query.cursor ?? null });
      return {
        entries: page.entries.map((e) => ({
          seq: e.seq,
          at: e.at.toISOString(),
          actor: e.actor,
          action: e.action,
          target: e.target,
          detail: e.detailJson === null ? null : (JSON.parse(e.detailJson) as unknown),
        })),
        nextCursor: page.nextCursor,
      };
    },
  );
}
