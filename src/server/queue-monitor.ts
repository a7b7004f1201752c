/**
 * The server's short-lived view of queues: each queue's record and stats, fetched through the facade
 * (`spool.getQueue` / `listQueues`, which read maintained counters, never a scan) and kept for at most
 * CACHE_MS so the accept path's checks (requireIdempotencyKey, schema, admission) cost no store round trip
 * per request. Jobs this node accepted since the fetch are added to the cached depth, so a burst cannot
 * overshoot `admission.maxDepth` by more than other nodes' acceptances within one CACHE_MS.
 * The cache may only say yes: an answer that refuses (admission) is confirmed by `current()`, a read that
 * starts after the question was asked, so a job leased, acked or cancelled on any node a moment ago counts.
 *
 * It also keeps a few samples of each queue's monotonic totals to derive throughput and failure rates
 * (per node: rates appear once this node has read a queue's stats twice, at least a second apart).
 * Called by the accept path and the queue routes; writes nothing.
 */
import type { QueueStats } from '../storage/store.js';
import type { QueueInfo, Spool } from '../spool.js';

export const CACHE_MS = 250;
const RATE_WINDOW_MS = 60_000;
const MIN_SAMPLE_GAP_MS = 1_000;
const MAX_SAMPLE_AGE_MS = 5 * 60_000;

interface Sample {
  readonly at: number;
  readonly totals: QueueStats['totals'];
}

export interface QueueRates {
  readonly windowSeconds: number;
  readonly enqueuedPerSecond: number;
  readonly completedPerSecond: number;
  readonly failedPerSecond: number;
  readonly deadPerSecond: number;
  readonly failureRate: number | null;
}

interface Entry {
  info: QueueInfo;
  fetchedAt: number;
  acceptedSince: number;
}

export class QueueMonitor {
  readonly #spool: Spool;
  readonly #entries = new Map<string, Entry>();
  readonly #pending = new Map<string, { read: Promise<QueueInfo>; generation: number }>();
  /** Bumped by `invalidate()`: reads started before it are stale. */
  readonly #generations = new Map<string, number>();
  readonly #samples = new Map<string, Sample[]>();
  /** `current()` reads: the one running per queue, and the one queued behind it (shared by all who asked meanwhile). */
  readonly #currentRead = new Map<string, Promise<QueueInfo>>();
  readonly #nextRead = new Map<string, Promise<QueueInfo>>();

  constructor(spool: Spool) {
    this.#spool = spool;
  }

