/**
 * The load generator of the HTTP workloads, a process of its own (forked by ./http-processes.ts, config as
 * JSON in argv[2], the result back over IPC): autocannon POSTs the bench job `{payload: {seq, sentAt, text}}`
 * to one URL over `connections` keep-alive connections for `durationSeconds`; with `idempotencyKeys` every
 * request carries a unique `Idempotency-Key`. With `collectIds` it keeps the `id` of every 202 answer, so the
 * bench can look each one up in the store afterwards. Exits when the bench's IPC channel closes.
 */
import autocannon from 'autocannon';
import { payload } from './workloads.js';

export interface LoadConfig {
  readonly url: string;
  readonly path: string;
  readonly connections: number;
  readonly durationSeconds: number;
  readonly idempotencyKeys: boolean;
  readonly collectIds: boolean;
}

export interface LoadResult {
  /** Responses with a 2xx status, and with any other status. */
  readonly ok: number;
  readonly non2xx: number;
  /** Requests that got no answer: socket errors, including timeouts (autocannon's `errors`). */
  readonly errors: number;
  readonly timeouts: number;
  /** Length of the run, seconds (autocannon's own `duration`). */
  readonly seconds: number;
  /** Request latency, ms (autocannon's HDR histogram). */
  readonly latencyMs: { readonly p50: number; readonly p99: number };
  /** The status codes seen, with counts. */
  readonly statusCodes: Record<string, number>;
  /** The ids of the 202 answers (collectIds). */
  readonly ids: readonly string[];
}

const ID = /"id":"([^"]+)"/;

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '{}') as LoadConfig;
  const ids: string[] = [];
  let seq = 0;
  const result = await autocannon({
    url: config.url,
    connections: config.connections,
    duration: config.durationSeconds,
    requests: [
      {
        method: 'POST',
        path: config.path,
        headers: { 'content-type': 'application/json' },
        // A fresh body per request (seq, sentAt) and, for H2, a key of its own.
        setupRequest: (request) => {
          const n = seq++;
          const headers = config.idempotencyKeys ? { ...request.headers, 'idempotency-key': `bench-${process.pid}-${n}` } : request.headers;
          return { ...request, headers, body: JSON.stringify({ payload: payload(n) }) };
        },
        ...(config.collectIds
          ? {
              onResponse: (status: number, body: string) => {
                if (status !== 202) return;
                const m = ID.exec(body);
                if (m) ids.push(m[1]!);
              },
            }
          : {}),
      },
    ],
  });
  const statusCodes: Record<string, number> = {};
  for (const [code, s] of Object.entries(result.statusCodeStats ?? {})) statusCodes[code] = s.count ?? 0;
  const out: LoadResult = {
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    seconds: result.duration,
    latencyMs: { p50: result.latency.p50, p99: result.latency.p99 },
    statusCodes,
    ids,
  };
  process.send!({ type: 'result', result: out }, () => process.exit(0));
}

if (process.send) {
  process.on('disconnect', () => process.exit(1));
  main().catch((error: unknown) => {
    process.send!({ type: 'error', message: error instanceof Error ? error.message : String(error) }, () => process.exit(1));
  });
}
