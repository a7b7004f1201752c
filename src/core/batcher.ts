/**
 * Group commit above the seam: single calls made in the same microtask burst are flushed together as one
 * `...Many` call; each caller gets its own item's result (or error). One item failing never fails the others
 * unless the flush itself throws (then every caller of that flush sees the error: nothing was committed).
 *
 * At most `maxInFlight` flushes (default 2: one committing, one waiting to start) are outstanding; calls made
 * meanwhile are gathered and go out as one flush when one settles. Calls that arrive on separate event-loop
 * turns (HTTP requests) thus still share one `...Many` call under load — one multi-row statement instead of
 * one statement per request inside the store's transaction — and cost no extra wait when the store is idle.
 */

export class Batcher<I, R> {
  readonly #flushMany: (items: I[]) => Promise<Array<R | Error>>;
  readonly #maxBatch: number;
  #items: I[] = [];
  #waiters: Array<{ resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  #scheduled = false;
  readonly #maxInFlight: number;
  #inFlight = 0;

  /** `flushMany` returns one entry per item: a result, or an Error for that item alone. */
  constructor(flushMany: (items: I[]) => Promise<Array<R | Error>>, opts: { maxBatch?: number; maxInFlight?: number } = {}) {
    this.#flushMany = flushMany;
    this.#maxBatch = opts.maxBatch ?? 1000;
    this.#maxInFlight = opts.maxInFlight ?? 2;
  }

  add(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#items.push(item);
      this.#waiters.push({ resolve, reject });
      if (this.#items.length >= this.#maxBatch) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        queueMicrotask(() => this.#flush());
      }
    });
  }

  get pending(): number {
    return this.#items.length;
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#items.length === 0) return;
    // Enough flushes outstanding: keep gathering (a full batch goes out regardless).
    if (this.#inFlight >= this.#maxInFlight && this.#items.length < this.#maxBatch) return;
    const items = this.#items;
    const waiters = this.#waiters;
    this.#items = [];
    this.#waiters = [];
    this.#inFlight++;
    const settled = (): void => {
      this.#inFlight--;
      if (this.#items.length > 0 && !this.#scheduled) this.#flush();
    };
    this.#flushMany(items).then(
      (results) => {
        for (let i = 0; i < waiters.length; i++) {
          const r = results[i];
          if (r instanceof Error) waiters[i]!.reject(r);
          else waiters[i]!.resolve(r as R);
        }
      },
      (error: unknown) => {
        for (const w of waiters) w.reject(error);
      },
    ).then(settled, settled);
  }
}
