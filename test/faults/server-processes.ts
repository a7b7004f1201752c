/**
 * Shared by the server fault tests (test/faults/server-*.test.ts): start a real `spool serve` process (the
 * compiled CLI of test/cli/spawn.ts) on port 0 and read its address from the `listening on` line, and a
 * small HTTP/1.1 client over one keep-alive agent per caller, bounded in sockets, that reports a request which
 * got no answer (connection refused or reset: the server was killed) as `null` instead of throwing.
 */
import { Agent, request } from 'node:http';
import { spoolLong, type LongRunning } from '../cli/spawn.js';

const LISTENING = /listening on http:\/\/(127\.0\.0\.1):(\d+)$/m;

export interface Server {
  readonly process: LongRunning;
  readonly port: number;
  readonly base: string;
}

/** `spool serve --db URL --port 0`; resolves once it listens. The caller kills or stops it. */
export async function startServer(db: string, track: (p: LongRunning) => void, env: Record<string, string> = {}): Promise<Server> {
  const process = spoolLong(['serve', '--db', db, '--port', '0', '--grace', '2'], { env });
  track(process);
  const m = await process.waitForLine(LISTENING, 30_000);
  const port = Number(m[2]);
  return { process, port, base: `http://127.0.0.1:${port}` };
}

export interface Answer {
  readonly status: number;
  readonly body: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- test assertions read it freely
}

/** An HTTP client with at most `sockets` keep-alive connections; `close()` destroys them. */
export class HttpClient {
  readonly #agent: Agent;

  constructor(sockets: number) {
    this.#agent = new Agent({ keepAlive: true, maxSockets: sockets });
  }

  /** One JSON request; `null` when the server gave no complete answer (refused, reset, cut off). */
  send(port: number, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer | null> {
    const data = body === undefined ? undefined : JSON.stringify(body);
    return new Promise((resolve) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          method,
          path,
          agent: this.#agent,
          timeout: 60_000,
          headers: { ...headers, ...(data === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => (text += chunk));
          res.on('error', () => resolve(null));
          res.on('aborted', () => resolve(null));
          res.on('end', () => {
            if (!res.complete) return resolve(null);
            let parsed: unknown = undefined;
            try {
              parsed = text.length > 0 ? JSON.parse(text) : undefined;
            } catch {
              parsed = text;
            }
            resolve({ status: res.statusCode ?? 0, body: parsed });
          });
        },
      );
      req.on('error', () => resolve(null));
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.end(data);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** Run `task(i)` for i in [0, total) with at most `lanes` calls in flight. */
export async function inLanes(lanes: number, total: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(lanes, total) }, async () => {
      while (next < total) await task(next++);
    }),
  );
}
