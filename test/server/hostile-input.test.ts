/**
 * Hostile and broken requests, on every store: each one must get an `application/problem+json` 4xx (never
 * a 5xx, never a hang), write nothing, and leave the server healthy — checked after every request and once
 * more at the end by a valid enqueue and the queue's totals. Some requests go over a raw socket because
 * fetch would refuse to send them (a lying Content-Length, oversized heads, unnormalised paths).
 */
import { connect } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/server/app.js';
import { Spool } from '../../src/spool.js';
import { forEachStore } from '../engine/harness.js';
import { call, type Answer } from './api-harness.js';

const MAX_BODY = 64 * 1024;
const JOBS = '/v1/queues/q/jobs';

/** Send raw bytes; answer the status, headers and body of the response (the server may close after it). */
function raw(port: number, head: string, body: string | Buffer = ''): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('no answer within 10 s'));
    }, 10_000);
    const finish = () => {
      clearTimeout(timer);
      const text = Buffer.concat(chunks).toString('latin1');
      const [headText = '', ...rest] = text.split('\r\n\r\n');
      const [statusLine = '', ...headerLines] = headText.split('\r\n');
      const headers = new Headers();
      for (const line of headerLines) {
        const i = line.indexOf(':');
        if (i > 0) headers.append(line.slice(0, i).trim(), line.slice(i + 1).trim());
      }
      let bodyText = rest.join('\r\n\r\n');
      if (/chunked/i.test(headers.get('transfer-encoding') ?? '')) bodyText = dechunk(bodyText);
      const status = Number(statusLine.split(' ')[1]);
      let parsed: unknown;
      try {
        parsed = bodyText ? JSON.parse(bodyText) : undefined;
      } catch {
        parsed = undefined;
      }
      resolve({ status, headers, body: parsed, text: bodyText });
    };
    socket.on('data', (c) => {
      chunks.push(c);
      // A complete answer with Content-Length: stop reading (keep-alive would hold the socket open).
      const text = Buffer.concat(chunks).toString('latin1');
      const m = /content-length: *(\d+)/i.exec(text);
      const end = text.indexOf('\r\n\r\n');
      if (m && end >= 0 && Buffer.byteLength(text.slice(end + 4), 'latin1') >= Number(m[1])) {
        socket.destroy();
        finish();
      }
    });
    socket.on('error', () => undefined); // the server may reset a connection whose body it refused
    socket.on('close', () => {
      if (!socket.destroyed || chunks.length > 0) finish();
    });
    socket.write(head);
    if (body.length > 0) socket.write(body);
  });
}

function dechunk(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const i = rest.indexOf('\r\n');
    if (i < 0) return out;
    const size = parseInt(rest.slice(0, i), 16);
    if (!size) return out;
    out += rest.slice(i + 2, i + 2 + size);
    rest = rest.slice(i + 2 + size + 2);
  }
}

const nest = (depth: number, inner = '1') => '['.repeat(depth) + inner + ']'.repeat(depth);
const post = (body: string, headers: Record<string, string> = {}) => (base: string) => call(base, 'POST', JOBS, { raw: body, headers });
const json = (body: unknown, headers: Record<string, string> = {}) => post(JSON.stringify(body), headers);
const get = (path: string, headers: Record<string, string> = {}) => (base: string) => call(base, 'GET', path, { headers });
const rawPost = (path: string, contentType: string, body: string) => (_base: string, port: number) =>
  raw(port, `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`, body);

type Case = readonly [name: string, send: (base: string, port: number) => Promise<Answer>, status: number];

