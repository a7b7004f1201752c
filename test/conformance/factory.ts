/**
 * The conformance suite's view of a driver: a factory that opens a fresh, migrated, empty store per call, and
 * the capabilities the driver reports. Each `suite/<area>.ts` takes a StoreFactory and declares its cases;
 * each driver has one small `<driver>.test.ts` that builds a factory and calls every area suite.
 *
 * A case is skipped only when it needs a capability the driver reports missing (`requires` below), and the
 * skipped case's title says which capability.
 */
import { it } from 'vitest';
import type { ManualClock } from '../../src/core/clock.js';
import type { Store, StoreCapabilities } from '../../src/storage/store.js';

export interface StoreFactory {
  /** Shown in test titles (`sqlite`, `postgres`). */
  readonly name: string;
  /** What the driver can do; must equal `store.capabilities` of the stores it opens. */
  readonly capabilities: StoreCapabilities;
  /**
   * A fresh, migrated, empty store. With `clock`, a driver that has `settableClock` takes every timestamp
   * from it; the factory closes and removes what it opened after each test.
   */
  open(opts?: { clock?: ManualClock }): Promise<Store>;
}

export type Capability = keyof StoreCapabilities;

/** `it` for a case that needs `capability`: skipped (and titled so) only when the driver lacks it. */
export function requires(factory: StoreFactory, capability: Capability): (name: string, fn: () => Promise<void>) => void {
  const missing = !factory.capabilities[capability];
  return (name, fn) => it.skipIf(missing)(missing ? `${name} [skipped: ${factory.name} lacks ${capability}]` : name, fn);
}
