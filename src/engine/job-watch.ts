/**
 * Following jobs as they change: the engine side of the job event streams (`GET /v1/jobs/{id}/events`,
 * server/routes/job-events.ts), available to library users through `spool.watchJob`.
 *
 * One store subscription serves every watched job, not a loop per watcher. It wakes on the store's events:
 * this process's commits at once (`subscribe(…, { transitions: true })`), other processes' through the store
 * (SQLite: `PRAGMA data_version`, every foreign commit; PostgreSQL: LISTEN/NOTIFY, which carries commits that
 * made jobs claimable — new, released, promoted, replayed jobs). A claim or a completion on another PostgreSQL
 * node sends no NOTIFY (it would serialise every commit on the notification queue's lock), so one shared
 * re-check every RECHECK_MS covers it, and anything else an event missed.
 *
 * A wake-up reads the state and history of every watched job in one batched read (`jobHistoryGetMany`: no
 * payloads, no results) and hands each watcher its job's, or null once the job is gone (deleted by
 * retention). Wake-ups that arrive while a read runs are folded into one more read after it, and reads are at
 * least MIN_GAP_MS apart, so a busy store (an event per commit) costs at most one read per gap, whatever the
 * number of watchers. Watchers keep their own cursor into the history.
 */
import type { JobHistory, Store } from '../storage/store.js';

export type JobWatchListener = (job: JobHistory | null) => void;

/** Shared fallback re-check: what no store event reports is seen within this. */
const RECHECK_MS = 1000;
/** Least time between two reads (a drain commits hundreds of times a second). */
const MIN_GAP_MS = 25;
/** Ids per read. */
const READ_CHUNK = 500;

export class JobWatcher {
  readonly #store: Store;
  readonly #watches = new Map<string, Set<JobWatchListener>>();
  #unsubscribe: (() => void) | null = null;
  #recheck: NodeJS.Timeout | null = null;
  #gapTimer: NodeJS.Timeout | null = null;
  #reading = false;
  #again = false;
  #lastReadAt = 0;
  #closed = false;
  /** Reads done (tests and diagnostics). */
  reads = 0;

  constructor(store: Store) {
    this.#store = store;
  }

  /** Watched jobs (tests and diagnostics). */
  get size(): number {
    return this.#watches.size;
  }

  /**
   * Call `listener` with the job's state and history after every wake-up (the first soon after this call),
   * until the returned function is called. A failed read is retried at the next wake-up.
   */
  watch(id: string, listener: JobWatchListener): () => void {
    if (this.#closed) return () => undefined;
    let set = this.#watches.get(id);
    if (!set) this.#watches.set(id, (set = new Set()));
    set.add(listener);
    this.#start();
    this.#wake(); // a change between the caller's own read and this call is not missed
    return () => {
      const s = this.#watches.get(id);
      if (!s) return;
      s.delete(listener);
      if (s.size === 0) this.#watches.delete(id);
      if (this.#watches.size === 0) this.#stop();
    };
  }

  /** Stop watching everything (shutdown); later `watch` calls are no-ops. */
  close(): void {
    this.#closed = true;
    this.#watches.clear();
    this.#stop();
  }

  #start(): void {
    if (this.#unsubscribe) return;
    this.#unsubscribe = this.#store.subscribe(() => this.#wake(), { transitions: true });
    this.#recheck = setInterval(() => this.#wake(), RECHECK_MS);
    this.#recheck.unref();
  }

  #stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    if (this.#recheck) clearInterval(this.#recheck);
    this.#recheck = null;
    if (this.#gapTimer) clearTimeout(this.#gapTimer);
    this.#gapTimer = null;
  }

  #wake(): void {
    if (this.#closed || this.#watches.size === 0) return;
    if (this.#reading) {
      this.#again = true;
      return;
    }
    if (this.#gapTimer) return; // a read is already planned
    const wait = this.#lastReadAt + MIN_GAP_MS - Date.now();
    this.#gapTimer = setTimeout(() => {
      this.#gapTimer = null;
      void this.#read();
    }, Math.max(0, wait));
    this.#gapTimer.unref();
  }

  async #read(): Promise<void> {
    if (this.#closed || this.#watches.size === 0) return;
    this.#reading = true;
    this.#again = false;
    this.#lastReadAt = Date.now();
    this.reads++;
    try {
      const ids = [...this.#watches.keys()];
      for (let i = 0; i < ids.length; i += READ_CHUNK) {
        const chunk = ids.slice(i, i + READ_CHUNK);
        const found = new Map((await this.#store.jobHistoryGetMany({ ids: chunk })).map((j) => [j.id, j]));
        for (const id of chunk) {
          for (const listener of [...(this.#watches.get(id) ?? [])]) {
            try {
              listener(found.get(id) ?? null);
            } catch {
              // a watcher's failure is its own
            }
          }
        }
      }
    } catch {
      // The store is unavailable or closing: the next wake-up (at the latest the re-check) tries again.
    } finally {
      this.#reading = false;
    }
    if (this.#again) this.#wake();
  }
}
