/**
 * A push target for the tests: a real HTTP server on 127.0.0.1 (port 0) that records every request (path,
 * headers, raw body, parsed body) and answers with a programmable function; plus the allow-list a loopback
 * target needs (`SPOOL_ALLOW_PRIVATE_TARGETS`, restored after the test) and a PushDispatcher closed after it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PushDispatcher, type PushDispatcherOptions } from '../../src/push/push-dispatcher.js';
import type { Spool } from '../../src/spool.js';
import { onCleanup } from '../engine/harness.js';

export interface ReceivedRequest {
  readonly path: string;
  readonly headers: IncomingMessage['headers'];
  readonly raw: string;
  readonly body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- assertions read it freely
  readonly at: number;
}

export type Responder = (req: ReceivedRequest, res: ServerResponse) => void;

export interface PushTargetServer {
  readonly url: string;
  readonly port: number;
  readonly received: ReceivedRequest[];
  respond: Responder;
}

export async function startTarget(respond: Responder = (_r, res) => res.end()): Promise<PushTargetServer> {
  const received: ReceivedRequest[] = [];
  const target: PushTargetServer = { url: '', port: 0, received, respond };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let body: unknown = undefined;
      try {
        body = JSON.parse(raw);
      } catch {
        body = undefined;
      }
      const r: ReceivedRequest = { path: req.url ?? '', headers: req.headers, raw, body, at: Date.now() };
      received.push(r);
      target.respond(r, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onCleanup(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  const port = (server.address() as AddressInfo).port;
  return Object.assign(target, { port, url: `http://127.0.0.1:${port}` });
}

/** Set SPOOL_ALLOW_PRIVATE_TARGETS for this test (undefined: unset); the old value comes back afterwards. */
export function allowPrivateTargets(value: string | undefined): void {
  const before = process.env['SPOOL_ALLOW_PRIVATE_TARGETS'];
  if (value === undefined) delete process.env['SPOOL_ALLOW_PRIVATE_TARGETS'];
  else process.env['SPOOL_ALLOW_PRIVATE_TARGETS'] = value;
  onCleanup(() => {
    if (before === undefined) delete process.env['SPOOL_ALLOW_PRIVATE_TARGETS'];
    else process.env['SPOOL_ALLOW_PRIVATE_TARGETS'] = before;
  });
}

/** A started dispatcher on `spool` (quick to notice config changes), stopped after the test. */
export async function startDispatcher(spool: Spool, options: PushDispatcherOptions = {}): Promise<PushDispatcher> {
  const dispatcher = new PushDispatcher(spool, { refreshMs: 100, shutdownGraceMs: 2000, pollIntervalMs: 200, ...options });
  await dispatcher.start();
  onCleanup(() => dispatcher.stop({ graceMs: 0 }));
  return dispatcher;
}

export const SECRET = `whsec_${Buffer.from('push-target-secret-0123456789abcd').toString('base64')}`;