  /**
   * The queue (throws QueueNotFoundError), at most CACHE_MS old unless `fresh`. Concurrent misses share one
   * read; a read that started before an `invalidate()` is neither shared with later callers nor cached (it may
   * predate the change this node just made).
   */
  async get(name: string, options: { fresh?: boolean } = {}): Promise<QueueInfo> {
    const entry = this.#entries.get(name);
    if (!options.fresh && entry && Date.now() - entry.fetchedAt < CACHE_MS) return entry.info;
    const generation = this.#generations.get(name) ?? 0;
    const pending = this.#pending.get(name);
    if (pending && pending.generation === generation) return pending.read;
    const read = this.#spool.getQueue(name).then(
      (info) => {
        if (this.#pending.get(name)?.read === read) this.#pending.delete(name);
        if ((this.#generations.get(name) ?? 0) === generation) this.#remember(info);
        return info;
      },
      (error: unknown) => {
        if (this.#pending.get(name)?.read === read) this.#pending.delete(name);
        this.#entries.delete(name);
        throw error;
      },
    );
    this.#pending.set(name, { read, generation });
    return read;
  }

  /**
   * The queue as read by a store read that started after this call — for an answer that must be true now
   * (a refusal). Callers arriving while such a read runs share one read queued behind it (it starts after
   * they asked), so a storm of refusals costs at most two reads in flight per queue. Refreshes the cache.
   */
  current(name: string): Promise<QueueInfo> {
    const queued = this.#nextRead.get(name);
    if (queued) return queued;
    const running = this.#currentRead.get(name);
    if (!running) return this.#startCurrent(name);
    const next = running.then(noop, noop).then(() => {
      this.#nextRead.delete(name);
      return this.#startCurrent(name);
    });
    this.#nextRead.set(name, next);
    return next;
  }

  #startCurrent(name: string): Promise<QueueInfo> {
    const generation = this.#generations.get(name) ?? 0;
    const read = this.#spool
      .getQueue(name)
      .then((info) => {
        if ((this.#generations.get(name) ?? 0) === generation) this.#remember(info);
        return info;
      })
      .finally(() => {
        if (this.#currentRead.get(name) === read) this.#currentRead.delete(name);
      });
    this.#currentRead.set(name, read);
    return read;
  }

  async list(): Promise<QueueInfo[]> {
    const before = new Map(this.#generations);
    const all = await this.#spool.listQueues();
    for (const info of all) if ((before.get(info.name) ?? 0) === (this.#generations.get(info.name) ?? 0)) this.#remember(info);
    return all;
  }

  /** Waiting jobs (queued + retrying) as last fetched, plus what this node accepted since. */
  waitingOf(name: string, info: QueueInfo): number {
    const counts = info.stats.counts;
    return counts.queued + counts.retrying + (this.#entries.get(name)?.acceptedSince ?? 0);
  }

  noteAccepted(name: string, count: number): void {
    const entry = this.#entries.get(name);
    if (entry) entry.acceptedSince += count;
  }

  /** True when this node has read the queue (it exists, or did): bounds metric labels taken from request paths. */
  knows(name: string): boolean {
    return this.#entries.has(name) || this.#samples.has(name);
  }

  /** Forget the cached record (after this node changed the queue). */
  invalidate(name: string): void {
    this.#entries.delete(name);
    this.#generations.set(name, (this.#generations.get(name) ?? 0) + 1);
  }

  rates(name: string): QueueRates | null {
    const samples = this.#samples.get(name);
    if (!samples || samples.length < 2) return null;
    const last = samples[samples.length - 1]!;
    // The oldest sample inside the window, else the newest before it.
    let base: Sample | undefined;
    for (const s of samples) {
      if (last.at - s.at < MIN_SAMPLE_GAP_MS) break;
      base = s;
      if (last.at - s.at <= RATE_WINDOW_MS) break;
    }
    if (!base) return null;
    const seconds = (last.at - base.at) / 1000;
    const d = (k: keyof QueueStats['totals']) => Math.max(0, last.totals[k] - base.totals[k]);
    const finished = d('failed') + d('completed');
    const round = (n: number) => Math.round(n * 1000) / 1000;
    return {
      windowSeconds: round(seconds),
      enqueuedPerSecond: round(d('enqueued') / seconds),
      completedPerSecond: round(d('completed') / seconds),
      failedPerSecond: round(d('failed') / seconds),
      deadPerSecond: round(d('dead') / seconds),
      failureRate: finished > 0 ? round(d('failed') / finished) : null,
    };
  }

  #remember(info: QueueInfo): void {
    const now = Date.now();
    this.#entries.set(info.name, { info, fetchedAt: now, acceptedSince: 0 });
    let samples = this.#samples.get(info.name);
    if (!samples) this.#samples.set(info.name, (samples = []));
    const last = samples[samples.length - 1];
    if (last && now - last.at < MIN_SAMPLE_GAP_MS) return;
    samples.push({ at: now, totals: info.stats.totals });
    // Keep the window plus one older sample (the base when reads are rare), and nothing older than 5 min.
    while (samples.length > 2 && (now - samples[1]!.at > RATE_WINDOW_MS || now - samples[0]!.at > MAX_SAMPLE_AGE_MS)) samples.shift();
    if (samples.length > 120) samples.splice(0, samples.length - 120);
  }
}

function noop(): void {}
