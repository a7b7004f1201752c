/**
 * kill -9 of a real `spool serve` between a job's completion and its webhook's delivery, on every store. The
 * delivery is a job the store wrote with the completion, so it outlives the process:
 *
 *  1. the receiver holds the first POST open (never answers): SIGKILL with the delivery in flight; after a
 *     restart its lease runs out, the lease reaper puts it back, and it is delivered with the same webhook-id;
 *  2. the receiver is down (drops every connection) when the job completes: SIGKILL while the delivery waits
 *     for its retry; after a restart, with the receiver back, it is delivered with the same webhook-id.
 *
 * Jobs complete through the pull API (lease + ack over HTTP), so the server needs no handlers module; every
 * delivery is checked with the reference `standardwebhooks` verifier.
 */
import type { ServerResponse } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, type LongRunning } from '../cli/spawn.js';
import { forEachStore, onCleanup, waitUntil } from '../engine/harness.js';
import { startTarget, type ReceivedRequest } from '../server/push-target.js';
import { HttpClient, startServer, type Server } from './server-processes.js';

const procs: LongRunning[] = [];
beforeAll(buildCli);
afterEach(() => {
  for (const p of procs.splice(0)) p.kill();
});
const track = (p: LongRunning) => void procs.push(p);

const SECRET = `whsec_${Buffer.from('kill-nine-webhook-secret-0123456').toString('base64')}`;
const ENV = { SPOOL_ALLOW_PRIVATE_TARGETS: '127.0.0.1' };

async function send(server: Server, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const client = new HttpClient(1);
  try {
    const answer = await client.send(server.port, method, path, body);
    if (!answer) throw new Error(`${method} ${path}: no answer`);
    return answer;
  } finally {
    client.close();
  }
}

/** Enqueue one job on `queue` and complete it through a lease and an ack; its id. */
async function completeOne(server: Server, queue: string): Promise<string> {
  const accepted = await send(server, 'POST', `/v1/queues/${queue}/jobs`, { payload: { order: 17 } });
  expect(accepted.status).toBe(202);
  const leased = await send(server, 'POST', `/v1/queues/${queue}/leases`, { max: 1, waitSeconds: 5 });
  expect(leased.body.jobs.map((j: { id: string }) => j.id)).toEqual([accepted.body.id]);
  const ack = await send(server, 'POST', `/v1/jobs/${accepted.body.id}/ack`, { leaseToken: leased.body.jobs[0].leaseToken, result: { shipped: true } });
  expect(ack.status).toBe(200);
  return accepted.body.id as string;
}

function verified(req: ReceivedRequest): unknown {
  return new Webhook(SECRET).verify(req.raw, {
    'webhook-id': String(req.headers['webhook-id']),
    'webhook-timestamp': String(req.headers['webhook-timestamp']),
    'webhook-signature': String(req.headers['webhook-signature']),
  });
}

async function killed(server: Server): Promise<void> {
  server.process.kill(); // SIGKILL
  expect((await server.process.exited).signal).toBe('SIGKILL');
}

forEachStore((store) => {
  describe('spool serve killed with SIGKILL between a completion and its webhook delivery', () => {
    it('delivers the notification after a restart, with the same webhook-id (request held open; receiver down)', { timeout: 180_000 }, async () => {
      const location = await store.newLocation();
      onCleanup(() => location.dispose());
      let mode: 'hold' | 'down' | 'up' = 'hold';
      const receiver = await startTarget((_req, res: ServerResponse) => {
        if (mode === 'up') res.writeHead(200).end();
        else if (mode === 'down') res.socket?.destroy();
        // 'hold': never answer
      });

      // 1. The delivery is in flight (the receiver holds it) when the server dies.
      let server = await startServer(location.url, track, ENV);
      expect((await send(server, 'PUT', '/v1/queues/orders', { webhook: { url: `${receiver.url}/hook`, secret: SECRET } })).status).toBe(201);
      const first = await completeOne(server, 'orders');
      await waitUntil(() => receiver.received.length === 1, 'the first delivery attempt to reach the receiver', { timeoutMs: 30_000 });
      const heldId = String(receiver.received[0]!.headers['webhook-id']);
      await killed(server);
      mode = 'up';
      server = await startServer(location.url, track, ENV);
      // The dead node's lease (15 s on spool.webhooks) runs out; the reaper hands the delivery back.
      await waitUntil(() => receiver.received.length >= 2, 'the delivery after the restart', { timeoutMs: 90_000, intervalMs: 100 });
      const again = receiver.received[1]!;
      expect(again.headers['webhook-id']).toBe(heldId);
      // statusUrl is absolute under the address the (restarted) server listens on, SPOOL_PUBLIC_URL being unset.
      expect(verified(again)).toMatchObject({ type: 'job.completed', data: { id: first, state: 'completed', result: { shipped: true }, statusUrl: `${server.base}/v1/jobs/${first}` } });
      const delivery = await waitUntil(async () => {
        const d = await send(server, 'GET', `/v1/jobs/${heldId}`);
        return d.body.state === 'completed' ? d.body : undefined;
      }, 'the delivery to complete');
      expect(delivery).toMatchObject({ queue: 'spool.webhooks', correlationId: first, attempts: 2, result: { status: 200 } });
      expect(delivery.history.map((h: { reason?: string }) => h.reason).filter(Boolean)).toContain('lease-expired');

      // 2. The receiver is down when the job completes; the server dies while the delivery waits for its retry.
      mode = 'down';
      const second = await completeOne(server, 'orders');
      const waiting = await waitUntil(async () => {
        const page = await send(server, 'GET', `/v1/jobs?queue=spool.webhooks&correlationId=${second}`);
        const d = page.body.jobs[0];
        return d?.state === 'retrying' ? d : undefined;
      }, 'the failed first attempt', { timeoutMs: 30_000 });
      expect(waiting.lastError.message).toMatch(/socket hang up|ECONNRESET/);
      await killed(server);
      mode = 'up';
      const before = receiver.received.length;
      server = await startServer(location.url, track, ENV);
      await waitUntil(() => receiver.received.slice(before).some((r) => r.headers['webhook-id'] === waiting.id), 'the retried delivery', { timeoutMs: 60_000, intervalMs: 100 });
      const delivered = receiver.received.slice(before).find((r) => r.headers['webhook-id'] === waiting.id)!;
      expect(verified(delivered)).toMatchObject({ type: 'job.completed', data: { id: second } });
      expect(new Set(receiver.received.filter((r) => (verified(r) as { data: { id: string } }).data.id === second).map((r) => r.headers['webhook-id']))).toEqual(new Set([waiting.id]));

      expect(await server.process.stop('SIGTERM')).toEqual({ code: 0, signal: null });
    });
  });
});
