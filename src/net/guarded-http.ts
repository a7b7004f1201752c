/**
 * Outbound HTTP for push delivery (and webhooks): POST with keep-alive agents whose sockets connect only to
 * addresses the SSRF guard accepted (target-guard.ts `guardedLookup`; literal IP hosts are checked here,
 * since sockets do not look literals up). Redirects are never followed (node:http does not follow them; a
 * 3xx is handed back as it is). One deadline covers connect, request and response; the response body is read
 * up to a cap and the rest dropped.
 *
 * Callers: push/push-delivery.ts, webhooks/webhook-delivery.ts. Owns its agents: `close()` destroys their sockets.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { isIP } from 'node:net';
import { addressRefusal, guardedLookup, normalizeHost, targetPolicyFromEnv, TargetRefusedError, type Resolver, type TargetPolicy } from './target-guard.js';

export interface PostOptions {
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
  /** Deadline for the whole exchange (connect, send, status and body). */
  readonly timeoutMs: number;
  /** Aborts the request (shutdown past its grace period, a lost lease). */
  readonly signal?: AbortSignal;
  /** Bytes of the response body kept; the rest is dropped (`truncated`). */
  readonly maxResponseBytes: number;
}

export interface PostResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
  readonly truncated: boolean;
}

export type RequestFailure = 'refused' | 'timeout' | 'aborted' | 'connection';

/** The request never produced a response: refused by the guard, timed out, aborted, or a network error. */
export class OutboundRequestError extends Error {
  readonly failure: RequestFailure;
  constructor(failure: RequestFailure, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'OutboundRequestError';
    this.failure = failure;
  }
}

export interface GuardedHttpClientOptions {
  /** The allow-list in force (default: `SPOOL_ALLOW_PRIVATE_TARGETS`, read at each connect). */
  readonly policy?: () => TargetPolicy;
  /** Name resolution (default: the system resolver); tests inject one. */
  readonly resolver?: Resolver;
  /** Sockets per target origin (default: unbounded; the callers' concurrency bounds it). */
  readonly maxSocketsPerHost?: number;
}

export class GuardedHttpClient {
  readonly #policy: () => TargetPolicy;
  readonly #http: http.Agent;
  readonly #https: https.Agent;

  constructor(options: GuardedHttpClientOptions = {}) {
    this.#policy = options.policy ?? (() => targetPolicyFromEnv());
    const lookup = guardedLookup(this.#policy, options.resolver);
    const agentOptions = { keepAlive: true, lookup, ...(options.maxSocketsPerHost ? { maxSockets: options.maxSocketsPerHost } : {}) };
    this.#http = new http.Agent(agentOptions);
    this.#https = new https.Agent(agentOptions);
  }

  /** POST `body` to `url`. Resolves with any status (2xx, 3xx, 4xx, 5xx); rejects with OutboundRequestError. */
  async post(url: string, options: PostOptions): Promise<PostResponse> {
    const target = new URL(url);
    if (target.protocol !== 'http:' && target.protocol !== 'https:') throw new OutboundRequestError('refused', `refused: ${target.protocol} is not http or https`);
    const host = normalizeHost(target.hostname);
    if (isIP(host) !== 0) {
      const refusal = addressRefusal(host, host, this.#policy());
      if (refusal) throw new OutboundRequestError('refused', new TargetRefusedError(host, host, refusal).message);
    }
    try {
      return await this.#once(target, options);
    } catch (error) {
      // A kept-alive socket the server closed meanwhile: Node's documented remedy is one retry on a new socket.
      if ((error as { reusedSocket?: boolean }).reusedSocket && isResetError((error as { cause?: unknown }).cause)) return this.#once(target, options);
      throw error;
    }
  }

  #once(target: URL, options: PostOptions): Promise<PostResponse> {
    const timeout = AbortSignal.timeout(options.timeoutMs);
    const signal = options.signal ? AbortSignal.any([timeout, options.signal]) : timeout;
    const lib = target.protocol === 'https:' ? https : http;
    return new Promise<PostResponse>((resolve, reject) => {
      if (signal.aborted) {
        reject(failureOf(signal, timeout, options.timeoutMs, undefined, target));
        return;
      }
      const body = Buffer.from(options.body);
      const req = lib.request(target, {
        method: 'POST',
        agent: target.protocol === 'https:' ? this.#https : this.#http,
        headers: { ...options.headers, 'content-length': String(body.length) },
        signal,
      });
      req.on('error', (error) => {
        const failure = failureOf(signal, timeout, options.timeoutMs, error, target);
        reject(Object.assign(failure, { reusedSocket: req.reusedSocket }));
      });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let truncated = false;
        const finish = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), truncated });
        res.on('data', (chunk: Buffer) => {
          if (truncated) return;
          const room = options.maxResponseBytes - size;
          if (chunk.length > room) {
            if (room > 0) chunks.push(chunk.subarray(0, room));
            size = options.maxResponseBytes;
            truncated = true;
            // The status is what counts: stop reading (this socket is not reused).
            res.destroy();
            finish();
            return;
          }
          chunks.push(chunk);
          size += chunk.length;
        });
        res.on('end', finish);
        res.on('error', (error) => {
          if (!truncated) reject(failureOf(signal, timeout, options.timeoutMs, error, target));
        });
      });
      req.end(body);
    });
  }

  /** Close idle and active sockets. */
  close(): void {
    this.#http.destroy();
    this.#https.destroy();
  }
}

/** A non-2xx answer in one line for an attempt's error: `<who> answered 503: <start of the body>`, redirects named as such. */
export function describeStatus(who: string, res: PostResponse): string {
  if (res.status >= 300 && res.status < 400) {
    const location = res.headers.location ? ` to ${String(res.headers.location).slice(0, 200)}` : '';
    return `${who} answered ${res.status}${location}: redirects are not followed`;
  }
  const text = res.body.toString('utf8').replace(/\s+/g, ' ').trim().slice(0, 200);
  return `${who} answered ${res.status}${text ? `: ${text}` : ''}`;
}

function failureOf(signal: AbortSignal, timeout: AbortSignal, timeoutMs: number, error: unknown, target: URL): OutboundRequestError {
  const where = `${target.protocol}//${target.host}`;
  if (timeout.aborted) return new OutboundRequestError('timeout', `no response from ${where} within ${timeoutMs} ms`, { cause: error });
  if (signal.aborted) return new OutboundRequestError('aborted', `request to ${where} aborted: ${String((signal.reason as Error | undefined)?.message ?? signal.reason)}`, { cause: error });
  if (error instanceof TargetRefusedError) return new OutboundRequestError('refused', error.message, { cause: error });
  const code = (error as { code?: string } | undefined)?.code;
  return new OutboundRequestError('connection', `request to ${where} failed: ${(error as Error | undefined)?.message ?? 'unknown error'}${code && !String((error as Error).message).includes(code) ? ` (${code})` : ''}`, { cause: error });
}

function isResetError(error: unknown): boolean {
  const code = (error as { code?: string } | undefined)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}
