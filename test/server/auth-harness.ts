/**
 * Set-up for the auth suites: a real HTTP server (buildApp + listen on 127.0.0.1, port 0) over a fresh store
 * of the enclosing `forEachStore` block, a `call()` helper over fetch (each exchange checked against the OpenAPI
 * document, openapi-check.ts), and key creation through the API.
 * Servers close before their Spool and store (engine harness clean-ups run last-registered first).
 */
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/server/app.js';
import type { Spool } from '../../src/spool.js';
import { onCleanup, openSpool } from '../engine/harness.js';
import { documentCheck } from './openapi-check.js';

export const ADMIN = 'test-admin-token-0123456789';

export interface Server {
  readonly base: string;
  readonly spool: Spool;
  readonly app: FastifyInstance;
  /** The store URL: another server on the same store is another node. */
  readonly url: string;
}

/** Start a server; `adminToken: null` is open access. `url` shares an existing store (a second node). */
export async function startServer(options: { adminToken?: string | null; url?: string; maxBodyBytes?: number } = {}): Promise<Server> {
  const t = await openSpool(options.url !== undefined ? { url: options.url } : {});
  const app = buildApp(t.spool, {
    adminToken: options.adminToken === undefined ? ADMIN : options.adminToken,
    validateResponses: true,
    ...(options.maxBodyBytes !== undefined ? { maxBodyBytes: options.maxBodyBytes } : {}),
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  onCleanup(() => app.close());
  const address = app.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  return { base: `http://127.0.0.1:${address.port}`, spool: t.spool, app, url: t.url };
}

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: unknown;
  readonly text: string;
}

/**
 * One request. `body` is sent as JSON; `raw` as is (with `contentType`). The body of an SSE answer is not
 * read (the stream would stay open): its status and headers are enough here.
 */
export async function call(
  base: string,
  method: string,
  path: string,
  options: { token?: string; authorization?: string; body?: unknown; raw?: string; contentType?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (options.authorization !== undefined) headers['authorization'] = options.authorization;
  else if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.raw !== undefined) {
    body = options.raw;
    headers['content-type'] = options.contentType ?? 'application/json';
  } else if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers['content-type'] = 'application/json';
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 15_000);
  try {
    const res = await fetch(base + path, { method, headers, ...(body !== undefined ? { body } : {}), signal: controller.signal });
    if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
      controller.abort();
      documentCheck().assert({ method, path, status: res.status, headers: res.headers, text: '' });
      return { status: res.status, headers: res.headers, body: null, text: '' };
    }
    const text = await res.text();
    documentCheck().assert({ method, path, status: res.status, headers: res.headers, text });
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = null;
    }
    return { status: res.status, headers: res.headers, body: parsed, text };
  } finally {
    clearTimeout(timer);
  }
}

export interface CreatedKey {
  readonly id: string;
  readonly secret: string;
}

/** Create a key through the API with the admin token; fails the test on anything but 201. */
export async function createKey(base: string, scopes: string[], extra: { name?: string; rateLimit?: { perSecond: number } } = {}): Promise<CreatedKey> {
  const r = await call(base, 'POST', '/v1/keys', { token: ADMIN, body: { name: extra.name ?? scopes.join(' '), scopes, ...(extra.rateLimit ? { rateLimit: extra.rateLimit } : {}) } });
  if (r.status !== 201) throw new Error(`creating a key answered ${r.status}: ${r.text}`);
  const body = r.body as { id: string; secret: string };
  return { id: body.id, secret: body.secret };
}
