/**
 * The schedule runner: enqueues each due time of every schedule (engine/schedules.ts) exactly once across
 * all nodes, also after downtime. Run by the maintainer, and only while it holds the leader lease; it keeps
 * one timer aimed at the earliest next due time (store clock), bounded by `refreshMs`, so schedules written
 * on other nodes are seen within that period (a PUT in this process nudges it at once).
 *
 * Exactly once, per due time D of schedule S (the record's `nextRunAt`):
 *   1. enqueue S's job with idempotency key `schedule:S:<D as ISO-8601>` (unique per queue in the store);
 *   2. compare-and-set the record from the version read in 1: `lastRunAt = D`, `nextRunAt` = the first due
 *      time after max(now, D).
 * A crash between 1 and 2 leaves `nextRunAt = D`; the next run enqueues D again and the key answers the
 * original job (a replay). Two runners at once (a leader change mid-run) both reach 1 with the same key —
 * one job — and only one wins 2; the loser re-reads and finds D done.
 *
 * Downtime: `nextRunAt` stays at the first missed due time; on recovery that one due time is enqueued
 * (`meta.scheduledFor` says which) and `nextRunAt` jumps past now, so the missed ticks after it are coalesced
 * into that one job instead of a burst. The same holds for a runner that wakes after a later tick has passed.
 *
 * A due time whose job the store refuses for a lasting reason (the queue's contract changed, the queue is
 * gone) is skipped with `lastError` set, so a broken schedule does not stall; a store outage advances nothing.
 */
import {
  IdempotencyKeyReusedError,
  InvalidArgumentError,
  QueueNotFoundError,
  SpoolError,
} from '../../core/errors.js';
import { prepareInsert } from '../../engine/enqueue.js';
import { JobTypeRegistry, type JobTypeDefinition } from '../../engine/job-types.js';
import { decodeSchedule, nextRunAfter, scheduledJob, type ScheduleState } from '../../engine/schedules.js';
import type { Logger } from '../../logger.js';
import type { Store, StoredRecord } from '../../storage/store.js';

export interface ScheduleRunnerDeps {
  /** Job types defined in this process (their schema and defaults apply to scheduled jobs too). */
  readonly jobType: (type: string | null) => JobTypeDefinition | undefined;
  /** Whether this process leads maintenance now; the runner fires nothing otherwise. */
  readonly isLeader: () => boolean;
}

export interface ScheduleRunResult {
  /** New jobs written (replays of a due time already enqueued are not counted). */
  readonly enqueued: number;
  /** Earliest `nextRunAt` still ahead (store clock, ms), or null when no schedule is pending. */
  readonly nextDueAt: number | null;
}

/** How many times one schedule is re-read after losing a compare-and-set within one run. */
const CAS_ATTEMPTS = 5;
/** Refusals that do not go away by retrying the same due time: skip it and say why in `lastError`. */
const LASTING = new Set(['validation_failed', 'invalid_argument', 'queue_not_found', 'idempotency_key_required', 'job_type_not_found']);

/** Enqueue every due time that has come (store clock); see the module comment for the guarantees. */
export async function runDueSchedules(store: Store, deps: Pick<ScheduleRunnerDeps, 'jobType'>, log?: Logger): Promise<ScheduleRunResult> {
  const now = await store.clockNow();
  let enqueued = 0;
  let nextDueAt: number | null = null;
  const ahead = (at: number | null) => {
    if (at !== null && (nextDueAt === null || at < nextDueAt)) nextDueAt = at;
  };
  for (const listed of await store.recordList({ kind: 'schedule' })) {
    let record: StoredRecord | null = listed;
    for (let attempt = 0; record && attempt < CAS_ATTEMPTS; attempt++) {
      let state: ScheduleState;
      try {
        state = decodeSchedule(record);
      } catch (error) {
        log?.warn({ err: error, schedule: record.name }, 'schedule record is not readable; skipped');
        break;
      }
      const due = state.nextRunAt;
      if (due === null || due > now) {
        ahead(due);
        break;
      }
      const fired = await fire(store, deps, record.name, state, due, log);
      const next: ScheduleState = {
        ...state,
        nextRunAt: nextRunAfter(state.cron, state.timezone, Math.max(now, due)),
        lastRunAt: due,
        lastJobId: fired.jobId ?? state.lastJobId,
        lastError: fired.error,
      };
      const put = await store.recordPut({ kind: 'schedule', name: record.name, valueJson: JSON.stringify(next), expectVersion: record.version });
      if (put.ok) {
        if (fired.created) enqueued++;
        ahead(next.nextRunAt);
        break;
      }
      // Another runner advanced it, or a PUT changed it: look again (a done due time replays, creating nothing).
      if (fired.created) enqueued++;
      record = put.record;
    }
  }
  return { enqueued, nextDueAt };
}

