/**
 * Authentication and authorisation of the HTTP API: one `onRequest` hook (it runs before the body is read,
 * parsed or validated, so an unauthorised caller learns nothing from validation errors and costs no parsing),
 * the per-key rate limit, and `request.auth` for the routes (who acts, what they may touch). Installed by
 * app.ts before any route; it decides from each route's `config` (route-config.ts) and never from its URL.
 *
 * Modes: `adminToken` null/empty → open access (every request acts as `open` with every scope; the serve
 * command allows this on loopback hosts only). Otherwise every route with a `config.scope` — all of /v1, and
 * any other route that opts in, e.g. `/metrics` with `scope: 'read'` — needs `Authorization: Bearer <token>`:
 * the admin token (every scope) or an API key (keys.ts). Routes without a scope (`/healthz`, `/readyz`,
 * `/openapi.json`) stay open; an unknown /v1 URL still needs a valid token before it gets its 404.
 *
 * Which queue a request touches, from the route's config:
 *   queueParam: 'queue'  the path parameter
 *   queueQuery: 'queue'  the querystring parameter (search); absent → the request spans every queue
 *   jobParam:   'id'     the job's queue, looked up here (below)
 *   topicParam: 'topic'  every queue the topic fans out to (the topic is read here, like a job)
 *   queueFilter: true    a list that filters its own output with `request.auth.allows(scope, queue)`
 *   none of these        every queue: only `admin` or a `<scope>:*` grant allows it
 *
 * Job-scoped routes (`/v1/jobs/{id}/…`) look the job up in the hook, and only for a key whose grants for that
 * scope are limited to some queues (admin and `<scope>:*` never pay the read). A job in a queue the key may
 * not touch answers 404 exactly like a job that does not exist — never 403 — so a key cannot probe other
 * queues' job ids; a key without the scope on any queue gets 403 before any lookup.
 *
 * 401 (with `WWW-Authenticate: Bearer`): no token, a malformed header, an unknown or revoked key, a wrong
 * secret. 403: a valid token without the scope for this queue. 429 + `Retry-After`: over the key's rateLimit.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { JobNotFoundError } from '../../core/errors.js';
import { isValidQueueName } from '../../core/queue-config.js';
import type { Spool } from '../../spool.js';
import type { Store } from '../../storage/store.js';
import { HttpProblem } from '../problem.js';
import { errorResponses } from '../schemas/common.js';
import type { Scope } from '../route-config.js';
import { sameSecret, sha256, type KeyRegistry } from './keys.js';
import { KeyRateLimiter } from './rate-limit.js';
import { grantsAllow, grantsMention, type Grant } from './scopes.js';

/** Who is acting on a request, and what they may do. */
export interface Principal {
  /** For the audit log: a key id, `admin-token`, or `open` (no SPOOL_ADMIN_TOKEN). */
  readonly actor: string;
  /** The API key's id, or null for the admin token and open access. */
  readonly keyId: string | null;
  /** May this principal use `scope` on `queue` (null: on every queue)? */
  allows(scope: Scope, queue: string | null): boolean;
}

export interface AuthOptions {
  readonly spool: Spool;
  readonly keys: KeyRegistry;
  /** SPOOL_ADMIN_TOKEN; null or empty: open access. */
  readonly adminToken: string | null;
  readonly limiter?: KeyRateLimiter;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by the auth hook on every route that has a `config.scope`. */
    auth: Principal;
  }
  interface FastifyInstance {
    spoolAuth: AuthContext;
  }
}

/** What route modules reach through `request.server.spoolAuth`. */
export interface AuthContext {
  readonly store: Store;
  readonly keys: KeyRegistry;
  readonly limiter: KeyRateLimiter;
  readonly open: boolean;
}

const REALM = 'Bearer realm="spool"';
// Any visible ASCII token (a superset of RFC 6750 b64token, so an admin token with other symbols still works).
const BEARER = /^Bearer +([\x21-\x7e]+) *$/i;

/** Why an admin token could never be presented in `Authorization: Bearer <token>`, or null when it can. */
export function adminTokenProblem(token: string): string | null {
  return /^[\x21-\x7e]+$/.test(token) ? null : 'SPOOL_ADMIN_TOKEN must be printable ASCII without spaces (it is sent as "Authorization: Bearer <token>")';
}
const MAX_JOB_ID_LENGTH = 128;

const ALL: Principal = Object.freeze({ actor: 'open', keyId: null, allows: () => true });
const ADMIN_TOKEN: Principal = Object.freeze({ actor: 'admin-token', keyId: null, allows: () => true });

function keyPrincipal(keyId: string, grants: readonly Grant[]): Principal {
  return { actor: keyId, keyId, allows: (scope, queue) => grantsAllow(grants, scope, queue) };
}

