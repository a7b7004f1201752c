/**
 * After a crash, an expired lease needs no leader. A real `spool serve` on every store: a pull worker leases a
 * job for 2 s, the server is killed with SIGKILL (it was the maintenance leader: its leader lease outlives it
 * by 15 s) and restarted on the same store; a long poll right after the restart gets the job back from its
 * lease's expiry — well within a wait shorter than the dead leader's lease — as attempt 2, with the lost
 * attempt in its history; the old token is refused (409 lease-lost).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, type LongRunning } from '../cli/spawn.js';
import { forEachStore, onCleanup } from '../engine/harness.js';
import { HttpClient, startServer } from './server-processes.js';

const procs: LongRunning[] = [];
beforeAll(buildCli);
afterEach(() => {
  for (const p of procs.splice(0)) p.kill();
});
const track = (p: LongRunning) => void procs.push(p);

forEachStore((store) => {
  describe('spool serve killed with SIGKILL while a pull worker holds a lease', () => {
    it('a long poll on the restarted server gets the job from its lease expiry, without waiting for a maintenance leader', { timeout: 90_000 }, async () => {
      const location = await store.newLocation();
      onCleanup(() => location.dispose());
      const client = new HttpClient(4);
      onCleanup(() => client.close());

      const first = await startServer(location.url, track);
      expect((await client.send(first.port, 'PUT', '/v1/queues/work', {}))?.status).toBe(201);
      const posted = await client.send(first.port, 'POST', '/v1/queues/work/jobs', { payload: { n: 1 } });
      expect(posted?.status).toBe(202);
      const leased = await client.send(first.port, 'POST', '/v1/queues/work/leases', { max: 1, leaseSeconds: 2 });
      expect(leased?.status).toBe(200);
      const held = leased!.body.jobs[0] as { id: string; leaseToken: string; attempt: number };
      expect(held).toMatchObject({ id: posted!.body.id, attempt: 1 });

      first.process.kill();
      expect((await first.process.exited).signal).toBe('SIGKILL');
      client.close();

      const second = await startServer(location.url, track);
      const again = new HttpClient(4);
      onCleanup(() => again.close());
      // 10 s: less than the dead node's 15 s maintenance-leader lease, so only the claim-side takeover can answer.
      const poll = await again.send(second.port, 'POST', '/v1/queues/work/leases', { max: 1, waitSeconds: 10 });
      expect(poll?.status).toBe(200);
      expect(poll!.body.jobs).toHaveLength(1);
      const retaken = poll!.body.jobs[0] as { id: string; leaseToken: string; attempt: number };
      expect(retaken).toMatchObject({ id: held.id, attempt: 2 });

      const stale = await again.send(second.port, 'POST', `/v1/jobs/${held.id}/ack`, { leaseToken: held.leaseToken });
      expect(stale?.status).toBe(409);
      expect(stale!.body.type).toBe('urn:spool:problem:lease-lost');
      expect((await again.send(second.port, 'POST', `/v1/jobs/${held.id}/ack`, { leaseToken: retaken.leaseToken }))?.status).toBe(200);
      const job = await again.send(second.port, 'GET', `/v1/jobs/${held.id}`);
      expect(job!.body).toMatchObject({ state: 'completed', attempts: 2 });
      expect((job!.body.history as Array<{ state: string }>).map((h) => h.state)).toEqual(['queued', 'active', 'retrying', 'queued', 'active', 'completed']);
      expect(await second.process.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    });
  });
});
