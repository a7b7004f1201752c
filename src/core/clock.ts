/**
 * Clocks. The store owns the clock: every timestamp a store writes comes from its clock, so time-travel
 * tests run against a store built with a ManualClock, and on PostgreSQL the database's now() is the clock.
 */

export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A settable clock for tests: starts at the real time (or `startMs`) and moves only when told to. */
export class ManualClock implements Clock {
  #ms: number;
  constructor(startMs: number = Date.now()) {
    this.#ms = startMs;
  }
  now(): number {
    return this.#ms;
  }
  advance(ms: number): void {
    this.#ms += ms;
  }
  set(ms: number): void {
    this.#ms = ms;
  }
}
