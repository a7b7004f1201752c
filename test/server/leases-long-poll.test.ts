/**
 * LeaseWaiters (engine/lease-waiters.ts), the long poll behind `POST /v1/queues/{queue}/leases`, with a
 * scripted claim function: one store subscription for every waiter, one claim per wake-up (oldest waiter
 * first, then the next while claims come back non-empty), and a waiter that leaves while its claim runs
 * gets nothing while the claimed jobs are released.
 */
import { describe, expect, it } from 'vitest';
import { LeaseWaiters } from '../../src/engine/lease-waiters.js';
import { silentLogger } from '../../src/logger.js';
import type { ClaimedJob, StoreEvent } from '../../src/storage/store.js';
import { deferred, waitUntil } from '../engine/harness.js';

function job(id: string): ClaimedJob {
  return {
    id,
    queue: 'q',
    type: null,
    version: 1,
    payloadJson: 'null',
    priority: 'normal',
    orderingKey: null,
    groupKey: null,
    correlationId: null,
    attempt: 1,
    maxAttempts: 5,
    leaseToken: `t-${id}`,
    leaseExpiresAt: Date.now() + 30_000,
    leaseMs: 30_000,
    createdAt: Date.now(),
    runAt: Date.now(),
    optionsJson: null,
  };
}

/** A fake store side: a list of claimable job ids per queue, the subscription, and what was released. */
function harness(options: { claimGate?: () => Promise<void> } = {}) {
  const claimable = new Map<string, string[]>();
  const listeners = new Set<(e: StoreEvent) => void>();
  const released: string[] = [];
  const claims: Array<{ queue: string; max: number }> = [];
  let subscribes = 0;
  const waiters = new LeaseWaiters({
    subscribe: (l) => {
      subscribes++;
      listeners.add(l);
      return () => listeners.delete(l);
    },
    claim: async (queue, max) => {
      claims.push({ queue, max });
      await options.claimGate?.();
      const ids = claimable.get(queue) ?? [];
      return ids.splice(0, max).map(job);
    },
    release: async (jobs) => void released.push(...jobs.map((j) => j.id)),
    log: silentLogger,
    recheckMs: 60_000,
  });
  const add = (queue: string, ...ids: string[]) => {
    claimable.set(queue, [...(claimable.get(queue) ?? []), ...ids]);
    for (const l of listeners) l({ queues: [queue] });
  };
  return { waiters, add, released, claims, listeners, subscribes: () => subscribes };
}

describe('LeaseWaiters', () => {
  it('serves every waiter from one subscription; a wake-up claims for the oldest waiter first, then the next', async () => {
    const h = harness();
    const a = h.waiters.wait({ queue: 'q', max: 1, leaseMs: 1000, waitMs: 20_000 });
    const b = h.waiters.wait({ queue: 'q', max: 1, leaseMs: 1000, waitMs: 20_000 });
    const c = h.waiters.wait({ queue: 'other', max: 5, leaseMs: 1000, waitMs: 20_000 });
    await waitUntil(() => h.claims.length === 3, 'the first claims');
    expect(h.subscribes()).toBe(1);
    expect(h.waiters.waiting).toBe(3);

    h.claims.length = 0;
    h.add('q', 'j1', 'j2');
    expect((await a).map((j) => j.id)).toEqual(['j1']);
    expect((await b).map((j) => j.id)).toEqual(['j2']);
    // One claim per waiter served, and one more that found the queue empty; the other queue was not asked.
    expect(h.claims).toEqual([{ queue: 'q', max: 1 }, { queue: 'q', max: 1 }]);
    expect(h.waiters.waiting).toBe(1);

    h.waiters.close();
    expect(await c).toEqual([]);
    expect(h.listeners.size).toBe(0);
  });

  it('answers [] at the deadline; a wake-up for another queue costs this one nothing', async () => {
    const h = harness();
    const w = h.waiters.wait({ queue: 'q', max: 3, leaseMs: 1000, waitMs: 200 });
    h.add('elsewhere', 'x');
    expect(await w).toEqual([]);
    expect(h.claims.filter((c) => c.queue === 'q')).toHaveLength(1); // only the first look
    h.waiters.close();
  });

  it('a waiter that leaves while waiting claims nothing later', async () => {
    const h = harness();
    const gone = new AbortController();
    const w = h.waiters.wait({ queue: 'q', max: 3, leaseMs: 1000, waitMs: 20_000, signal: gone.signal });
    await waitUntil(() => h.claims.length === 1, 'the first claim');
    gone.abort();
    expect(await w).toEqual([]);
    expect(h.waiters.waiting).toBe(0);
    h.add('q', 'j1');
    await new Promise((r) => setTimeout(r, 20));
    expect(h.claims).toHaveLength(1);
    expect(h.released).toEqual([]);
    h.waiters.close();
  });

  it('a waiter that leaves during its claim gets nothing, and the jobs claimed for it are released', async () => {
    const gate = deferred();
    let gated = false;
    const h = harness({
      claimGate: async () => {
        if (gated) await gate.promise;
      },
    });
    const gone = new AbortController();
    const w = h.waiters.wait({ queue: 'q', max: 3, leaseMs: 1000, waitMs: 20_000, signal: gone.signal });
    await waitUntil(() => h.claims.length === 1, 'the first claim');
    gated = true;
    h.add('q', 'j1', 'j2'); // the wake-up claims for the waiter; the claim is held at the gate
    await waitUntil(() => h.claims.length === 2, 'the claim to start');
    gone.abort();
    gate.resolve();
    expect(await w).toEqual([]);
    await waitUntil(() => h.released.length === 2, 'the release');
    expect(h.released).toEqual(['j1', 'j2']);
    h.waiters.close();
  });

  it('refuses new waits after close', async () => {
    const h = harness();
    h.waiters.close();
    expect(await h.waiters.wait({ queue: 'q', max: 1, leaseMs: 1000, waitMs: 20_000 })).toEqual([]);
    expect(h.claims).toHaveLength(0);
  });
});
