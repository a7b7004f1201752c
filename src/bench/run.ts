/**
 * `spool bench`: runs the standard workloads against a fresh store per repetition, reports medians with
 * min–max, and reads the durability settings back from the store it measured. Progress goes to stderr;
 * the table (or, with --json, one JSON array) to stdout. `--processes N` runs the consuming side of W3 and W5
 * in N worker processes (./consumers.ts); those rows are labelled `W3×Np`, `W5×Np`. The HTTP workloads (H1, H2,
 * H3 against a real `spool serve` child on the fresh store, L0 against a bare Fastify route) are in ./http.ts;
 * M1 (scrape time of /metrics and /v1/queues with a million stored jobs) in ./scrape.ts.
 */
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { InvalidArgumentError } from '../core/errors.js';
import { Spool } from '../spool.js';
import { parseStoreUrl, removeScratchStore } from '../storage/open-store.js';
import { filesystemOf, median, round } from './measure.js';
import { formatTable, type BenchRow } from './report.js';
import { httpAccept, httpLimit, pushDelivery, serverLogLevel, type HttpRunResult } from './http.js';
import type { StoreDurability } from '../storage/store.js';
import { scrapeTime, SCRAPES, type ScrapeRuns } from './scrape.js';
import { drain, enqueueBulk, enqueueSingle, latency, prefillBacklog, QUEUE, sustained, type RunResult, type WorkloadContext } from './workloads.js';

export interface BenchFlags {
  readonly db?: string;
  readonly workload: string;
  readonly reps: string;
  readonly scale: string;
  /** Comma-separated worker-process counts for W3 and W5 (1: in-process, the standard workloads). */
  readonly processes?: string;
  readonly json?: boolean;
}


const WORKLOADS = ['W1', 'W2', 'W3', 'W4', 'W5', 'S1', 'M1', 'L0', 'H1', 'H2', 'H3'] as const;
type WorkloadId = (typeof WORKLOADS)[number];
const S1_BACKLOG = 1_000_000;
/** The workloads whose consuming side can run in worker processes. */
const MULTI_PROCESS: ReadonlySet<WorkloadId> = new Set(['W3', 'W5']);
const MAX_PROCESSES = 16;

export async function runBench(flags: BenchFlags): Promise<void> {
  const selected = parseWorkloads(flags.workload);
  const reps = positiveInt('--reps', flags.reps);
  const scale = Number(flags.scale);
  if (!Number.isFinite(scale) || scale <= 0 || scale > 10) throw new InvalidArgumentError(`--scale must be a number in (0, 10], got "${flags.scale}"`);
  const processes = parseProcesses(flags.processes ?? '1');
  if (!processes.every((p) => p === 1) && ![...selected].some((id) => MULTI_PROCESS.has(id))) {
    throw new InvalidArgumentError(`--processes applies to ${[...MULTI_PROCESS].join(' and ')}; none of them is selected`);
  }
  const bench = new Bench(flags.db, reps, scale, processes);
  const rows: BenchRow[] = [];
  for (const id of WORKLOADS) if (selected.has(id)) rows.push(...(await bench.run(id)));
  process.stdout.write(flags.json ? `${JSON.stringify(rows, null, 2)}\n` : formatTable(rows));
}

class Bench {
  readonly #reps: number;
  readonly #scale: number;
  readonly #processes: readonly number[];
  readonly #kind: 'sqlite' | 'postgres';
  /** SQLite: the path prefix of the per-run files. PostgreSQL: the database URL the per-run schemas go in. */
  readonly #base: string;
  readonly #results = new Map<string, BenchRow>();
  /** Worker-process rows: the handler runs per process, one list per repetition. */
  readonly #handled = new Map<string, (readonly number[])[]>();
  #files = 0;

  constructor(db: string | undefined, reps: number, scale: number, processes: readonly number[]) {
    this.#reps = reps;
    this.#scale = scale;
    this.#processes = processes;
    const target = parseStoreUrl(db ?? 'sqlite:./.spool/bench/bench.db');
    this.#kind = target.kind;
    if (target.kind === 'postgres') {
      const url = new URL(target.url);
      url.searchParams.delete('schema'); // every run gets a schema of its own, dropped afterwards
      this.#base = url.toString();
      return;
    }
    if (target.path === ':memory:') throw new InvalidArgumentError('an in-memory database is not a durable result; give a file path');
    mkdirSync(dirname(resolve(target.path)), { recursive: true });
    this.#base = target.path.replace(/\.db$/, '');
  }

