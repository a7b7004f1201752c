/**
 * The worker's one timer (in-process runtime and remote worker alike): it sweeps timeouts and extends leases.
 * It must come round well within the shortest lease: a lease is extended when less than half of it is left,
 * so with a tick of a quarter lease the extension lands with at least a quarter to spare (a 1 s lease under a
 * fixed 1 s tick was extended only at or after its expiry). It starts at 1 s; claims report each lease they
 * got and the executor each attempt's time limit, and the tick only ever gets faster (never below 50 ms).
 *
 * Also here: the shutdown wait both workers share — running work finishing, or the grace period ending.
 */
const TICK_MIN_MS = 50;
const TICK_MAX_MS = 1000;

export class LeaseTick {
  readonly #onTick: () => void;
  #timer: NodeJS.Timeout | null = null;
  #everyMs = TICK_MAX_MS;

  constructor(onTick: () => void) {
    this.#onTick = onTick;
  }

  start(): void {
    this.#set(TICK_MAX_MS);
  }

  /** A lease or time limit of `limitMs` exists: tick at least every quarter of it. No effect once stopped. */
  atMost(limitMs: number): void {
    const ms = Math.max(TICK_MIN_MS, Math.min(TICK_MAX_MS, Math.floor(limitMs / 4)));
    if (this.#timer && ms < this.#everyMs) this.#set(ms);
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  #set(ms: number): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#everyMs = ms;
    this.#timer = setInterval(this.#onTick, ms);
    this.#timer.unref();
  }
}

/** Resolves 'idle' when `idle` settles first, 'grace' when `graceMs` passes first. */
export async function idleWithinGrace(idle: Promise<unknown>, graceMs: number): Promise<'idle' | 'grace'> {
  let timer: NodeJS.Timeout | undefined;
  const graceOver = new Promise<'grace'>((r) => (timer = setTimeout(() => r('grace'), graceMs)));
  try {
    return await Promise.race([idle.then(() => 'idle' as const), graceOver]);
  } finally {
    clearTimeout(timer);
  }
}
