/**
 * The HTTP server's spine (Fastify 5): strict request validation (no type coercion in bodies), the one
 * JSON body parser, problem+json for every error (ours and Fastify's: 404, 405, 413, 415, malformed JSON,
 * schema violations, oversized headers), request ids and one log line per request (successes at debug), the shutdown gate,
 * the OpenAPI document, and the route modules under routes/. Routes translate HTTP to facade calls only.
 *
 * Extension points: every /v1 route declares `config: {scope, queueParam?}` (route-config.ts; registering a
 * /v1 route without a scope throws), so the auth plugin is one onRequest hook; further route modules
 * register beside the ones in `registerRoutes`.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import swagger from '@fastify/swagger';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { ShuttingDownError } from '../core/errors.js';
import type { Spool } from '../spool.js';
import { AcceptPath } from './accept.js';
import { drainLimitsFor, drainThenClose, type DrainLimits } from './body-drain.js';
import type { ServerContext, ServerState } from './context.js';
import { JobWaiter } from './job-waiter.js';
import { ServerMetrics } from './metrics.js';
import { parseJsonBody } from './json-body.js';
import { HttpProblem, isRefusal, PROBLEM_CONTENT_TYPE, PROBLEM_TYPE_PREFIX, sendProblem, toProblem } from './problem.js';
import { QueueMonitor } from './queue-monitor.js';
import { errorResponses, ROUTING_RESPONSES, SHARED_SCHEMAS } from './schemas/common.js';
import { installAuth } from './auth/plugin.js';
import { KeyRegistry } from './auth/keys.js';
import { auditRoutes } from './routes/audit.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { deadRoutes } from './routes/dead.js';
import { healthRoutes } from './routes/health.js';
import { jobEventRoutes } from './routes/job-events.js';
import { jobRoutes } from './routes/jobs.js';
import { keyRoutes } from './routes/keys.js';
import { leaseRoutes } from './routes/leases.js';
import { metricsRoutes } from './routes/metrics.js';
import { queueRoutes } from './routes/queues.js';
import { scheduleRoutes } from './routes/schedules.js';
import { topicRoutes } from './routes/topics.js';
import './route-config.js';

const addFormats = (addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ?? addFormatsModule;

export const DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024;
/** Longer than the longest long poll (waitSeconds ≤ 30) plus a slow commit. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
/** Slowloris guard: the request head must arrive within this. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 20_000;

export type { ServerContext, ServerState } from './context.js';

export interface AppOptions {
  readonly state?: ServerState;
  /** A pino logger (the request log and errors); none: silent. */
  readonly logger?: FastifyBaseLogger;
  /** Whole-body cap; default SPOOL_MAX_BODY_BYTES, else 10 MiB. */
  readonly maxBodyBytes?: number;
  readonly requestTimeoutMs?: number;
  readonly headersTimeoutMs?: number;
  /** Check every response body against its documented schema (tests): a mismatch is a 500. */
  readonly validateResponses?: boolean;
  /** SPOOL_ADMIN_TOKEN (default: the variable); null or empty: open access (auth/plugin.ts). */
  readonly adminToken?: string | null;
  /** After a refusal sent while the body still arrives (413): how much more of it to read before closing (body-drain.ts). */
  readonly drainLimits?: DrainLimits;
  /** Comment lines on idle job event streams this often (default 15 s; routes/job-events.ts). */
  readonly eventHeartbeatMs?: number;
}

export function maxBodyBytesFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const text = env['SPOOL_MAX_BODY_BYTES'];
  if (text === undefined || text === '') return DEFAULT_MAX_BODY_BYTES;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new Error(`SPOOL_MAX_BODY_BYTES must be a positive integer, not "${text}"`);
  return n;
}

function newAjv(kind: 'body' | 'querystring'): Ajv {
  const ajv = new Ajv({
    allErrors: true,
    strict: false,
    // Bodies are JSON: "5" is not a number. Query strings are text: `?limit=5` must become 5.
    coerceTypes: kind === 'querystring',
    useDefaults: kind === 'querystring',
    removeAdditional: false,
  });
  (addFormats as unknown as (a: Ajv) => void)(ajv);
  return ajv;
}