  async run(id: WorkloadId): Promise<BenchRow[]> {
    switch (id) {
      case 'W1':
        return [await this.#repeat('W1', (ctx) => enqueueSingle(ctx))];
      case 'W2':
        return [await this.#repeat('W2', enqueueBulk)];
      case 'W3':
        return this.#perProcessCount('W3', (ctx, processes) => drain(ctx, { processes }));
      case 'W4':
        return [await this.#repeat('W4', latency)];
      case 'W5':
        return this.#perProcessCount('W5', (ctx, processes) => sustained(ctx, { processes }));
      case 'S1':
        return this.#backlogScale();
      case 'M1':
        return this.#scrapeTime();
      case 'L0':
        return [await this.#limit()];
      case 'H1': {
        // H1 is reported as a ratio to L0 measured in this run: reuse L0 if it ran, else run (and report) it now.
        const known = this.#results.get('L0');
        const limit = known ?? (await this.#limit());
        const row = await this.#repeat('H1', (ctx) => httpAccept(ctx, { idempotencyKeys: false }));
        row.ratio = round(row.jobsPerSec / limit.jobsPerSec, 3);
        row.notes = `${row.notes}; ratio to L0 (${limit.jobsPerSec.toLocaleString('en-US')} req/s)`;
        return known ? [row] : [limit, row];
      }
      case 'H2':
        return [await this.#repeat('H2', (ctx) => httpAccept(ctx, { idempotencyKeys: true }))];
      case 'H3':
        return [await this.#repeat('H3', pushDelivery)];
    }
  }

  /** L0: the bare Fastify route, no store; its row carries no durability settings. */
  async #limit(): Promise<BenchRow> {
    const runs: HttpRunResult[] = [];
    for (let rep = 1; rep <= this.#reps; rep++) {
      const result = await httpLimit(this.#scale);
      runs.push(result);
      progress(`L0 rep ${rep}/${this.#reps}: ${describe(result)}`);
    }
    const row = fold('L0', 'none', runs, { path: null, filesystem: null }, this.#reps);
    this.#results.set('L0', row);
    return row;
  }

  /** W3, W5: one row per worker-process count asked for; 1 is the standard in-process workload. */
  async #perProcessCount(id: 'W3' | 'W5', workload: (ctx: WorkloadContext, processes: number) => Promise<RunResult>): Promise<BenchRow[]> {
    const rows: BenchRow[] = [];
    for (const processes of this.#processes) {
      const row = await this.#repeat(processes === 1 ? id : `${id}×${processes}p`, (ctx) => workload(ctx, processes));
      if (processes > 1) row.notes = processNotes(processes, this.#kind, row, this.#handled.get(row.workload) ?? []);
      rows.push(row);
    }
    return rows;
  }

  /** Run one workload `reps` times, each on a fresh store, and fold the repetitions into one row. */
  async #repeat(id: string, workload: (ctx: WorkloadContext) => Promise<RunResult>): Promise<BenchRow> {
    const runs: RunResult[] = [];
    let durability: BenchRow['durability'] | null = null;
    for (let rep = 1; rep <= this.#reps; rep++) {
      await this.#withStore(id, async (ctx, d) => {
        durability = d;
        const result = await workload(ctx);
        runs.push(result);
        if (result.handledPerProcess) this.#handled.set(id, [...(this.#handled.get(id) ?? []), result.handledPerProcess]);
        progress(`${id} rep ${rep}/${this.#reps}: ${describe(result)}`);
      });
    }
    const row = fold(id, this.#kind, runs, durability!, this.#reps);
    this.#results.set(id, row);
    return row;
  }

  /** S1: W1 then W3 on the same store, which also holds 1,000,000 other jobs; ratios to the empty-store runs. */
  async #backlogScale(): Promise<BenchRow[]> {
    // The empty-store figures come from this run: reuse W1/W3 if they ran, else run (and report) them now.
    const extra: BenchRow[] = [];
    const baseline = async (id: 'W1' | 'W3', workload: (ctx: WorkloadContext) => Promise<RunResult>) => {
      const known = this.#results.get(id);
      if (known) return known;
      const row = await this.#repeat(id, workload);
      extra.push(row);
      return row;
    };
    const base = { W1: await baseline('W1', (ctx) => enqueueSingle(ctx)), W3: await baseline('W3', (ctx) => drain(ctx)) };
    const w1: RunResult[] = [];
    const w3: RunResult[] = [];
    let durability: BenchRow['durability'] | null = null;
    const backlog = Math.round(S1_BACKLOG * this.#scale);
    await this.#withStore('S1', async (ctx, d) => {
      durability = d;
      await prefillBacklog(ctx, backlog);
      for (let rep = 1; rep <= this.#reps; rep++) {
        // W1 leaves exactly the jobs W3 needs queued; W3 drains them; the next repetition starts clean again.
        const a = await enqueueSingle(ctx);
        const b = await drain(ctx, { prefilled: a.n });
        w1.push(a);
        w3.push(b);
        progress(`S1 rep ${rep}/${this.#reps}: W1 ${describe(a)}; W3 ${describe(b)}`);
      }
    });
    const note = `${backlog.toLocaleString('en-US')} other jobs stored (40% waiting in another queue, 30% scheduled, 30% completed)`;
    const rows = (['W1', 'W3'] as const).map((w) => {
      const row = fold(`S1-${w}`, this.#kind, w === 'W1' ? w1 : w3, durability!, this.#reps);
      row.ratio = round(row.jobsPerSec / base[w].jobsPerSec, 3);
      row.notes = `${note}; ratio to ${w} on an empty store (${base[w].jobsPerSec} jobs/s)`;
      return row;
    });
    return [...extra, ...rows];
  }

  /** M1: one store holding 1,000,000 jobs (as S1's), then `reps` rounds of timed scrapes: one row per endpoint. */
  async #scrapeTime(): Promise<BenchRow[]> {
    const backlog = Math.round(S1_BACKLOG * this.#scale);
    let runs: ScrapeRuns | null = null;
    let durability: BenchRow['durability'] | null = null;
    await this.#withStore('M1', async (ctx, d) => {
      durability = d;
      runs = await scrapeTime(ctx, backlog, this.#reps);
    });
    const { metrics, queues, stored } = runs!;
    const note = (path: string) =>
      `GET ${path} of a spool serve child, ${SCRAPES} sequential requests per rep alternating with the other endpoint, ` +
      `on a store holding ${stored.toLocaleString('en-US')} jobs (40% waiting in another queue, 30% scheduled, 30% completed); ` +
      'call p50/p99 = request time in ms (body read); jobs/s = requests per second of that endpoint (sequential)';
    return [
      { ...fold('M1-metrics', this.#kind, metrics, durability!, this.#reps), notes: note('/metrics') },
      { ...fold('M1-queues', this.#kind, queues, durability!, this.#reps), notes: note('/v1/queues') },
    ];
  }

  async #withStore(id: string, body: (ctx: WorkloadContext, durability: BenchRow['durability']) => Promise<void>): Promise<void> {
    const run = `${process.pid}_${id}_${++this.#files}`.toLowerCase().replace(/[^a-z0-9_]+/g, 'x'); // W3×2p → w3x2p
    const location = this.#kind === 'sqlite' ? `sqlite:${this.#base}-${run}.db` : withSchema(this.#base, `${SCHEMA_PREFIX}${run}`);
    await removeScratchStore(location, SCHEMA_PREFIX);
    const spool = await Spool.open(location);
    try {
      const d = await spool.store.durability();
      assertDurable(d);
      const filesystem = d.path ? filesystemOf(d.path) : null;
      if (filesystem === 'tmpfs' || filesystem === 'ramfs') progress(`warning: ${d.path} is on ${filesystem}; this run is not a durable result`);
      await spool.declareQueue(QUEUE, { concurrency: 32 });
      await body({ spool, location, scale: this.#scale, progress }, { ...d, filesystem });
    } finally {
      await spool.close({ graceMs: 1000 });
      await removeScratchStore(location, SCHEMA_PREFIX);
    }
  }
}

/** Per-run PostgreSQL schemas are named with this prefix (and only such schemas are ever dropped). */
const SCHEMA_PREFIX = 'spool_bench_';

function withSchema(base: string, schema: string): string {
  const url = new URL(base);
  url.searchParams.set('schema', schema);
  return url.toString();
}

/** A result is only a result when commits are durable: refuse anything else. */
function assertDurable(d: StoreDurability): void {
  if (d.synchronous !== undefined && d.synchronous !== 'FULL' && d.synchronous !== 'EXTRA') {
    throw new Error(`refusing to benchmark a non-durable store: synchronous=${d.synchronous}`);
  }
  if (d.synchronousCommit !== undefined && (d.synchronousCommit === 'off' || d.fsync !== 'on')) {
    throw new Error(`refusing to benchmark a non-durable store: synchronous_commit=${d.synchronousCommit}, fsync=${String(d.fsync)}`);
  }
}

function fold(workload: string, store: 'sqlite' | 'postgres' | 'none', runs: readonly RunResult[], durability: BenchRow['durability'], reps: number): BenchRow {
  const rates = runs.map((r) => r.jobsPerSec);
  const pick = <K extends string>(get: (r: RunResult) => Record<K, number> | undefined, keys: readonly K[]) => {
    const present = runs.map(get).filter((x): x is Record<K, number> => x !== undefined);
    if (present.length === 0) return null;
    return Object.fromEntries(keys.map((k) => [k, round(median(present.map((x) => x[k])), 3)])) as Record<K, number>;
  };
  const backlog = runs.map((r) => r.backlogEnd).filter((x): x is number => x !== undefined);
  // HTTP rows: non-2xx and lost are totals over the repetitions (a loss in any one of them shows).
  const http = runs.filter(isHttp);
  const total = (get: (r: HttpRunResult) => number | null): number | null => {
    const present = http.map(get).filter((x): x is number => x !== null);
    return present.length > 0 ? present.reduce((a, b) => a + b, 0) : null;
  };
  return {
    workload,
    store,
    n: Math.round(median(runs.map((r) => r.n))),
    reps,
    jobsPerSec: round(median(rates)),
    jobsPerSecMin: Math.min(...rates),
    jobsPerSecMax: Math.max(...rates),
    latencyMs: pick((r) => r.latencyMs, ['p50', 'p95', 'p99'] as const),
    callLatencyMs: pick((r) => r.callLatencyMs, ['p50', 'p99'] as const),
    ratio: null,
    backlogEnd: backlog.length > 0 ? Math.round(median(backlog)) : null,
    non2xx: total((r) => r.non2xx),
    lost: total((r) => r.lost),
    durability,
    notes: http.length > 0 ? httpNotes(workload, http) : '',
  };
}

function isHttp(r: RunResult): r is HttpRunResult {
  return 'detail' in r;
}

/** What an HTTP row measured and how, with each repetition's counts. */
function httpNotes(workload: string, runs: readonly HttpRunResult[]): string {
  const detail = runs.map((r, i) => `rep ${i + 1}: ${r.detail}`).join('; ');
  if (workload === 'L0') return `jobs/s = 2xx answers per second of a bare Fastify route (no store), autocannon 64 connections in its own process; ${detail}`;
  if (workload === 'H3') return `push deliveries per second from spool serve (queue concurrency 32) to a loopback target answering 200; ${detail}`;
  const how = workload === 'H2' ? ', a unique Idempotency-Key per request' : '';
  return `jobs/s = 202 answers per second from spool serve (log level ${serverLogLevel()}), autocannon 64 connections in its own process${how}; lost = 202'd ids (read from each answer) not found in the store after the server stopped; ${detail}`;
}

/** What a worker-process row measured, and how the handler runs split between the processes. */
function processNotes(processes: number, kind: 'sqlite' | 'postgres', row: BenchRow, handled: readonly (readonly number[])[]): string {
  const split = handled.map((h) => h.map((x) => x.toLocaleString('en-US')).join(' + ')).join('; ');
  const store = kind === 'sqlite' ? 'one SQLite file (the processes take turns on its single write lock)' : 'one PostgreSQL schema';
  const what = row.workload.startsWith('W3') ? 'the backlog is prefilled' : 'the producer runs';
  return `${processes} worker processes (each concurrency 32, no-op handler) on ${store}; ${what} in the bench process, which polls the counters; handler runs per process by rep: ${split}`;
}

function describe(r: RunResult): string {
  const parts = [`${r.jobsPerSec.toLocaleString('en-US')} jobs/s (n=${r.n})`];
  if (r.handledPerProcess) parts.push(`handler runs per process ${r.handledPerProcess.join(' + ')}`);
  if (r.callLatencyMs) parts.push(`call p50 ${r.callLatencyMs.p50} ms p99 ${r.callLatencyMs.p99} ms`);
  if (r.latencyMs) parts.push(`enqueue→start p50 ${r.latencyMs.p50} p95 ${r.latencyMs.p95} p99 ${r.latencyMs.p99} ms`);
  if (r.backlogEnd !== undefined) parts.push(`backlog ${r.backlogEnd}`);
  if (isHttp(r)) {
    if (r.non2xx !== null) parts.push(`non-2xx ${r.non2xx}`);
    if (r.lost !== null) parts.push(`lost ${r.lost}`);
    parts.push(r.detail);
  }
  return parts.join(', ');
}

function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

function parseWorkloads(list: string): Set<WorkloadId> {
  const ids = list.split(',').map((s) => s.trim().toUpperCase()).filter(Boolean);
  const known = new Set<string>(WORKLOADS);
  const unknown = ids.filter((id) => !known.has(id));
  if (unknown.length > 0 || ids.length === 0) throw new InvalidArgumentError(`unknown workload "${unknown.join(',') || list}" (known: ${WORKLOADS.join(', ')})`);
  return new Set(ids as WorkloadId[]);
}

function parseProcesses(list: string): number[] {
  const counts = list.split(',').map((s) => s.trim());
  const bad = counts.filter((c) => !/^\d+$/.test(c) || Number(c) < 1 || Number(c) > MAX_PROCESSES);
  if (bad.length > 0 || counts.length === 0) throw new InvalidArgumentError(`--processes takes worker-process counts from 1 to ${MAX_PROCESSES} (e.g. 2, or 1,2), got "${list}"`);
  return [...new Set(counts.map(Number))];
}

function positiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 100) throw new InvalidArgumentError(`${name} must be an integer from 1 to 100, got "${value}"`);
  return n;
}
