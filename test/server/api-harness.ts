/**
 * Set-up for the HTTP API suites: a real server (`buildApp` + `listen` on 127.0.0.1, port 0) over a fresh
 * store of the enclosing `forEachStore` block, with every response checked against its documented schema
 * (`validateResponses`: a body that breaks its schema is a 500, which fails the test), and `call()` — one
 * request over fetch, answering status, headers and the parsed body, and checking the exchange against the
 * OpenAPI document (openapi-check.ts; `unchecked: true` only for the checker's own tests). Servers close
 * before their Spool.
 */
import type { FastifyInstance } from 'fastify';
import { expect } from 'vitest';
import { buildApp, type AppOptions } from '../../src/server/app.js';
import type { Clock } from '../../src/core/clock.js';
import type { Spool, SpoolOptions } from '../../src/spool.js';
import { onCleanup, openSpool } from '../engine/harness.js';
import { documentCheck } from './openapi-check.js';

export interface Api {
  readonly base: string;
  readonly spool: Spool;
  readonly app: FastifyInstance;
  readonly url: string;
  call(method: string, path: string, options?: CallOptions): Promise<Answer>;
}

export interface CallOptions {
  /** Sent as JSON. */
  readonly body?: unknown;
  /** Sent as is, with `contentType` (default application/json). */
  readonly raw?: string | Uint8Array;
  readonly contentType?: string | null;
  readonly headers?: Record<string, string>;
  /** Skip the OpenAPI check (a request to something that is not the Spool server). */
  readonly unchecked?: boolean;
}

export interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- test assertions read it freely
  readonly text: string;
}

export async function startApi(
  options: AppOptions & { url?: string; clock?: Clock; spool?: Pick<SpoolOptions, 'logger' | 'openTelemetry'> } = {},
): Promise<Api> {
  const { url: shared, clock, spool: spoolOptions, ...appOptions } = options;
  const t = await openSpool({ ...spoolOptions, ...(shared !== undefined ? { url: shared } : {}), ...(clock ? { clock } : {}) });
  const app = buildApp(t.spool, { validateResponses: true, ...appOptions });
  await app.listen({ host: '127.0.0.1', port: 0 });
  onCleanup(() => app.close());
  const address = app.server.address();
  if (typeof address !== 'object' || address === null) throw new Error('no address');
  const base = `http://127.0.0.1:${address.port}`;
  return { base, spool: t.spool, app, url: t.url, call: (method, path, o) => call(base, method, path, o) };
}

export async function call(base: string, method: string, path: string, options: CallOptions = {}): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  let body: string | Uint8Array | undefined;
  if (options.raw !== undefined) body = options.raw;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined && options.contentType !== null) headers['content-type'] ??= options.contentType ?? 'application/json';
  const res = await fetch(base + path, { method, headers, body, signal: AbortSignal.timeout(40_000) });
  const text = await res.text();
  let parsed: unknown = undefined;
  if (text.length > 0 && /json/.test(res.headers.get('content-type') ?? '')) parsed = JSON.parse(text);
  if (!options.unchecked) documentCheck().assert({ method, path, status: res.status, headers: res.headers, text });
  return { status: res.status, headers: res.headers, body: parsed, text };
}

/** Assert a problem+json answer with this status (and `type` name, when given). */
export function expectProblem(answer: Answer, status: number, name?: string): void {
  expect({ status: answer.status, text: answer.text }).toMatchObject({ status });
  expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  expect(answer.body).toMatchObject({ status, title: expect.any(String), detail: expect.any(String), type: expect.stringMatching(/^urn:spool:problem:/) });
  if (name) expect(answer.body.type).toBe(`urn:spool:problem:${name}`);
}
