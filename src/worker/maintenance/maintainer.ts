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
    this.#every(Math.max(100, Math.floor(this.#ttlMs / 3)), 'leader election', () => this.#elect());
    this.#whileLeader(this.#reapMs, 'lease reaper', () => this.#reap());
    this.#whileLeader(this.#foldMs, 'counter folder', () => this.#fold());
    this.#whileLeader(this.#sampleMs, 'stats sampler', () => this.#sample());
    this.#whileLeader(this.#cleanMs, 'cleaner', () => this.#clean());
    this.#whileLeader(this.#blobSweepMs, 'orphan blob sweep', () => this.#sweepBlobs());
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
    const reaped = await reapExpiredLeases(this.#store, this.#log);
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

  /**
   * Run `fn` every `ms` until stopped. A run still going when the next is due is not overlapped (a slow fold or
   * sample under load would otherwise pile up and race on its own stats); a failure is logged and the next
   * tick tries again.
   */
  #every(ms: number, what: string, fn: () => Promise<unknown>): void {
    let running = false;
    const t = setInterval(() => {
      if (this.#stopped || running) return;
      running = true;
      fn()
        .catch((error: unknown) => this.#log.warn({ err: error }, `${what} failed`))
        .finally(() => (running = false));
    }, ms);
    t.unref();
    this.#timers.push(t);
  }

  /** As #every, only while this process holds the maintenance lease. */
  #whileLeader(ms: number, what: string, fn: () => Promise<unknown>): void {
    this.#every(ms, what, async () => (this.#leader ? fn() : undefined));
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
      const n = await reapExpiredLeases(this.#store, this.#log);
      this.stats.reaped += n;
      if (n > 0) {
        this.#log.info({ count: n }, 'expired leases returned to the queue');
        this.nudgeScheduler(); // their retries may be due before the scheduler's next planned look
      }
    } catch (error) {
      this.#log.warn({ err: error }, 'lease reaper failed');
    }
  }

  // Each count is awaited before it is added: `stats.x += await …` would add to a value read before the await.
  async #fold(): Promise<void> {
    const folded = await foldCounters(this.#store);
    this.stats.folded += folded;
  }

  async #clean(): Promise<void> {
    const r = await cleanExpired(this.#store);
    this.stats.cleaned += r.jobs;
    if (r.jobs + r.keys > 0) this.#log.info(r, 'retention removed finished jobs and expired idempotency keys');
    const pruned = await pruneQueueSamples(this.#store);
    this.stats.samplesPruned += pruned;
  }

  async #sample(): Promise<void> {
    const n = await sampleQueueStats(this.#store);
    this.stats.sampled += n;
  }

  async #sweepBlobs(): Promise<void> {
    const n = await sweepOrphanBlobs(this.#store);
    this.stats.blobsSwept += n;
    if (n > 0) this.#log.info({ count: n }, 'deleted payload blobs no job references');
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
