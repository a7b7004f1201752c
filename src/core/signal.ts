/**
 * A level-triggered wake-up: `notify()` before `wait()` is not lost (the flag stays set until a waiter
 * consumes it). One timer per wait at most; no per-job timers anywhere.
 */
export class WakeSignal {
  #pending = false;
  #waiter: (() => void) | null = null;
  #timer: NodeJS.Timeout | null = null;

  notify(): void {
    this.#pending = true;
    const w = this.#waiter;
    if (w) {
      this.#waiter = null;
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = null;
      w();
    }
  }

  /** Consume a pending notification, if any. */
  take(): boolean {
    const p = this.#pending;
    this.#pending = false;
    return p;
  }

  /** Resolves on the next notify (or at once if one is pending), or after `timeoutMs`. */
  wait(timeoutMs: number): Promise<void> {
    if (this.#pending) {
      this.#pending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        this.#pending = false;
        resolve();
      };
      this.#waiter = done;
      this.#timer = setTimeout(() => {
        if (this.#waiter === done) this.#waiter = null;
        this.#timer = null;
        resolve();
      }, timeoutMs);
    });
  }
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      resolve();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
