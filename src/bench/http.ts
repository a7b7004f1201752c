/**
 * The HTTP workloads of ../shared/BENCHMARKS.md, each one repetition (the store ones on the fresh store of
 * run.ts's Bench, which also declared the queue):
 *   H1 — a real `spool serve` child on the store; autocannon, in a process of its own, POSTs the bench job to
 *        /v1/queues/bench/jobs over 64 connections for 15 s. Every 202's id is collected from its body and
 *        looked up in the store after the server has stopped: `lost` counts the ids not found.
 *   H2 — H1 with a unique Idempotency-Key per request.
 *   L0 — the same load against a bare Fastify route in its own process (./http-limit-server.ts); no store.
 *   H3 — 20,000 jobs queued (not timed) on a queue whose `target` is a loopback HTTP server in this process
 *        answering 200; the clock runs from the queue's resume over HTTP until its `completed` counter
 *        reaches 20,000, the server's push dispatcher doing the deliveries.
 * Sizes and durations scale with --scale. Called by run.ts; the processes live in ./http-processes.ts.
 */
import { createServer, type Server } from 'node:http';
import { performance } from 'node:perf_hooks';
import { round, sleep } from './measure.js';
import { runLoad, ServerProcess } from './http-processes.js';
import { payload, QUEUE, scaled, type RunResult, type WorkloadContext } from './workloads.js';

/** An HTTP workload's repetition: the run's figures plus the counts BENCHMARKS.md asks for. */
export interface HttpRunResult extends RunResult {
  /** Requests that did not get a 2xx: other statuses plus requests with no answer (socket errors, timeouts). */
  readonly non2xx: number | null;
  /** 202'd ids not found in the store afterwards. */
  readonly lost: number | null;
  /** One line on what happened (counts), for the progress line and the row's notes. */
  readonly detail: string;
}

const CONNECTIONS = 64;
const DURATION_SECONDS = 15;
const PUSH_JOBS = 20_000;
/** Ids looked up per store call when counting lost jobs. */
const LOOKUP_BATCH = 1000;

const durationOf = (scale: number): number => Math.max(1, Math.round(DURATION_SECONDS * scale));

/**
 * The environment of a server child: this process's, without SPOOL_* settings that would change what is
 * measured (a token, a config file, handlers, host/port/db), keeping the log level and body cap if set.
 */
function serverEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!k.startsWith('SPOOL_') || k === 'SPOOL_LOG_LEVEL' || k === 'SPOOL_MAX_BODY_BYTES') env[k] = v;
  }
  return { ...env, ...extra };
}

/** The log level `spool serve` runs at in these workloads (its default unless SPOOL_LOG_LEVEL says otherwise). */
export const serverLogLevel = (): string => process.env['SPOOL_LOG_LEVEL'] ?? 'info';

export function startSpoolServe(ctx: WorkloadContext, env: Record<string, string> = {}): Promise<ServerProcess> {
  return ServerProcess.start('spool serve', '../cli/main', ['serve', '--db', ctx.location, '--port', '0', '--grace', '5'], serverEnv(env));
}

// ── H1, H2: the accept path ────────────────────────────────────────────────────────────────────────────

export async function httpAccept(ctx: WorkloadContext, options: { idempotencyKeys: boolean }): Promise<HttpRunResult> {
  const server = await startSpoolServe(ctx);
  let load;
  try {
    load = await runLoad({
      url: server.url,
      path: `/v1/queues/${QUEUE}/jobs`,
      connections: CONNECTIONS,
      durationSeconds: durationOf(ctx.scale),
      idempotencyKeys: options.idempotencyKeys,
      collectIds: true,
    });
    // Graceful stop: requests cut off when the load ended finish their commits before the store is read.
    await server.stop();
  } finally {
    server.kill();
  }
  if (load.ids.length !== (load.statusCodes['202'] ?? 0)) {
    throw new Error(`${load.statusCodes['202'] ?? 0} answers were 202 but ${load.ids.length} of them carried an id`);
  }
  const ids = [...new Set(load.ids)];
  if (ids.length !== load.ids.length) throw new Error(`${load.ids.length - ids.length} ids were answered 202 more than once`);
  let found = 0;
  for (let i = 0; i < ids.length; i += LOOKUP_BATCH) found += (await ctx.spool.store.jobGetMany({ ids: ids.slice(i, i + LOOKUP_BATCH) })).length;
  const [stats] = await ctx.spool.stats(QUEUE);
  const stored = stats ? stats.counts.queued + stats.counts.scheduled : 0;
  const codes = Object.entries(load.statusCodes).map(([code, count]) => `${count.toLocaleString('en-US')}×${code}`).join(', ');
  return {
    n: load.ok,
    jobsPerSec: round(load.ok / load.seconds),
    callLatencyMs: load.latencyMs,
    non2xx: load.non2xx + load.errors,
    lost: ids.length - found,
    detail: `${codes || 'no answers'}; ${load.errors} socket errors (${load.timeouts} timeouts); ${stored.toLocaleString('en-US')} jobs stored`,
  };
}

