/**
 * `/v1/keys` (admin): create a key (the secret is in this one answer only), list keys (never secrets or
 * hashes), show one, revoke one. Key logic lives in auth/keys.ts; this module translates HTTP and writes
 * the audit entries (`key.create`, `key.revoke`).
 */
import type { FastifyInstance } from 'fastify';
import { audit } from '../auth/audit.js';
import { KeyInputError, type ApiKey } from '../auth/keys.js';
import { CreatedKeySchema, CreateKeyBody, KeyListSchema, KeyParams, KeySchema } from '../auth/schemas.js';
import { FieldProblem, HttpProblem } from '../problem.js';
import { access } from '../route-config.js';
import { BODY_ERRORS, errorResponses, jsonResponse } from '../schemas/common.js';

const AUTH_ERRORS = [401, 403, 429];

function keyJson(k: ApiKey): { id: string; name: string; scopes: string[]; rateLimit: { perSecond: number } | null; createdAt: string } {
  return { id: k.id, name: k.name, scopes: [...k.scopes], rateLimit: k.rateLimit, createdAt: k.createdAt.toISOString() };
}

export function keyRoutes(app: FastifyInstance): void {
  app.post<{ Body: CreateKeyBody }>(
    '/v1/keys',
    {
      config: access.admin,
      schema: {
        tags: ['keys'],
        summary: 'Create an API key (the secret is shown once)',
        body: CreateKeyBody,
        response: { 201: jsonResponse('the new key with its secret', CreatedKeySchema), ...errorResponses(...BODY_ERRORS, ...AUTH_ERRORS) },
      },
    },
    async (request, reply) => {
      let created;
      try {
        created = await request.server.spoolAuth.keys.create(request.body);
      } catch (error) {
        if (error instanceof KeyInputError) throw new FieldProblem(400, error.message, [{ path: error.path, message: error.reason }]);
        throw error;
      }
      await audit(request, 'key.create', created.key.id, { name: created.key.name, scopes: created.key.scopes, rateLimit: created.key.rateLimit });
      return reply.code(201).send({ ...keyJson(created.key), secret: created.token });
    },
  );

  app.get(
    '/v1/keys',
    {
      config: access.admin,
      schema: { tags: ['keys'], summary: 'List API keys (without secrets)', response: { 200: jsonResponse('the keys', KeyListSchema), ...errorResponses(...AUTH_ERRORS, 503) } },
    },
    async (request) => ({ keys: (await request.server.spoolAuth.keys.list()).map(keyJson) }),
  );

  app.get<{ Params: { id: string } }>(
    '/v1/keys/:id',
    {
      config: access.admin,
      schema: { tags: ['keys'], summary: 'One API key (without its secret)', params: KeyParams, response: { 200: jsonResponse('the key', KeySchema), ...errorResponses(400, 404, ...AUTH_ERRORS, 503) } },
    },
    async (request) => {
      const key = await request.server.spoolAuth.keys.get(request.params.id);
      if (!key) throw new HttpProblem('not-found', `key ${request.params.id} not found`);
      return keyJson(key);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/keys/:id',
    {
      config: access.admin,
      schema: {
        tags: ['keys'],
        summary: 'Revoke an API key, at once on every node',
        params: KeyParams,
        response: { 204: { description: 'revoked', type: 'null' }, ...errorResponses(400, 404, ...AUTH_ERRORS, 503) },
      },
    },
    async (request, reply) => {
      const { id } = request.params;
      if (!(await request.server.spoolAuth.keys.revoke(id))) throw new HttpProblem('not-found', `key ${id} not found`);
      request.server.spoolAuth.limiter.forget(id);
      await audit(request, 'key.revoke', id);
      return reply.code(204).send();
    },
  );
}