const CASES: readonly Case[] = [
  // Malformed JSON and wrong shapes.
  ['unterminated object', post('{'), 400],
  ['missing value', post('{"payload": }'), 400],
  ['trailing garbage', post('{"payload": 1} x'), 400],
  ['single quotes', post("{'payload': 1}"), 400],
  ['NaN literal', post('{"payload": NaN}'), 400],
  ['empty body with a JSON content type', post(''), 400],
  ['null body', post('null'), 400],
  ['array body', post('[]'), 400],
  ['string body', post('"payload"'), 400],
  ['number body', post('5'), 400],
  ['invalid UTF-8 bytes', (base) => call(base, 'POST', JOBS, { raw: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]) }), 400],
  // Wrong content types.
  ['text/plain', post('{"payload":1}', { 'content-type': 'text/plain' }), 415],
  ['application/xml', post('<payload/>', { 'content-type': 'application/xml' }), 415],
  ['form encoded', post('payload=1', { 'content-type': 'application/x-www-form-urlencoded' }), 415],
  ['multipart', post('--x\r\n\r\n1\r\n--x--', { 'content-type': 'multipart/form-data; boundary=x' }), 415],
  ['a body without a content type', (base) => call(base, 'POST', JOBS, { raw: '{"payload":1}', contentType: null }), 415],
  // Strict fields: unknown, coerced, out of range.
  ['unknown top-level field', json({ payload: 1, colour: 'red' }), 400],
  ['"5" for a number', json({ payload: 1, maxAttempts: '5' }), 400],
  ['true for a number', json({ payload: 1, delaySeconds: true }), 400],
  ['a number for a string', json({ payload: 1, orderingKey: 5 }), 400],
  ['unknown priority', json({ payload: 1, priority: 'urgent' }), 400],
  ['fractional maxAttempts', json({ payload: 1, maxAttempts: 1.5 }), 400],
  ['negative maxAttempts', json({ payload: 1, maxAttempts: -1 }), 400],
  ['huge maxAttempts', json({ payload: 1, maxAttempts: 1e300 }), 400],
  ['1e400 (Infinity) for delaySeconds', post('{"payload": 1, "delaySeconds": 1e400}'), 400],
  ['1e400 inside the payload', post('{"payload": {"n": -1e400}}'), 400],
  ['version 0', json({ payload: 1, version: 0 }), 400],
  ['runAt not a date', json({ payload: 1, runAt: 'tomorrow' }), 400],
  ['no payload', json({}), 400],
  ['empty orderingKey', json({ payload: 1, orderingKey: '' }), 400],
  ['orderingKey of 10,000 characters', json({ payload: 1, orderingKey: 'k'.repeat(10_000) }), 400],
  ['callbackUrl not a URL', json({ payload: 1, callbackUrl: 'not a url' }), 400],
  // Nesting and prototype pollution.
  ['payload nested 100 deep', post(`{"payload": ${nest(100)}}`), 400],
  ['payload nested 30,000 deep', post(`{"payload": ${nest(30_000)}}`), 400],
  ['objects nested 200 deep', post(`{"payload": ${'{"a":'.repeat(200)}1${'}'.repeat(200)}}`), 400],
  ['__proto__ at the top', post('{"payload": 1, "__proto__": {"admin": true}}'), 400],
  ['__proto__ in the payload', post('{"payload": {"x": {"__proto__": {"admin": true}}}}'), 400],
  ['constructor.prototype in the payload', post('{"payload": {"constructor": {"prototype": {"admin": true}}}}'), 400],
  ['constructor at the top', post('{"payload": 1, "constructor": {}}'), 400],
  // Size.
  ['a body over SPOOL_MAX_BODY_BYTES', json({ payload: 'x'.repeat(MAX_BODY) }), 413],
  [
    'a Content-Length over the cap (refused before the body is sent)',
    (_b, port) => raw(port, `POST ${JOBS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\nConnection: close\r\n\r\n`, '{"payload":'),
    413,
  ],
  [
    'a chunked body over the cap',
    (_b, port) => {
      const chunk = `{"payload":"${'x'.repeat(MAX_BODY + 10)}"}`;
      return raw(port, `POST ${JOBS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n`, `${chunk.length.toString(16)}\r\n${chunk}\r\n0\r\n\r\n`);
    },
    413,
  ],
  ['a batch of 1,001 jobs', (base) => call(base, 'POST', `${JOBS}/batch`, { body: { jobs: Array.from({ length: 1001 }, () => ({ payload: 1 })) } }), 400],
  ['a batch whose jobs is not an array', (base) => call(base, 'POST', `${JOBS}/batch`, { body: { jobs: { payload: 1 } } }), 400],
  ['a batch item with an unknown field', (base) => call(base, 'POST', `${JOBS}/batch`, { body: { jobs: [{ payload: 1 }, { payload: 1, evil: true }] } }), 400],
  // Names, paths and ids.
  ['queue name starting with a dash', (base) => call(base, 'POST', '/v1/queues/-q/jobs', { body: { payload: 1 } }), 400],
  ['queue name of 65 characters', (base) => call(base, 'POST', `/v1/queues/${'q'.repeat(65)}/jobs`, { body: { payload: 1 } }), 400],
  ['encoded path traversal in a queue name', (base) => call(base, 'PUT', '/v1/queues/..%2F..%2Fetc%2Fpasswd', { body: {} }), 400],
  ['raw path traversal', (_b, port) => raw(port, 'GET /v1/queues/../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), 404],
  ['a NUL byte in a queue name', (base) => call(base, 'PUT', '/v1/queues/q%00x', { body: {} }), 400],
  ['a queue name of 500 characters', (base) => call(base, 'GET', `/v1/queues/${'q'.repeat(500)}`), 414],
  ['a broken %-escape in the path', get('/v1/queues/%zz'), 400],
  ['markup in a job id', get('/v1/jobs/%3Cscript%3Ealert(1)%3C%2Fscript%3E'), 400],
  ['an unknown route', get('/v1/nothing-here'), 404],
  ['an unknown route outside /v1', get('/etc/passwd'), 404],
  ['a method the route does not have', (base) => call(base, 'DELETE', '/v1/queues/q'), 405],
  // Query strings.
  ['limit not a number', get('/v1/jobs?limit=abc'), 400],
  ['limit negative', get('/v1/jobs?limit=-1'), 400],
  ['limit twice', get('/v1/jobs?limit=1&limit=2'), 400],
  ['an unknown query parameter', get('/v1/jobs?colour=red'), 400],
  ['waitSeconds far over 30', get('/v1/jobs/abc?waitSeconds=1e9'), 400],
  ['__proto__ as a query parameter', get('/v1/jobs?__proto__=1'), 400],
  ['dryRun not a boolean', (base) => call(base, 'POST', `${JOBS}?dryRun=perhaps`, { body: { payload: 1 } }), 400],
  // Headers and broken HTTP.
  ['a 64 KiB header', (base) => call(base, 'GET', '/v1/queues', { headers: { 'x-big': 'x'.repeat(64 * 1024) } }), 431],
  ['a 20 KiB Idempotency-Key', (_b, port) => raw(port, `POST ${JOBS} HTTP/1.1\r\nHost: x\r\nIdempotency-Key: ${'k'.repeat(20_000)}\r\nContent-Type: application/json\r\nContent-Length: 13\r\nConnection: close\r\n\r\n`, '{"payload":1}'), 431],
  ['an Idempotency-Key of 300 characters', json({ payload: 1 }, { 'idempotency-key': 'k'.repeat(300) }), 400],
  ['an Idempotency-Key with non-ASCII bytes', (_b, port) => raw(port, `POST ${JOBS} HTTP/1.1\r\nHost: x\r\nIdempotency-Key: cl\u00e9\r\nContent-Type: application/json\r\nContent-Length: 13\r\nConnection: close\r\n\r\n`, '{"payload":1}'), 400],
  ['an X-Correlation-Id of 1,000 characters', json({ payload: 1 }, { 'x-correlation-id': 'c'.repeat(1000) }), 400],
  ['a Content-Length that is not a number', (_b, port) => raw(port, `POST ${JOBS} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: abc\r\nConnection: close\r\n\r\n`), 400],
  ['a request line that is not HTTP', (_b, port) => raw(port, 'HELLO THERE\r\n\r\n'), 400],
  ['form content type on PUT queue', rawPost('/v1/queues/q/pause', 'application/x-www-form-urlencoded', 'a=1'), 415],
];

forEachStore((store) => {
  describe('hostile input', () => {
    let spool: Spool;
    let app: FastifyInstance;
    let base = '';
    let port = 0;
    let dispose: () => Promise<void> = async () => undefined;

    beforeAll(async () => {
      const location = await store.newLocation({ file: import.meta.filename });
      dispose = () => location.dispose();
      spool = await Spool.open(location.url);
      app = buildApp(spool, { validateResponses: true, maxBodyBytes: MAX_BODY });
      await app.listen({ host: '127.0.0.1', port: 0 });
      port = (app.server.address() as { port: number }).port;
      base = `http://127.0.0.1:${port}`;
      expect((await call(base, 'PUT', '/v1/queues/q', { body: {} })).status).toBe(201);
    });
    afterAll(async () => {
      await app?.close();
      await spool?.close();
      await dispose();
    });

    it(`has at least 50 cases (${CASES.length})`, () => {
      expect(CASES.length).toBeGreaterThanOrEqual(50);
    });

    it.each(CASES)('%s → problem+json %i, server still healthy', async (_name, send, status) => {
      const answer = await send(base, port);
      expect({ status: answer.status, body: answer.text.slice(0, 300) }).toMatchObject({ status });
      expect(answer.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(answer.body).toMatchObject({ type: expect.stringMatching(/^urn:spool:problem:/), title: expect.any(String), status, detail: expect.any(String) });
      expect((await call(base, 'GET', '/healthz')).status).toBe(200);
    });

    it('wrote nothing, and still accepts a valid job', async () => {
      const queue = await call(base, 'GET', '/v1/queues/q');
      expect(queue.body.stats.totals.enqueued).toBe(0);
      expect((await call(base, 'POST', JOBS, { body: { payload: { ok: true } } })).status).toBe(202);
      expect((await call(base, 'GET', '/readyz')).status).toBe(200);
    });
  });
});
