/**
 * The maintainer runs the maintenance services once across every process sharing a store: it holds a
 * leader lease (`leaderAttempt`, renewed every ttl/3) and, while leader, runs the lease reaper, the counter
 * folder, the stats sampler, the cleaner (with sample pruning) and the orphan-blob sweep on intervals, the scheduler on a timer aimed at the next due job and the schedule runner
 * (recurring jobs) on a timer aimed at the next schedule's due time. Losing the lease (another
 * process took over after this one stalled) stops the services until it is regained. `runOnce()` runs
 * every service immediately, for tests and the CLI.
 */
import { randomUUID } from 'node:crypto';
import type { QueueConfig } from '../../core/queue-config.js';
import type { Store } from '../../storage/store.js';
import type { JobTypeDefinition } from '../../engine/job-types.js';
import type { Logger } from '../../logger.js';
import { cleanExpired, sweepOrphanBlobs } from './cleaner.js';
import { foldCounters } from './counter-folder.js';
import { reapExpiredLeases } from './lease-reaper.js';
import { pruneQueueSamples, SAMPLE_INTERVAL_MS, sampleQueueStats } from './stats-sampler.js';
import { runDueSchedules, ScheduleRunner } from './schedule-runner.js';
import { promoteDueJobs } from './scheduler.js';

export interface MaintainerOptions {
  readonly leaderTtlMs?: number;
  readonly reapIntervalMs?: number;
  readonly cleanIntervalMs?: number;
  /** How often the leader looks for payload blobs no job references (default hourly; cleaner.ts). */
  readonly blobSweepIntervalMs?: number;
  readonly foldIntervalMs?: number;
  /** How often the leader records every queue's stats for the time series (default 10 s; stats-sampler.ts). */
  readonly sampleIntervalMs?: number;
  /** Longest sleep of the scheduler when nothing is due (it also wakes on every commit event). */
  readonly schedulerMaxSleepMs?: number;
  /** Longest sleep of the schedule runner (recurring jobs): schedules changed on other nodes are seen within it. */
  readonly scheduleRefreshMs?: number;
}

const LEADER_NAME = 'maintenance';

export class Maintainer {
  readonly holder = randomUUID();
  readonly #store: Store;
  readonly #log: Logger;
  readonly #deps: { queueConfig: (queue: string) => Promise<QueueConfig>; jobType: (type: string | null) => JobTypeDefinition | undefined };
  readonly #ttlMs: number;
  readonly #reapMs: number;
  readonly #cleanMs: number;
  readonly #blobSweepMs: number;
  readonly #foldMs: number;
  readonly #sampleMs: number;
  readonly #schedMaxMs: number;
  #leader = false;
  #stopped = true;
  #timers: NodeJS.Timeout[] = [];
  #schedTimer: NodeJS.Timeout | null = null;
  #schedRunning = false;
  #folding = false;
  #sampling = false;
  #schedAgain = false;
  #unsubscribe: (() => void) | null = null;
  readonly stats = { reaped: 0, promoted: 0, cleaned: 0, folded: 0, blobsSwept: 0, sampled: 0, samplesPruned: 0, leaderChanges: 0 };
  /** Enqueues the due times of schedules (recurring jobs) while this process leads. */
  readonly schedules: ScheduleRunner;

