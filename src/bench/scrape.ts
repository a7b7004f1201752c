/**
 * M1 — scrape time with a million stored jobs: the store is filled as S1 fills it (40% waiting in another
 * queue, 30% scheduled, 30% completed through a real worker), then a real `spool serve` child on that store is
 * asked, one request at a time, for `GET /metrics` and `GET /v1/queues` alternately (SCRAPES of each per
 * repetition, after a few unmeasured warm-up requests); each request's time from the first byte sent to the
 * whole body read is recorded. Both answers come from the maintained counters, so their time must not grow
 * with the backlog. Called by run.ts.
 */
import { Samples, now, round } from './measure.js';
import { startSpoolServe } from './http.js';
import { prefillBacklog, type RunResult, type WorkloadContext } from './workloads.js';

export const SCRAPES = 200;
const WARM_UP = 5;

export interface ScrapeRuns {
  readonly metrics: RunResult[];
  readonly queues: RunResult[];
  /** Jobs stored while scraping (every state), read from the counters. */
  readonly stored: number;
}

/** Prefill `backlog` jobs, then `reps` repetitions of SCRAPES timed requests to each endpoint. */
export async function scrapeTime(ctx: WorkloadContext, backlog: number, reps: number): Promise<ScrapeRuns> {
  await prefillBacklog(ctx, backlog);
  const stored = (await ctx.spool.stats()).reduce((n, s) => n + Object.values(s.counts).reduce((a, b) => a + b, 0), 0);
  if (stored < backlog) throw new Error(`M1: ${backlog} jobs were prefilled but the counters hold ${stored}`);
  const server = await startSpoolServe(ctx);
  const metrics: RunResult[] = [];
  const queues: RunResult[] = [];
  try {
    const timed = async (path: string): Promise<number> => {
      const t0 = now();
      const res = await fetch(server.url + path, { signal: AbortSignal.timeout(30_000) });
      const body = await res.text();
      const ms = now() - t0;
      if (res.status !== 200) throw new Error(`M1: GET ${path} answered ${res.status}: ${body.slice(0, 200)}`);
      return ms;
    };
    for (let i = 0; i < WARM_UP; i++) await Promise.all([timed('/metrics'), timed('/v1/queues')]);
    for (let rep = 1; rep <= reps; rep++) {
      const m = new Timings();
      const q = new Timings();
      for (let i = 0; i < SCRAPES; i++) {
        m.add(await timed('/metrics'));
        q.add(await timed('/v1/queues'));
      }
      metrics.push(m.result());
      queues.push(q.result());
      ctx.progress(`M1 rep ${rep}/${reps}: /metrics p50 ${metrics.at(-1)!.callLatencyMs!.p50} ms p99 ${metrics.at(-1)!.callLatencyMs!.p99} ms; /v1/queues p50 ${queues.at(-1)!.callLatencyMs!.p50} ms p99 ${queues.at(-1)!.callLatencyMs!.p99} ms`);
    }
    await server.stop();
  } finally {
    server.kill();
  }
  return { metrics, queues, stored };
}

/** One endpoint's repetition: its request times, reported as requests per second of its own time and p50/p99 ms. */
class Timings {
  readonly #samples = new Samples();
  #totalMs = 0;

  add(ms: number): void {
    this.#samples.add(ms);
    this.#totalMs += ms;
  }

  result(): RunResult {
    const n = this.#samples.count;
    return { n, jobsPerSec: round(n / (this.#totalMs / 1000)), callLatencyMs: this.#samples.percentiles([50, 99]) };
  }
}
