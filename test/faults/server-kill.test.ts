/**
 * kill -9 of `spool serve` during a burst of enqueues, on every store: a real server process on port 0, 2,000
 * POST /v1/queues/{q}/jobs fired with 200 keep-alive sockets, SIGKILL once a given number of 202s came back
 * (different per cycle), then a new server on the same store must answer 200 for every id that got a 202.
 * Requests that got no answer may or may not have been written; a 202 is never lost. Three cycles, each
 * restarting on what the previous kill left (and re-checking every earlier cycle's ids too).
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, type LongRunning } from '../cli/spawn.js';
import { forEachStore, onCleanup } from '../engine/harness.js';
import { HttpClient, inLanes, startServer, type Server } from './server-processes.js';

const procs: LongRunning[] = [];
beforeAll(buildCli);
afterEach(() => {
  for (const p of procs.splice(0)) p.kill();
});
const track = (p: LongRunning) => void procs.push(p);

const BURST = 2_000;
const SOCKETS = 200;
/** The cycle's SIGKILL goes out when this many 202s have come back (early, middle and late in the burst). */
const KILL_AFTER = [300, 900, 1_500];
const TEXT = 'x'.repeat(200);

interface Burst {
  readonly accepted: string[];
  readonly unanswered: number;
  readonly refused: Record<number, number>;
}

/** Fire the burst; SIGKILL the server when the `killAfter`-th 202 arrives, and carry on until all are sent. */
async function burstAndKill(server: Server, cycle: number, killAfter: number): Promise<Burst> {
  const client = new HttpClient(SOCKETS);
  const accepted: string[] = [];
  const refused: Record<number, number> = {};
  let unanswered = 0;
  try {
    await inLanes(SOCKETS, BURST, async (seq) => {
      const answer = await client.send(server.port, 'POST', '/v1/queues/burst/jobs', { payload: { cycle, seq, text: TEXT } });
      if (answer === null) {
        unanswered++;
        return;
      }
      if (answer.status !== 202) {
        refused[answer.status] = (refused[answer.status] ?? 0) + 1;
        return;
      }
      accepted.push(answer.body.id as string);
      if (accepted.length === killAfter) server.process.kill(); // SIGKILL, from inside the burst
    });
  } finally {
    client.close();
  }
  const exit = await server.process.exited;
  expect(exit.signal).toBe('SIGKILL');
  return { accepted, unanswered, refused };
}

/** GET /v1/jobs/{id} for every id; the ids that did not answer 200. */
async function missing(server: Server, ids: readonly string[]): Promise<string[]> {
  const client = new HttpClient(32);
  const lost: string[] = [];
  try {
    await inLanes(32, ids.length, async (i) => {
      const answer = await client.send(server.port, 'GET', `/v1/jobs/${ids[i]}`);
      if (answer?.status !== 200 || answer.body.id !== ids[i]) lost.push(`${ids[i]}: ${answer ? `${answer.status} ${JSON.stringify(answer.body).slice(0, 200)}` : 'no answer'}`);
    });
  } finally {
    client.close();
  }
  return lost;
}

forEachStore((store) => {
  describe('spool serve killed with SIGKILL during a burst of POSTs', () => {
    it(`keeps every 202'd job across ${KILL_AFTER.length} kill-and-restart cycles of ${BURST.toLocaleString('en-US')} concurrent POSTs`, { timeout: 120_000 }, async () => {
      const location = await store.newLocation();
      onCleanup(() => location.dispose());
      let server = await startServer(location.url, track);
      const setup = new HttpClient(1);
      const created = await setup.send(server.port, 'PUT', '/v1/queues/burst', {});
      setup.close();
      expect(created?.status).toBe(201);

      const everAccepted: string[] = [];
      for (const [cycle, killAfter] of KILL_AFTER.entries()) {
        const burst = await burstAndKill(server, cycle, killAfter);
        // The kill landed mid-burst: some requests got a 202 before it, some got no answer at all.
        expect(burst.accepted.length).toBeGreaterThanOrEqual(killAfter);
        expect(burst.accepted.length).toBeLessThan(BURST);
        expect(burst.unanswered).toBeGreaterThan(0);
        // Nothing but 202, no answer, or (a store too slow on a loaded machine) 503 store-unavailable: never a 500.
        expect(Object.keys(burst.refused).filter((status) => status !== '503')).toEqual([]);
        expect(new Set(burst.accepted).size).toBe(burst.accepted.length);
        everAccepted.push(...burst.accepted);

        server = await startServer(location.url, track);
        expect(await missing(server, everAccepted), `cycle ${cycle + 1}: 202'd ids missing after the restart`).toEqual([]);
      }
      expect(new Set(everAccepted).size).toBe(everAccepted.length);
      const stopped = await server.process.stop('SIGTERM');
      expect(stopped).toEqual({ code: 0, signal: null });
    });
  });
});