  constructor(
    store: Store,
    log: Logger,
    deps: { queueConfig: (queue: string) => Promise<QueueConfig>; jobType: (type: string | null) => JobTypeDefinition | undefined },
    options: MaintainerOptions = {},
  ) {
    this.#store = store;
    this.#log = log;
    this.#deps = deps;
    this.#ttlMs = options.leaderTtlMs ?? 15_000;
    this.#reapMs = options.reapIntervalMs ?? 1_000;
    this.#cleanMs = options.cleanIntervalMs ?? 60_000;
    this.#blobSweepMs = options.blobSweepIntervalMs ?? 60 * 60_000;
    this.#foldMs = options.foldIntervalMs ?? 1_000;
    this.#sampleMs = options.sampleIntervalMs ?? SAMPLE_INTERVAL_MS;
    this.#schedMaxMs = options.schedulerMaxSleepMs ?? 1_000;
    this.schedules = new ScheduleRunner(store, log, { jobType: deps.jobType, isLeader: () => this.#leader }, { refreshMs: options.scheduleRefreshMs ?? 1_000 });
  }

  get isLeader(): boolean {
    return this.#leader;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    void this.#elect();
    this.#every(Math.max(100, Math.floor(this.#ttlMs / 3)), () => this.#elect());
    this.#every(this.#reapMs, () => (this.#leader ? this.#reap() : undefined));
    this.#every(this.#foldMs, () => (this.#leader ? this.#fold() : undefined));
    this.#every(this.#sampleMs, () => (this.#leader ? this.#sample() : undefined));
    this.#every(this.#cleanMs, () => (this.#leader ? this.#clean() : undefined));
    this.#every(this.#blobSweepMs, () => (this.#leader ? this.#sweepBlobs() : undefined));
    // Re-aim the scheduler whenever anything commits (a new delayed job may be due sooner).
    this.#unsubscribe = this.#store.subscribe(() => this.#leader && this.nudgeScheduler());
    this.schedules.start();
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
    if (this.#schedTimer) clearTimeout(this.#schedTimer);
    this.#schedTimer = null;
    this.#unsubscribe?.();
    await this.schedules.stop();
    if (this.#leader) {
      this.#leader = false;
      await this.#store.leaderResign({ name: LEADER_NAME, holder: this.holder }).catch(() => undefined);
    }
  }

  /** Run every service now (whether or not this process leads). */
  async runOnce(): Promise<{ reaped: number; promoted: number; cleaned: number; folded: number; scheduled: number; blobsSwept: number; sampled: number }> {
    const reaped = await reapExpiredLeases(this.#store, this.#deps, this.#log);
    const { enqueued: scheduled } = await runDueSchedules(this.#store, this.#deps, this.#log);
    const { promoted } = await promoteDueJobs(this.#store);
    const { jobs } = await cleanExpired(this.#store);
    const folded = await foldCounters(this.#store);
    const blobsSwept = await sweepOrphanBlobs(this.#store);
    const sampled = await sampleQueueStats(this.#store);
    await pruneQueueSamples(this.#store);
    return { reaped, promoted, cleaned: jobs, folded, scheduled, blobsSwept, sampled };
  }

  /** Something may be due sooner than the scheduler planned: look again now. */
  nudgeScheduler(): void {
    if (this.#stopped || !this.#leader) return;
    if (this.#schedRunning) {
      this.#schedAgain = true;
      return;
    }
    if (this.#schedTimer) clearTimeout(this.#schedTimer);
    this.#schedTimer = setTimeout(() => void this.#schedule(), 0);
  }

  #every(ms: number, fn: () => unknown): void {
    const t = setInterval(() => {
      if (!this.#stopped) void Promise.resolve(fn()).catch((error: unknown) => this.#log.warn({ err: error }, 'maintenance task failed'));
    }, ms);
    t.unref();
    this.#timers.push(t);
  }

  async #elect(): Promise<void> {
    let leader = false;
    try {
      leader = await this.#store.leaderAttempt({ name: LEADER_NAME, holder: this.holder, ttlMs: this.#ttlMs });
    } catch (error) {
      this.#log.warn({ err: error }, 'leader election failed; stepping down until the store answers');
    }
    if (this.#stopped) return;
    if (leader !== this.#leader) {
      this.#leader = leader;
      this.stats.leaderChanges++;
      this.#log.info({ holder: this.holder }, leader ? 'became maintenance leader' : 'lost maintenance leadership');
      if (leader) {
        this.nudgeScheduler();
        this.schedules.nudge();
        void this.#reap();
      }
    }
  }

  async #reap(): Promise<void> {
    try {
      const n = await reapExpiredLeases(this.#store, this.#deps, this.#log);
      this.stats.reaped += n;
      if (n > 0) {
        this.#log.info({ count: n }, 'expired leases returned to the queue');
        this.nudgeScheduler(); // their retries may be due before the scheduler's next planned look
      }
    } catch (error) {
      this.#log.warn({ err: error }, 'lease reaper failed');
    }
  }

  async #fold(): Promise<void> {
    if (this.#folding) return; // a slow fold is not overlapped by the next tick
    this.#folding = true;
    try {
      const folded = await foldCounters(this.#store); // (`stats.folded += await …` would add to a stale read)
      this.stats.folded += folded;
    } catch (error) {
      this.#log.warn({ err: error }, 'counter folder failed');
    } finally {
      this.#folding = false;
    }
  }

  async #clean(): Promise<void> {
    try {
      const r = await cleanExpired(this.#store);
      this.stats.cleaned += r.jobs;
      if (r.jobs + r.keys > 0) this.#log.info(r, 'retention removed finished jobs and expired idempotency keys');
      const pruned = await pruneQueueSamples(this.#store);
      this.stats.samplesPruned += pruned;
    } catch (error) {
      this.#log.warn({ err: error }, 'cleaner failed');
    }
  }

  async #sample(): Promise<void> {
    if (this.#sampling) return; // a slow store is not sampled twice at once
    this.#sampling = true;
    try {
      const n = await sampleQueueStats(this.#store);
      this.stats.sampled += n;
    } catch (error) {
      this.#log.warn({ err: error }, 'stats sampler failed');
    } finally {
      this.#sampling = false;
    }
  }

  async #sweepBlobs(): Promise<void> {
    try {
      const n = await sweepOrphanBlobs(this.#store);
      this.stats.blobsSwept += n;
      if (n > 0) this.#log.info({ count: n }, 'deleted payload blobs no job references');
    } catch (error) {
      this.#log.warn({ err: error }, 'orphan blob sweep failed');
    }
  }

  async #schedule(): Promise<void> {
    this.#schedTimer = null;
    if (this.#stopped || !this.#leader) return;
    this.#schedRunning = true;
    let sleepMs = this.#schedMaxMs;
    try {
      const { promoted, nextDueAt } = await promoteDueJobs(this.#store);
      this.stats.promoted += promoted;
      if (nextDueAt != null) {
        const now = await this.#store.clockNow();
        sleepMs = Math.max(0, Math.min(this.#schedMaxMs, nextDueAt - now));
      }
    } catch (error) {
      this.#log.warn({ err: error }, 'scheduler failed');
    } finally {
      this.#schedRunning = false;
    }
    if (this.#stopped || !this.#leader) return;
    if (this.#schedAgain) {
      this.#schedAgain = false;
      sleepMs = 0;
    }
    this.#schedTimer = setTimeout(() => void this.#schedule(), sleepMs);
    this.#schedTimer.unref();
  }
}
