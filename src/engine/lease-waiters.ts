/**
 * Long polls of remote workers (`POST /v1/queues/{queue}/leases` with `waitSeconds`). Owns the requests that
 * wait for claimable work; RemoteLeases hands them over and never waits itself.
 *
 * One store subscription serves every waiting request (taken with the first wait, dropped at close): a
 * wake-up for a queue (this process's commit, another process's commit via data_version or LISTEN/NOTIFY)
 * marks the queue dirty and runs that queue's single claim loop. The loop claims for the oldest waiter
 * first (FIFO); a waiter that got jobs leaves and the loop claims again for the next, because more may be
 * claimable; an empty claim means nothing is claimable, so the rest keep waiting. One wake-up costs one
 * claim, however many requests wait — no thundering herd, no timer loop per request (each request has one
 * deadline timer, and one shared safety re-check runs while anyone waits, in case a wake-up was missed).
 * No event announces a lease running out, so after an empty claim the queue arms one timer for its earliest
 * lease expiry (`nextLeaseExpiryMs`): the claim then takes the expired job over (the stores' lease takeover)
 * and a waiter gets it from its expiry. One timer per queue, re-armed after each empty claim; none while a
 * lease is already past expiry and still not claimable (a paused queue: the safety re-check covers that).
 *
 * A request that goes away (its client disconnected: `signal` aborts) leaves at once and claims nothing; if
 * a claim for it was already running, the jobs it got are released (back to `queued`, attempt not spent).
 */
import type { ClaimedJob, StoreEvent } from '../storage/store.js';
import type { Logger } from '../logger.js';

export interface WaitRequest {
  readonly queue: string;
  readonly max: number;
  readonly leaseMs: number;
  readonly waitMs: number;
  /** Aborts when the caller goes away (HTTP client disconnected). */
  readonly signal?: AbortSignal | undefined;
}

export interface LeaseWaitersDeps {
  readonly subscribe: (listener: (event: StoreEvent) => void) => () => void;
  readonly claim: (queue: string, max: number, leaseMs: number) => Promise<ClaimedJob[]>;
  /** Put jobs claimed for a request that went away back at once. */
  readonly release: (jobs: readonly ClaimedJob[]) => Promise<void>;
  readonly log: Logger;
  /** Ms until the queue's earliest lease expires (0 when one has), null with none held. */
  readonly nextLeaseExpiryMs?: (queue: string) => Promise<number | null>;
  /** Safety re-check while anyone waits (wake-ups are the normal path). Default 1000 ms. */
  readonly recheckMs?: number;
}

interface Waiter {
  readonly req: WaitRequest;
  /** Set while the queue's loop claims for this waiter. */
  claiming: boolean;
  /** The deadline passed while claiming: answer with whatever the claim returns. */
  expired: boolean;
  done: boolean;
  timer: NodeJS.Timeout | null;
  onAbort: (() => void) | null;
  resolve(jobs: ClaimedJob[]): void;
  reject(error: unknown): void;
}

interface QueueWait {
  readonly waiters: Waiter[];
  dirty: boolean;
  looping: boolean;
  /** Wakes the queue at its earliest lease expiry (armed after an empty claim). */
  expiryTimer: NodeJS.Timeout | null;
}

/** A lease is judged expired strictly after its instant (and the store's clock may lead ours by a little). */
const EXPIRY_SLACK_MS = 5;

export class LeaseWaiters {
  readonly #deps: LeaseWaitersDeps;
  readonly #queues = new Map<string, QueueWait>();
  #unsubscribe: (() => void) | null = null;
  #recheck: NodeJS.Timeout | null = null;
  #closed = false;
  readonly stats = { waits: 0, claims: 0, released: 0 };

  constructor(deps: LeaseWaitersDeps) {
    this.#deps = deps;
  }

