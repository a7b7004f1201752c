/**
 * LeaseWaiters and lease expiry (store-independent: the store is replaced by its three calls). No event
 * announces a lease running out, so after an empty claim a waiting queue arms one timer for its earliest lease
 * expiry and claims again then (the store takes the expired job over) — long before its safety re-check. A lease
 * already past expiry that is still not claimable arms nothing (no busy loop).
 */
import { describe, expect, it } from 'vitest';
import { LeaseWaiters } from '../../src/engine/lease-waiters.js';
import type { ClaimedJob } from '../../src/storage/store.js';
import { sleep } from './harness.js';

const silent = { debug() {}, info() {}, warn() {}, error() {}, child() { return silent; } } as never;
const JOB = { id: 'job-1' } as ClaimedJob;

describe('LeaseWaiters', () => {
  it('wakes a waiting queue at its earliest lease expiry and claims the expired job then', async () => {
    let claims = 0;
    let expiryAsks = 0;
    const waiters = new LeaseWaiters({
      subscribe: () => () => {},
      claim: async () => (++claims >= 2 ? [JOB] : []),
      release: async () => {},
      nextLeaseExpiryMs: async () => {
        expiryAsks++;
        return 50;
      },
      recheckMs: 3_600_000, // the safety re-check never fires in this test
      log: silent,
    });
    const jobs = await waiters.wait({ queue: 'q', max: 1, leaseMs: 1000, waitMs: 30_000 });
    expect(jobs).toEqual([JOB]);
    expect(claims).toBe(2);
    expect(expiryAsks).toBe(1);
    waiters.close();
  });

  it('arms no timer for a lease already past expiry (no busy loop) nor with no lease held', async () => {
    for (const answer of [0, null]) {
      let claims = 0;
      const waiters = new LeaseWaiters({
        subscribe: () => () => {},
        claim: async () => {
          claims++;
          return [];
        },
        release: async () => {},
        nextLeaseExpiryMs: async () => answer,
        recheckMs: 3_600_000,
        log: silent,
      });
      const pending = waiters.wait({ queue: 'q', max: 1, leaseMs: 1000, waitMs: 300 });
      await sleep(200);
      expect(claims).toBe(1);
      expect(await pending).toEqual([]);
      waiters.close();
    }
  });
});