/** Wrap a facade in the HTTP server; `listen` it, or call `ready()` to read `/openapi.json` without listening. */
export function buildApp(spool: Spool, options: AppOptions = {}): FastifyInstance {
  const state = options.state ?? { shuttingDown: false };
  const maxBodyBytes = options.maxBodyBytes ?? maxBodyBytesFromEnv();
  const app = Fastify({
    ...(options.logger ? { loggerInstance: options.logger } : { logger: false }),
    bodyLimit: maxBodyBytes,
    requestTimeout: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
    // One line per request, from the onResponse hook below, instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: false,
    routerOptions: { maxParamLength: 200 },
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[A-Za-z0-9._:-]{1,128}$/.test(given) ? given : randomUUID();
    },
    clientErrorHandler: answerClientError,
    // Router-level refusals (a bad %-escape, an over-long path parameter) as problems too.
    frameworkErrors: (error, _req, reply) => {
      sendProblem(reply, toProblem(error));
    },
  });
  app.server.headersTimeout = options.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS;

  const monitor = new QueueMonitor(spool);
  const waiter = new JobWaiter(spool);
  const metrics = new ServerMetrics();
  const accept = new AcceptPath(spool, monitor, (queue, reason) => metrics.admissionRejected(queue, reason));
  const ctx: ServerContext = { spool, state, monitor, accept, waiter, metrics };

  // Validation: strict bodies, params and headers; coerced query strings.
  const strict = newAjv('body');
  const query = newAjv('querystring');
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'querystring' ? query : strict).compile(schema));
  const responses = options.validateResponses ? newAjv('body') : null;
  for (const schema of SHARED_SCHEMAS) {
    app.addSchema(schema);
    responses?.addSchema(schema);
  }
  app.setSerializerCompiler(({ schema, url, method, httpStatus }) => {
    if (!responses) return (data) => JSON.stringify(data);
    const check: ValidateFunction = responses.compile(schema);
    return (data) => {
      if (!check(data)) throw new Error(`response of ${method} ${url} ${httpStatus} breaks its schema: ${responses.errorsText(check.errors)}`);
      return JSON.stringify(data);
    };
  });

  // Bodies: JSON only (text/plain and the rest are 415).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJsonBody(body as string));
    } catch (error) {
      done(error as Error, undefined);
    }
  });

  // Routes: /v1 ones must say what scope they need; every route is remembered for 405 answers.
  const routes: Array<{ methods: string[]; pattern: RegExp }> = [];
  app.addHook('onRoute', (route) => {
    if (route.url.startsWith('/v1/') && !route.config?.scope) throw new Error(`route ${String(route.method)} ${route.url} declares no config.scope`);
    const methods = (Array.isArray(route.method) ? route.method : [route.method]).map(String);
    if (route.url.startsWith('/v1/')) documentFrameworkAnswers(route, methods);
    const pattern = new RegExp(`^${route.url.replace(/[.*+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z]+/g, '[^/]+')}$`);
    routes.push({ methods, pattern });
  });

  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    if (state.shuttingDown && req.url.startsWith('/v1')) {
      reply.header('connection', 'close');
      throw new ShuttingDownError('the server is shutting down: retry on another node or after the restart');
    }
  });
  // An answer that closes the connection while the client is still sending its body (a 413 before the body
  // was read, shutdown): read and discard the rest, bounded, so the client reads the answer (body-drain.ts).
  const drainLimits = options.drainLimits ?? drainLimitsFor(maxBodyBytes);
  app.addHook('onSend', async (req, reply) => {
    if (String(reply.getHeader('connection') ?? '').toLowerCase() === 'close' && !req.raw.complete) drainThenClose(req.raw, reply.raw, drainLimits);
  });
  // Authentication and authorisation: an onRequest hook after the shutdown gate, before any body is read.
  installAuth(app, {
    spool,
    keys: new KeyRegistry(spool.store),
    adminToken: options.adminToken !== undefined ? options.adminToken : (process.env['SPOOL_ADMIN_TOKEN'] ?? null),
  });

  // The access line: answered requests below 400 at `debug` (at `info` the line cost H1 about 40% of its
  // req/s: 3,441 vs 5,827 on SQLite, 3 reps each), refusals at `info` (also the 503s of admission control and
  // shutdown: the server doing its job, not failing), server errors at `error`.
  app.addHook('onResponse', async (req, reply) => {
    const level = reply.statusCode >= 500 && !isRefusal(reply) ? 'error' : reply.statusCode >= 400 ? 'info' : 'debug';
    req.log[level](
      { method: req.method, route: req.routeOptions.url ?? null, status: reply.statusCode, ms: Math.round(reply.elapsedTime * 10) / 10 },
      'request',
    );
  });

  // Metrics (server/metrics.ts): every answered request by route template, and 429s of publish routes on a
  // queue this node knows (the key's rate limit is refused in the auth hook, before the accept path runs).
  app.addHook('onResponse', async (req, reply) => {
    metrics.request(req.method, req.routeOptions.url, reply.statusCode, reply.elapsedTime / 1000);
    const config = req.routeOptions.config;
    if (reply.statusCode === 429 && config.scope === 'publish' && config.queueParam) {
      const queue = (req.params as Record<string, unknown>)[config.queueParam];
      if (typeof queue === 'string' && monitor.knows(queue)) metrics.admissionRejected(queue, 'rate_limit');
    }
  });

  app.setErrorHandler((error, req, reply) => {
    const problem = toProblem(error);
    if (problem.status >= 500 && problem.type === `${PROBLEM_TYPE_PREFIX}internal-error`) req.log.error({ err: error }, 'request failed');
    return sendProblem(reply, problem);
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0] ?? '';
    const allowed = new Set(routes.filter((r) => r.pattern.test(path)).flatMap((r) => r.methods));
    if (allowed.size > 0) {
      const allow = [...allowed].sort().join(', ');
      return sendProblem(reply, toProblem(new HttpProblem('method-not-allowed', `${req.method} is not allowed on ${path} (allowed: ${allow})`, { headers: { allow } })));
    }
    return sendProblem(reply, new HttpProblem('not-found', `no route ${req.method} ${path}`).problem);
  });

  app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Spool HTTP API',
        version: '1',
        description: 'Queue-first job service. Errors are RFC 9457 application/problem+json. See docs/http.md.',
        license: { name: 'MIT', identifier: 'MIT' },
      },
      servers: [{ url: '/', description: 'the server answering this document' }],
      components: {
        responses: ROUTING_RESPONSES as never, // plain OpenAPI objects (schemas/common.ts)
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'SPOOL_ADMIN_TOKEN or an API key; open access when the server runs without SPOOL_ADMIN_TOKEN (loopback only)' },
        },
      },
      security: [{ bearer: [] }],
    },
    hideUntagged: false,
    // Routes whose body may be left out say so with OPTIONAL_BODY (json-body.ts): the swagger plugin marks every
    // body required, so the marker becomes `requestBody.required: false` here and is then removed.
    transformObject: (documentObject) => {
      const openapiObject = (documentObject as { openapiObject: { paths?: Record<string, unknown> } }).openapiObject;
      for (const item of Object.values(openapiObject.paths ?? {})) {
        for (const op of Object.values(item as Record<string, Record<string, unknown>>)) {
          if (op?.['x-spool-optional-body'] !== true) continue;
          delete op['x-spool-optional-body'];
          if (op['requestBody']) (op['requestBody'] as { required: boolean }).required = false;
        }
      }
      return openapiObject as never;
    },
    // Shared schemas appear under components.schemas by their $id (Problem, Job, Queue), not def-N.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json['$id'] === 'string' ? json['$id'] : `def-${i}`) },
  });
  app.register(async (scope) => {
    healthRoutes(scope, ctx);
    metricsRoutes(scope, ctx);
    queueRoutes(scope, ctx);
    jobRoutes(scope, ctx);
    jobEventRoutes(scope, ctx, options.eventHeartbeatMs !== undefined ? { heartbeatMs: options.eventHeartbeatMs } : {});
    deadRoutes(scope, ctx);
    leaseRoutes(scope, ctx);
    topicRoutes(scope, ctx);
    scheduleRoutes(scope, ctx);
    keyRoutes(scope);
    auditRoutes(scope);
    dashboardRoutes(scope);
  });
  // Before the listener closes and in-flight requests are awaited: long polls answer now, not in 30 s.
  app.addHook('preClose', async () => {
    state.shuttingDown = true;
    waiter.abortAll();
  });
  // Node's server.close() ends only the keep-alive connections idle at that moment: one still answering a
  // request would stay open after its answer until the keep-alive timeout (72 s), and the close with it (a
  // browser on the dashboard keeps its sockets). While shutting down, answers say `Connection: close`, and
  // each finished one closes the connections that are idle now.
  app.addHook('onSend', async (_req, reply) => {
    if (state.shuttingDown) reply.header('connection', 'close');
  });
  app.addHook('onResponse', async () => {
    if (state.shuttingDown) setImmediate(() => app.server.closeIdleConnections());
  });
  return app;
}