interface Fired {
  readonly created: boolean;
  readonly jobId: string | null;
  readonly error: string | null;
}

async function fire(store: Store, deps: Pick<ScheduleRunnerDeps, 'jobType'>, name: string, state: ScheduleState, due: number, log?: Logger): Promise<Fired> {
  try {
    const queue = await store.queueGet(state.queue);
    if (!queue) throw new QueueNotFoundError(state.queue);
    const types = new JobTypeRegistry();
    const def = deps.jobType(state.type);
    if (def) types.define(def);
    const params = prepareInsert(scheduledJob(name, state, queue.config, due), types);
    const [result] = await store.jobInsertMany({ jobs: [params] });
    if (!result) throw new InvalidArgumentError('the store answered no result for the scheduled job');
    if (!result.ok) throw result.error;
    if (!result.replayed) log?.info({ schedule: name, scheduledFor: new Date(due).toISOString(), job: result.receipt.id }, 'scheduled job enqueued');
    return { created: !result.replayed, jobId: result.receipt.id, error: null };
  } catch (error) {
    // Enqueued already with another payload (the schedule was edited after the first attempt): that due time is done.
    if (error instanceof IdempotencyKeyReusedError) return { created: false, jobId: error.jobId, error: null };
    if (error instanceof SpoolError && LASTING.has(error.code)) {
      log?.warn({ schedule: name, scheduledFor: new Date(due).toISOString(), err: error }, 'scheduled job refused; due time skipped');
      return { created: false, jobId: null, error: error.message };
    }
    throw error;
  }
}

/**
 * The runner's timer while this process runs maintenance: wakes at the earliest due time (at most every
 * `refreshMs`), runs `runDueSchedules` when it leads, and never overlaps itself.
 */
export class ScheduleRunner {
  readonly #store: Store;
  readonly #log: Logger;
  readonly #deps: ScheduleRunnerDeps;
  readonly #refreshMs: number;
  #timer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #again = false;
  #stopped = true;
  readonly stats = { enqueued: 0, runs: 0 };

  constructor(store: Store, log: Logger, deps: ScheduleRunnerDeps, options: { refreshMs?: number } = {}) {
    this.#store = store;
    this.#log = log;
    this.#deps = deps;
    this.#refreshMs = Math.max(10, options.refreshMs ?? 1_000);
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.nudge();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    await this.#running;
  }

  /** A schedule changed (or leadership came): look again now. */
  nudge(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#arm(0);
  }

  #arm(ms: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#running = this.#tick().finally(() => (this.#running = null));
    }, ms);
    this.#timer.unref();
  }

  async #tick(): Promise<void> {
    let sleepMs = this.#refreshMs;
    if (this.#deps.isLeader()) {
      try {
        const r = await runDueSchedules(this.#store, this.#deps, this.#log);
        this.stats.runs++;
        this.stats.enqueued += r.enqueued;
        if (r.nextDueAt !== null) {
          const now = await this.#store.clockNow();
          // A few ms past the due time, so a timer that fires early against the store's clock is not wasted.
          sleepMs = Math.max(1, Math.min(this.#refreshMs, r.nextDueAt - now + 5));
        }
      } catch (error) {
        this.#log.warn({ err: error }, 'schedule runner failed; retrying');
      }
    }
    if (this.#stopped) return;
    if (this.#again) {
      this.#again = false;
      sleepMs = 0;
    }
    this.#arm(sleepMs);
  }
}