  /** Requests waiting right now (tests and diagnostics). */
  get waiting(): number {
    let n = 0;
    for (const q of this.#queues.values()) n += q.waiters.length;
    return n;
  }

  /** Claim for `req`, waiting up to `req.waitMs` for claimable jobs; resolves with the claimed jobs or []. */
  wait(req: WaitRequest): Promise<ClaimedJob[]> {
    if (this.#closed || req.signal?.aborted) return Promise.resolve([]);
    this.stats.waits++;
    this.#ensureSubscribed();
    return new Promise<ClaimedJob[]>((resolve, reject) => {
      const waiter: Waiter = { req, claiming: false, expired: false, done: false, timer: null, onAbort: null, resolve, reject };
      waiter.timer = setTimeout(() => {
        waiter.timer = null;
        if (waiter.claiming) waiter.expired = true;
        else this.#finish(waiter, []);
      }, req.waitMs);
      if (req.signal) {
        waiter.onAbort = () => {
          if (!waiter.claiming) this.#finish(waiter, []);
          // While claiming: the loop sees the abort when the claim returns and releases what it got.
        };
        req.signal.addEventListener('abort', waiter.onAbort, { once: true });
      }
      const q = this.#queue(req.queue);
      q.waiters.push(waiter);
      q.dirty = true;
      void this.#loop(req.queue, q);
    });
  }

  /** Answer every waiting request with no jobs now and refuse new waits (shutdown). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const q of this.#queues.values()) {
      for (const w of [...q.waiters]) if (!w.claiming) this.#finish(w, []);
      disarm(q);
    }
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    if (this.#recheck) clearInterval(this.#recheck);
    this.#recheck = null;
  }

  #queue(name: string): QueueWait {
    let q = this.#queues.get(name);
    if (!q) {
      q = { waiters: [], dirty: false, looping: false, expiryTimer: null };
      this.#queues.set(name, q);
    }
    return q;
  }

  #ensureSubscribed(): void {
    this.#unsubscribe ??= this.#deps.subscribe((event) => this.#wake(event.queues));
    if (!this.#recheck) {
      this.#recheck = setInterval(() => this.#wake(null), this.#deps.recheckMs ?? 1000);
      this.#recheck.unref();
    }
  }

  #wake(queues: readonly string[] | null): void {
    if (this.#closed) return;
    const names = queues ?? [...this.#queues.keys()];
    for (const name of names) {
      const q = this.#queues.get(name);
      if (!q || q.waiters.length === 0) continue;
      q.dirty = true;
      void this.#loop(name, q);
    }
  }

  /** The queue's one claim loop: claims for the oldest waiter while the queue may hold claimable jobs. */
  async #loop(name: string, q: QueueWait): Promise<void> {
    if (q.looping) return;
    q.looping = true;
    let empty = false;
    try {
      while (q.dirty && q.waiters.length > 0) {
        q.dirty = false;
        const w = q.waiters[0]!;
        w.claiming = true;
        let jobs: ClaimedJob[];
        try {
          this.stats.claims++;
          jobs = await this.#deps.claim(name, w.req.max, w.req.leaseMs);
        } catch (error) {
          w.claiming = false;
          this.#finish(w, error, true);
          q.dirty = true; // the next waiter tries on its own (and fails fast while the store is down)
          continue;
        }
        w.claiming = false;
        if (w.req.signal?.aborted || (this.#closed && jobs.length === 0)) {
          this.#finish(w, []);
          if (jobs.length > 0) await this.#release(jobs);
          continue;
        }
        if (jobs.length > 0) {
          this.#finish(w, jobs);
          q.dirty = true; // more may be claimable: claim for the next waiter
        } else {
          empty = true;
          if (w.expired) this.#finish(w, []);
        }
        // else: nothing claimable; everyone keeps waiting for the next wake-up (or q.dirty set meanwhile)
      }
    } finally {
      q.looping = false;
      if (q.waiters.length === 0 && this.#queues.get(name) === q) {
        this.#queues.delete(name);
        disarm(q);
      } else if (empty && q.waiters.length > 0) {
        void this.#armExpiry(name, q);
      }
      if (this.#queues.size === 0 && this.#recheck) {
        clearInterval(this.#recheck);
        this.#recheck = null;
      }
    }
  }

  /** One timer for the queue's earliest lease expiry (replacing any earlier one). */
  async #armExpiry(name: string, q: QueueWait): Promise<void> {
    const next = this.#deps.nextLeaseExpiryMs;
    if (!next) return;
    let ms: number | null;
    try {
      ms = await next(name);
    } catch {
      return; // the store is down: the safety re-check tries again
    }
    disarm(q);
    // 0: a lease is past expiry yet was not claimable (paused queue, or a racing claim): no busy loop.
    if (ms === null || ms <= 0 || this.#closed || q.waiters.length === 0 || this.#queues.get(name) !== q) return;
    q.expiryTimer = setTimeout(() => {
      q.expiryTimer = null;
      this.#wake([name]);
    }, ms + EXPIRY_SLACK_MS);
    q.expiryTimer.unref();
  }

  async #release(jobs: ClaimedJob[]): Promise<void> {
    try {
      await this.#deps.release(jobs);
      this.stats.released += jobs.length;
    } catch (error) {
      this.#deps.log.warn({ err: error, count: jobs.length }, 'releasing jobs claimed for a departed long poll failed; their leases will expire');
    }
  }

  #finish(w: Waiter, outcome: ClaimedJob[] | unknown, failed = false): void {
    if (w.done) return;
    w.done = true;
    if (w.timer) clearTimeout(w.timer);
    w.timer = null;
    if (w.onAbort) w.req.signal?.removeEventListener('abort', w.onAbort);
    const q = this.#queues.get(w.req.queue);
    if (q) {
      const i = q.waiters.indexOf(w);
      if (i >= 0) q.waiters.splice(i, 1);
      if (q.waiters.length === 0 && !q.looping) {
        this.#queues.delete(w.req.queue);
        disarm(q);
      }
    }
    if (failed) w.reject(outcome);
    else w.resolve(outcome as ClaimedJob[]);
  }
}

function disarm(q: QueueWait): void {
  if (q.expiryTimer) clearTimeout(q.expiryTimer);
  q.expiryTimer = null;
}