/** Install the hook and the request decoration on the root instance (before any route is added). */
export function installAuth(app: FastifyInstance, opts: AuthOptions): void {
  const problem = opts.adminToken ? adminTokenProblem(opts.adminToken) : null;
  if (problem) throw new Error(problem);
  const adminDigest = opts.adminToken ? sha256(opts.adminToken) : null;
  const limiter = opts.limiter ?? new KeyRateLimiter();
  app.decorate('spoolAuth', { store: opts.spool.store, keys: opts.keys, limiter, open: adminDigest === null } satisfies AuthContext);
  app.decorateRequest('auth', null as unknown as Principal);

  // Every route with a scope can answer 401, 403 and 429 (and 404 where the hook reads a job or a topic):
  // documented on each route's responses, so the OpenAPI document matches what the hook answers.
  app.addHook('onRoute', (route) => {
    const config = route.config;
    if (!config?.scope) return;
    const schema = (route.schema ??= {}) as { response?: Record<string, unknown> };
    const response = (schema.response ??= {});
    const statuses = [401, 403, 429, ...(config.jobParam || config.topicParam ? [404] : [])];
    Object.assign(response, errorResponses(...statuses.filter((s) => !(String(s) in response))));
  });

  app.addHook('onRequest', async (request) => {
    const config = request.routeOptions.config;
    const scope = request.is404 ? undefined : config.scope;
    if (!scope && !(request.is404 && (request.url ?? '').startsWith('/v1'))) return; // open routes
    if (adminDigest === null) {
      request.auth = ALL;
      return;
    }
    const principal = await authenticate(request, adminDigest, opts.keys);
    request.auth = principal.principal;
    if (!scope) return; // an unknown /v1 URL: authenticated, now its 404
    if (principal.grants === null) return; // admin token
    const grants = principal.grants;
    if (!grantsMention(grants, scope)) throw forbidden(scope, null);
    if (principal.perSecond !== null) {
      const taken = limiter.take(principal.principal.actor, principal.perSecond);
      if (!taken.ok) {
        throw new HttpProblem('rate-limited', `key ${principal.principal.actor} is over its rate limit of ${principal.perSecond} requests per second (per node)`, {
          retryAfterSeconds: taken.retryAfterSeconds,
        });
      }
    }
    if (scope === 'admin') return; // grantsMention already required the admin scope
    if (config.queueFilter) return;
    const params = request.params as Record<string, unknown>;
    if (config.queueParam) {
      const queue = params[config.queueParam];
      if (typeof queue !== 'string' || !grantsAllow(grants, scope, queue)) throw forbidden(scope, typeof queue === 'string' ? queue : null);
      return;
    }
    if (config.queueQuery) {
      const queue = (request.query as Record<string, unknown> | undefined)?.[config.queueQuery];
      const q = typeof queue === 'string' ? queue : null;
      if (!grantsAllow(grants, scope, q)) throw forbidden(scope, q);
      return;
    }
    if (config.jobParam) {
      if (grantsAllow(grants, scope, null)) return; // `<scope>:*`: no need to read the job
      const id = params[config.jobParam];
      const queue = typeof id === 'string' && id.length <= MAX_JOB_ID_LENGTH ? await jobQueue(opts.spool, id) : null;
      // Not found and "in a queue you may not touch" are the same answer: 404.
      if (queue === null || !grantsAllow(grants, scope, queue)) throw new JobNotFoundError(String(id));
      return;
    }
    if (config.topicParam) {
      if (grantsAllow(grants, scope, null)) return; // `<scope>:*`: every queue of any topic
      // An unknown topic is its 404 (topic names are configuration, not tenant data); a topic with a queue
      // outside the key's globs is 403 without naming the queue.
      const { queues } = await opts.spool.getTopic(String(params[config.topicParam]));
      if (!queues.every((q) => grantsAllow(grants, scope, q))) {
        throw new HttpProblem('forbidden', `this key lacks the ${scope} scope on every queue of this topic`, {
          headers: { 'www-authenticate': `${REALM}, error="insufficient_scope"` },
        });
      }
      return;
    }
    if (!grantsAllow(grants, scope, null)) throw forbidden(scope, null);
  });
}

interface Authenticated {
  readonly principal: Principal;
  /** null: the admin token (every scope). */
  readonly grants: readonly Grant[] | null;
  readonly perSecond: number | null;
}

async function authenticate(request: FastifyRequest, adminDigest: Buffer, keys: KeyRegistry): Promise<Authenticated> {
  const header = request.headers.authorization;
  if (header === undefined || header === '') {
    throw unauthorized('this API needs Authorization: Bearer <token> (the admin token or an API key)', REALM);
  }
  const m = BEARER.exec(header);
  if (!m) throw unauthorized('malformed Authorization header: expected "Bearer <token>"', `${REALM}, error="invalid_request"`);
  const token = m[1]!;
  if (sameSecret(token, adminDigest)) return { principal: ADMIN_TOKEN, grants: null, perSecond: null };
  const key = await keys.verify(token);
  // No bucket is touched here: a wrong secret for a live key id must not reset that key's rate limit.
  if (!key) throw unauthorized('the token is not valid (unknown, revoked or wrong)', `${REALM}, error="invalid_token"`);
  return { principal: keyPrincipal(key.id, key.grants), grants: key.grants, perSecond: key.rateLimit?.perSecond ?? null };
}

function unauthorized(detail: string, challenge: string): HttpProblem {
  return new HttpProblem('unauthorized', detail, { headers: { 'www-authenticate': challenge } });
}

function forbidden(scope: Scope, queue: string | null): HttpProblem {
  // The queue comes from the request: named in the answer only when it is a valid queue name.
  const q = queue !== null && isValidQueueName(queue) ? queue : null;
  const needed = scope === 'admin' ? 'admin' : `${scope}:${q ?? (queue === null ? '*' : 'GLOB')}`;
  const where = scope === 'admin' ? '' : q === null ? (queue === null ? ' on every queue' : ' on this queue') : ` on queue "${q}"`;
  return new HttpProblem('forbidden', `this key lacks the ${scope} scope${where} (needs ${needed}, or admin)`, {
    headers: { 'www-authenticate': `${REALM}, error="insufficient_scope", scope="${needed}"` },
  });
}

async function jobQueue(spool: Spool, id: string): Promise<string | null> {
  try {
    return (await spool.getJob(id)).queue;
  } catch (error) {
    if (error instanceof JobNotFoundError) return null;
    throw error;
  }
}

/** The principal of a request (open access when the route has no scope and the hook set nothing). */
export function principalOf(request: FastifyRequest): Principal {
  return request.auth ?? ALL;
}