/**
 * What Fastify answers on any /v1 route before its handler runs, documented on the route (the OpenAPI
 * document must list every status a route answers): 400 (a bad query string or path), 414 (a path parameter
 * over 200 characters) on routes with parameters, and 413 / 415 on every method that may carry a body.
 */
function documentFrameworkAnswers(route: { url: string; schema?: unknown }, methods: string[]): void {
  const schema = (route.schema ??= {}) as { response?: Record<string, unknown>; hide?: boolean };
  if (schema.hide) return;
  const response = (schema.response ??= {});
  const statuses = [400, ...(route.url.includes(':') ? [414] : []), ...(methods.some((m) => m !== 'GET' && m !== 'HEAD') ? [413, 415] : [])];
  Object.assign(response, errorResponses(...statuses.filter((s) => !(String(s) in response))));
}

/** Errors Node's HTTP parser raises before Fastify sees a request (oversized or broken heads). */
function answerClientError(error: Error & { code?: string }, socket: Socket): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const tooLarge = error.code === 'HPE_HEADER_OVERFLOW';
  const timeout = error.code === 'ERR_HTTP_REQUEST_TIMEOUT';
  const status = tooLarge ? 431 : timeout ? 408 : 400;
  const body = JSON.stringify({
    type: PROBLEM_TYPE_PREFIX + (tooLarge ? 'header-fields-too-large' : timeout ? 'request-timeout' : 'invalid-request'),
    title: tooLarge ? 'Request header fields too large' : timeout ? 'Request timeout' : 'Bad request',
    status,
    detail: tooLarge ? 'the request head is larger than the server accepts' : timeout ? 'the request took too long to arrive' : 'the request could not be parsed as HTTP',
  });
  const reason = tooLarge ? 'Request Header Fields Too Large' : timeout ? 'Request Timeout' : 'Bad Request';
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
