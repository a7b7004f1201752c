/**
 * The standard workloads of ../shared/BENCHMARKS.md, each one repetition on a fresh store. Every job is
 * `{seq, sentAt, text}` with a 200-character text, handled by a no-op async handler; commits are durable.
 * Timings use performance.now(); the producer and the workers share this process, except that W3 and W5 can
 * consume in separate worker processes (`processes` > 1, see ./consumers.ts).
 */
import type { Spool } from '../spool.js';
import type { JobContext } from '../worker/handler.js';
import { prepareConsumers, type Consumers } from './consumers.js';
import { closedLoop, now, round, Samples, sleep } from './measure.js';

export const QUEUE = 'bench';
const TEXT = 'spool-bench-'.padEnd(200, 'x');
const IN_FLIGHT = 32;
const CONCURRENCY = 32;

export interface RunResult {
  readonly n: number;
  readonly jobsPerSec: number;
  readonly latencyMs?: { p50: number; p95: number; p99: number };
  readonly callLatencyMs?: { p50: number; p99: number };
  readonly backlogEnd?: number;
  /** With worker processes: the handler runs each process made. */
  readonly handledPerProcess?: readonly number[];
}

export interface WorkloadContext {
  /** A fresh store (new file) with the bench queue declared. */
  readonly spool: Spool;
  /** The store URL `spool` was opened with (worker processes open it too). */
  readonly location: string;
  /** Multiplies sizes and durations (quick runs). */
  readonly scale: number;
  readonly progress: (message: string) => void;
}

/** How W3 and W5 consume: 1 = a worker in this process (the standard workloads); N > 1 = N worker processes. */
export interface ConsumeOptions {
  readonly processes?: number;
}

export const payload = (seq: number) => ({ seq, sentAt: Date.now(), text: TEXT });

const noop = async (): Promise<void> => {};

// ── W1: enqueue-single ─────────────────────────────────────────────────────────────────────────────────

export async function enqueueSingle(ctx: WorkloadContext, n = scaled(50_000, ctx.scale), queue = QUEUE): Promise<RunResult> {
  const { spool } = ctx;
  const calls = new Samples();
  const before = await completedAndWaiting(spool, queue);
  const start = now();
  await closedLoop(IN_FLIGHT, n, async (seq) => {
    const t0 = now();
    await spool.enqueue(queue, payload(seq));
    calls.add(now() - t0);
  });
  const seconds = (now() - start) / 1000;
  await expectWaiting(spool, queue, before.waiting + n);
  return { n, jobsPerSec: round(n / seconds), callLatencyMs: calls.percentiles([50, 99]) };
}

// ── W2: enqueue-bulk ───────────────────────────────────────────────────────────────────────────────────

export async function enqueueBulk(ctx: WorkloadContext): Promise<RunResult> {
  const n = scaled(100_000, ctx.scale);
  const start = now();
  await fill(ctx.spool, QUEUE, n);
  const seconds = (now() - start) / 1000;
  await expectWaiting(ctx.spool, QUEUE, n);
  return { n, jobsPerSec: round(n / seconds) };
}

// ── W3: drain ──────────────────────────────────────────────────────────────────────────────────────────

export async function drain(ctx: WorkloadContext, options: { prefilled?: number } & ConsumeOptions = {}): Promise<RunResult> {
  const { spool } = ctx;
  const n = options.prefilled ?? scaled(50_000, ctx.scale);
  if (options.prefilled === undefined) await fill(spool, QUEUE, n);
  const before = await completedAndWaiting(spool, QUEUE);
  if (before.waiting !== n) throw new Error(`W3: expected ${n} queued jobs before the drain, found ${before.waiting}`);
  const consumers = await consumersFor(ctx, options);
  let handledPerProcess: readonly number[] | null;
  let seconds: number;
  try {
    const start = now();
    await consumers.start();
    await waitUntil(spool, QUEUE, (s) => s.completed >= before.completed + n, consumers);
    seconds = (now() - start) / 1000;
  } finally {
    handledPerProcess = await consumers.stop();
  }
  const after = await completedAndWaiting(spool, QUEUE);
  if (after.completed !== before.completed + n || after.waiting !== 0) {
    throw new Error(`W3: after the drain ${after.completed - before.completed} of ${n} jobs are completed and ${after.waiting} not finished`);
  }
  return { n, jobsPerSec: round(n / seconds), ...(handledPerProcess ? { handledPerProcess } : {}) };
}

// ── W4: latency at a fixed rate ────────────────────────────────────────────────────────────────────────

export async function latency(ctx: WorkloadContext): Promise<RunResult> {
  const { spool } = ctx;
  const rate = 200;
  const seconds = Math.max(1, 15 * ctx.scale);
  const n = Math.round(rate * seconds);
  const sentAt = new Float64Array(n);
  const calls = new Samples();
  const startLatency = new Samples();
  let started = 0;
  let allStarted: () => void = () => {};
  const done = new Promise<void>((resolve) => (allStarted = resolve));
  spool.handle(QUEUE, async (p: unknown, _ctx: JobContext) => {
    startLatency.add(now() - sentAt[(p as { seq: number }).seq]!);
    if (++started === n) allStarted();
  });
  const worker = await spool.work({ queues: [QUEUE], concurrency: CONCURRENCY });
  const pending: Promise<void>[] = [];
  const begin = now();
  for (let seq = 0; seq < n; seq++) {
    const due = begin + (seq * 1000) / rate;
    const wait = due - now();
    if (wait > 0.5) await sleep(wait);
    const t0 = now();
    sentAt[seq] = t0;
    pending.push(spool.enqueue(QUEUE, payload(seq)).then(() => calls.add(now() - t0)));
  }
  await Promise.all(pending);
  await Promise.race([done, sleep(30_000).then(() => Promise.reject(new Error(`W4: only ${started}/${n} jobs started within 30 s`)))]);
  const elapsed = (now() - begin) / 1000;
  await worker.stop();
  return { n, jobsPerSec: round(n / elapsed), latencyMs: startLatency.percentiles([50, 95, 99]), callLatencyMs: calls.percentiles([50, 99]) };
}