// ── L0: the limit ──────────────────────────────────────────────────────────────────────────────────────

export async function httpLimit(scale: number): Promise<HttpRunResult> {
  const server = await ServerProcess.start('the L0 server', './http-limit-server', [], serverEnv());
  let load;
  try {
    load = await runLoad({ url: server.url, path: `/v1/queues/${QUEUE}/jobs`, connections: CONNECTIONS, durationSeconds: durationOf(scale), idempotencyKeys: false, collectIds: false });
    await server.stop();
  } finally {
    server.kill();
  }
  return {
    n: load.ok,
    jobsPerSec: round(load.ok / load.seconds),
    callLatencyMs: load.latencyMs,
    non2xx: load.non2xx + load.errors,
    lost: null,
    detail: `${load.ok.toLocaleString('en-US')} 2xx; ${load.errors} socket errors (${load.timeouts} timeouts)`,
  };
}

// ── H3: push delivery ──────────────────────────────────────────────────────────────────────────────────

export async function pushDelivery(ctx: WorkloadContext): Promise<HttpRunResult> {
  const { spool } = ctx;
  const n = scaled(PUSH_JOBS, ctx.scale);
  const target = await LoopbackTarget.start();
  let server: ServerProcess | undefined;
  try {
    // The SSRF guard refuses a loopback target at declaration unless allowed: allow exactly this one, for this call.
    const allowed = process.env['SPOOL_ALLOW_PRIVATE_TARGETS'];
    process.env['SPOOL_ALLOW_PRIVATE_TARGETS'] = '127.0.0.1';
    try {
      await spool.declareQueue(QUEUE, { concurrency: 32, target: { url: `${target.url}/deliver`, timeoutSeconds: 30 } });
    } finally {
      if (allowed === undefined) delete process.env['SPOOL_ALLOW_PRIVATE_TARGETS'];
      else process.env['SPOOL_ALLOW_PRIVATE_TARGETS'] = allowed;
    }
    await spool.pauseQueue(QUEUE); // filled while paused: the clock starts at the resume
    for (let from = 0; from < n; from += 1000) {
      const size = Math.min(1000, n - from);
      await spool.enqueueMany(Array.from({ length: size }, (_, i) => ({ queue: QUEUE, payload: payload(from + i) })));
    }
    // The target is on loopback: the server's SSRF guard lets exactly this address through.
    server = await startSpoolServe(ctx, { SPOOL_ALLOW_PRIVATE_TARGETS: '127.0.0.1' });
    const start = performance.now();
    const resumed = await fetch(`${server.url}/v1/queues/${QUEUE}/resume`, { method: 'POST' });
    if (resumed.status !== 200) throw new Error(`resuming the queue answered ${resumed.status}: ${await resumed.text()}`);
    const deadline = Date.now() + 600_000;
    for (;;) {
      const [stats] = await spool.stats(QUEUE);
      if ((stats?.counts.completed ?? 0) >= n) break;
      if (!server.running) throw new Error(`spool serve exited during the deliveries; its stderr ends: ${server.stderrTail.trim().split('\n').slice(-5).join(' | ')}`);
      if (Date.now() > deadline) throw new Error(`H3: ${stats?.counts.completed ?? 0} of ${n} jobs delivered after 10 minutes`);
      await sleep(5); // not 1 ms: this process also answers the deliveries
    }
    const seconds = (performance.now() - start) / 1000;
    await server.stop();
    const [stats] = await spool.stats(QUEUE);
    if (stats?.counts.completed !== n || target.distinct !== n) {
      throw new Error(`H3: ${stats?.counts.completed} jobs completed and ${target.distinct} distinct jobs delivered, expected ${n}`);
    }
    return {
      n,
      jobsPerSec: round(n / seconds),
      non2xx: null,
      lost: null,
      detail: `${target.requests.toLocaleString('en-US')} deliveries of ${n.toLocaleString('en-US')} jobs (${target.requests - n} repeated), ${stats.totals.failed} failed attempts`,
    };
  } finally {
    server?.kill();
    await target.close();
  }
}

/** The push target: a plain node:http server on 127.0.0.1 answering 200 to every POST, counting job ids. */
class LoopbackTarget {
  requests = 0;
  url = '';
  readonly #ids = new Set<string>();
  readonly #server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      this.requests++;
      const id = req.headers['spool-job-id'];
      if (typeof id === 'string') this.#ids.add(id);
      res.writeHead(200, { 'content-length': '0' }).end();
    });
  });

  static async start(): Promise<LoopbackTarget> {
    const target = new LoopbackTarget();
    await new Promise<void>((resolve, reject) => {
      target.#server.once('error', reject);
      target.#server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = target.#server.address();
    target.url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
    return target;
  }

  get distinct(): number {
    return this.#ids.size;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
