/**
 * The exchange checker (openapi-check.ts) that every HTTP suite runs its requests through: it must refuse an
 * undeclared status, an undeclared contract header, a missing required header, an undeclared content type and
 * a body that breaks its schema — and pass a conforming exchange. Over a small document of its own, and once
 * over the real docs/openapi.json. Store-independent.
 */
import { describe, expect, it } from 'vitest';
import { documentCheck, OpenApiCheck, type Exchange } from './openapi-check.js';

const problem = { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } };
const doc = {
  openapi: '3.1.0',
  info: { title: 't', version: '1' },
  paths: {
    '/v1/things/{id}': {
      get: {
        responses: {
          200: {
            description: 'ok',
            headers: { 'retry-after': { schema: { type: 'string', pattern: '^[0-9]+$' } } },
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Thing' } } },
          },
          404: { description: 'no', content: problem },
        },
      },
      put: {
        responses: {
          201: { description: 'made', headers: { location: { required: true, schema: { type: 'string' } } }, content: { 'application/json': { schema: { type: 'object' } } } },
          204: { description: 'nothing' },
        },
      },
    },
    '/v1/things/special': { get: { responses: { 200: { description: 'ok', content: { 'text/plain': { schema: { type: 'string' } } } } } } },
  },
  components: {
    schemas: {
      Thing: { type: 'object', required: ['id', 'at'], properties: { id: { type: 'string' }, at: { type: 'string', format: 'date-time' } }, additionalProperties: false },
      Problem: { type: 'object', required: ['type', 'status'], properties: { type: { type: 'string' }, status: { type: 'integer' } } },
    },
    responses: {
      NotFound: { description: 'unknown path', content: problem },
      MethodNotAllowed: { description: 'other method', headers: { allow: { required: true, schema: { type: 'string' } } }, content: problem },
    },
  },
};

const check = new OpenApiCheck(doc);
const json = (status: number, body: unknown, headers: Record<string, string> = {}, method = 'GET', path = '/v1/things/a1'): Exchange => ({
  method,
  path,
  status,
  headers: new Headers({ 'content-type': status >= 400 ? 'application/problem+json' : 'application/json; charset=utf-8', ...headers }),
  text: JSON.stringify(body),
});
const thing = { id: 'a1', at: '2026-01-01T00:00:00.000Z' };

describe('OpenApiCheck', () => {
  it('passes a conforming exchange (with a query string, a declared header, the most literal path)', () => {
    expect(check.problems(json(200, thing, { 'retry-after': '3' }, 'GET', '/v1/things/a1?x=1'))).toEqual([]);
    expect(check.problems({ method: 'GET', path: '/v1/things/special', status: 200, headers: new Headers({ 'content-type': 'text/plain' }), text: 'hi' })).toEqual([]);
    expect(check.problems({ method: 'PUT', path: '/v1/things/a1', status: 204, headers: new Headers(), text: '' })).toEqual([]);
    expect(check.problems(json(404, { type: 'x', status: 404 }, {}, 'GET', '/nowhere'))).toEqual([]);
    expect(check.problems(json(405, { type: 'x', status: 405 }, { allow: 'GET, PUT' }, 'DELETE'))).toEqual([]);
  });

  it('refuses a status the operation does not list', () => {
    expect(check.problems(json(409, { type: 'x', status: 409 }))).toEqual([expect.stringContaining('status 409 is not documented for GET /v1/things/{id}')]);
    expect(check.problems(json(500, { type: 'x', status: 500 }, {}, 'GET', '/nowhere'))).toEqual([expect.stringContaining('is not in the document')]);
    expect(check.problems(json(400, { type: 'x', status: 400 }, {}, 'DELETE'))).toEqual([expect.stringContaining('DELETE is not an operation of /v1/things/{id}')]);
  });

  it('refuses an undeclared contract header, a missing required one and a header value off its schema', () => {
    expect(check.problems(json(200, thing, { location: '/v1/things/a1' }))).toEqual([expect.stringContaining('header location is sent but not declared')]);
    expect(check.problems(json(404, { type: 'x', status: 404 }, { 'retry-after': '1' }))).toEqual([expect.stringContaining('header retry-after is sent but not declared')]);
    expect(check.problems(json(201, {}, {}, 'PUT'))).toEqual(['required header location is missing']);
    expect(check.problems(json(405, { type: 'x', status: 405 }, {}, 'DELETE'))).toEqual(['required header allow is missing']);
    expect(check.problems(json(200, thing, { 'retry-after': 'soon' }))).toEqual([expect.stringContaining('header retry-after: "soon"')]);
  });

  it('refuses a body that breaks its schema, an undeclared content type, and a body where none is documented', () => {
    expect(check.problems(json(200, { id: 1, at: 'yesterday' }))[0]).toMatch(/the body breaks the schema at .*\/id must be string.*\/at must match format "date-time"/s);
    expect(check.problems(json(200, { ...thing, extra: true }))[0]).toMatch(/must NOT have additional properties/);
    expect(check.problems({ ...json(200, thing), headers: new Headers({ 'content-type': 'text/html' }) })).toEqual([expect.stringContaining('content type text/html is not declared')]);
    expect(check.problems({ method: 'PUT', path: '/v1/things/a1', status: 204, headers: new Headers({ 'content-type': 'text/plain' }), text: 'x' })).toEqual([
      expect.stringContaining('a body (text/plain) is sent where none is documented'),
    ]);
  });

  it('assert() names the method, path, status and what broke', () => {
    expect(() => check.assert(json(409, { type: 'x', status: 409 }))).toThrow(/OpenAPI: GET \/v1\/things\/a1 answered 409, which the document does not allow:\n {2}- status 409/);
  });

  it('loads docs/openapi.json: a 202 of the enqueue route with Location conforms; one with an undeclared Allow does not', () => {
    const real = documentCheck();
    const receipt = { id: 'j1', queue: 'q', state: 'queued', statusUrl: '/v1/jobs/j1', createdAt: '2026-01-01T00:00:00.000Z', runAt: '2026-01-01T00:00:00.000Z' };
    const accepted = json(202, receipt, { location: '/v1/jobs/j1' }, 'POST', '/v1/queues/q/jobs');
    expect(real.problems(accepted)).toEqual([]);
    expect(real.problems({ ...accepted, headers: new Headers({ 'content-type': 'application/json', allow: 'GET' }) })).toEqual([expect.stringContaining('header allow is sent but not declared')]);
  });
});