// ── W5: sustained producer + workers ───────────────────────────────────────────────────────────────────

export async function sustained(ctx: WorkloadContext, options: ConsumeOptions = {}): Promise<RunResult> {
  const { spool } = ctx;
  const durationMs = Math.max(1000, 20_000 * ctx.scale);
  const consumers = await consumersFor(ctx, options);
  let handledPerProcess: readonly number[] | null;
  let seconds: number;
  let produced: number;
  let before: Progress;
  let after: Progress;
  try {
    await consumers.start();
    before = await completedAndWaiting(spool, QUEUE);
    const start = now();
    const deadline = start + durationMs;
    const stop = () => now() >= deadline || consumers.failure() !== undefined;
    produced = await closedLoop(IN_FLIGHT, Number.MAX_SAFE_INTEGER, (seq) => spool.enqueue(QUEUE, payload(seq)).then(() => undefined), stop);
    seconds = (now() - start) / 1000;
    throwIfFailed(consumers);
    after = await completedAndWaiting(spool, QUEUE);
  } finally {
    handledPerProcess = await consumers.stop({ graceMs: 5000 });
  }
  const completed = after.completed - before.completed;
  ctx.progress(`W5: produced ${produced}, completed ${completed}, backlog ${after.waiting}`);
  return { n: completed, jobsPerSec: round(completed / seconds), backlogEnd: after.waiting, ...(handledPerProcess ? { handledPerProcess } : {}) };
}

// ── S1: backlog scale ──────────────────────────────────────────────────────────────────────────────────

/**
 * Fill the store with `total` jobs that are not the workload's: 40% waiting in another queue, 30% scheduled a
 * day ahead, 30% completed (drained through a real worker, so they are finished the normal way).
 */
export async function prefillBacklog(ctx: WorkloadContext, total: number): Promise<void> {
  const { spool } = ctx;
  const waiting = Math.round(total * 0.4);
  const scheduled = Math.round(total * 0.3);
  const finished = total - waiting - scheduled;
  await spool.declareQueue('backlog', { concurrency: CONCURRENCY });
  await spool.declareQueue('finished', { concurrency: CONCURRENCY });
  ctx.progress(`S1: prefilling ${waiting} waiting, ${scheduled} scheduled, ${finished} finished jobs`);
  await fill(spool, 'backlog', waiting);
  await fill(spool, 'backlog', scheduled, { delaySeconds: 86_400 });
  await fill(spool, 'finished', finished);
  spool.handle('finished', noop);
  const worker = await spool.work({ queues: ['finished'], concurrency: CONCURRENCY });
  await waitUntil(spool, 'finished', (s) => s.completed >= finished);
  await worker.stop();
}

// ── helpers ────────────────────────────────────────────────────────────────────────────────────────────

export function scaled(n: number, scale: number): number {
  return Math.max(100, Math.round(n * scale));
}

async function fill(spool: Spool, queue: string, n: number, options: { delaySeconds?: number } = {}): Promise<void> {
  for (let from = 0; from < n; from += 1000) {
    const size = Math.min(1000, n - from);
    await spool.enqueueMany(Array.from({ length: size }, (_, i) => ({ queue, payload: payload(from + i), ...options })));
  }
}

interface Progress {
  readonly completed: number;
  /** Not finished: scheduled, queued, active, retrying. */
  readonly waiting: number;
}

async function completedAndWaiting(spool: Spool, queue: string): Promise<Progress> {
  const [stats] = await spool.stats(queue);
  if (!stats) throw new Error(`no stats for queue ${queue}`);
  const c = stats.counts;
  return { completed: c.completed, waiting: c.scheduled + c.queued + c.active + c.retrying };
}

async function expectWaiting(spool: Spool, queue: string, expected: number): Promise<void> {
  const { waiting } = await completedAndWaiting(spool, queue);
  if (waiting !== expected) throw new Error(`${queue}: ${expected} jobs were acknowledged but ${waiting} are stored`);
}

function throwIfFailed(consumers: Consumers): void {
  const failure = consumers.failure();
  if (failure) throw failure;
}

function consumersFor(ctx: WorkloadContext, options: ConsumeOptions): Promise<Consumers> {
  return prepareConsumers({ spool: ctx.spool, location: ctx.location, queue: QUEUE, concurrency: CONCURRENCY, processes: options.processes ?? 1, progress: ctx.progress });
}

/**
 * Poll the maintained counters (cheap: no job-table scan) until `done` holds; 10 minutes at most. Every 1 ms
 * while the worker shares this process; every 5 ms while worker processes run (this process would otherwise
 * take a good part of one of the machine's two cores away from them). A failed worker process ends the wait.
 */
async function waitUntil(spool: Spool, queue: string, done: (p: Progress) => boolean, consumers?: Consumers): Promise<void> {
  const deadline = Date.now() + 600_000;
  for (;;) {
    if (consumers) throwIfFailed(consumers);
    if (done(await completedAndWaiting(spool, queue))) return;
    if (Date.now() > deadline) throw new Error(`${queue}: gave up waiting after 10 minutes`);
    await sleep(consumers?.pollMs ?? 1);
  }
}
