/**
 * Two `spool serve` processes over one PostgreSQL database (one fresh schema), with 16 remote pullers in this
 * process (8 per server) working through the lease API while 2,000 jobs are enqueued through both servers:
 *   - every job is completed exactly once (one `completed` entry in its history) and acked successfully once,
 *     with the token of the last lease granted for it (fencing);
 *   - no job is held by two pullers while a lease is valid: per job, each grant (server clock:
 *     leaseExpiresAt − leaseSeconds) comes at or after the previous grant's expiry;
 *   - two pullers sit on their first leases (1 s) without acking; once the job was leased again, their ack,
 *     extend and progress with the old token answer 409 lease-lost;
 *   - long polls wake across nodes: jobs enqueued through one server are leased by pullers of the other.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Spool, type Job } from '../../src/index.js';
import { buildCli, type LongRunning } from '../cli/spawn.js';
import { useTestSchema } from '../helpers/pg-schema.js';
import { HttpClient, inLanes, startServer, type Answer, type Server } from './server-processes.js';

const schema = useTestSchema(import.meta.url);
const procs: LongRunning[] = [];
const clients: HttpClient[] = [];
const spools: Spool[] = [];
beforeAll(buildCli);
afterEach(async () => {
  for (const p of procs.splice(0)) p.kill();
  for (const c of clients.splice(0)) c.close();
  for (const s of spools.splice(0)) await s.close({ graceMs: 0 });
});
const track = (p: LongRunning) => void procs.push(p);

const QUEUE = 'nodes';
const JOBS = 2_000;
const PULLERS = 16;
/** Pullers 0 and 1 (one per server) sit on this many 1-second leases each before working normally. */
const STALLS_PER_PULLER = 5;
const STALL_LEASE_SECONDS = 1;
const LEASE_SECONDS = 30;

interface Grant {
  readonly job: string;
  readonly token: string;
  readonly puller: number;
  readonly server: number;
  /** Server (database) clock, ms: when the lease was granted and when it runs out. */
  readonly grantedAt: number;
  readonly expiresAt: number;
}

interface Node {
  readonly server: Server;
  readonly client: HttpClient;
}

const send = (node: Node, method: string, path: string, body?: unknown): Promise<Answer | null> => node.client.send(node.server.port, method, path, body);

describe('two spool serve processes on one PostgreSQL database, 16 remote pullers', () => {
  it('completes every job exactly once, never leases a job twice while a lease is valid, and fences stale tokens with 409', { timeout: 180_000 }, async () => {
    const servers = await Promise.all([startServer(schema().url, track), startServer(schema().url, track)]);
    const nodes: Node[] = servers.map((server) => {
      const client = new HttpClient(64);
      clients.push(client);
      return { server, client };
    });
    const put = await send(nodes[0]!, 'PUT', `/v1/queues/${QUEUE}`, { leaseSeconds: LEASE_SECONDS, maxAttempts: 25, backoff: { initialSeconds: 0.01, maxSeconds: 0.02, multiplier: 1 } });
    expect(put?.status).toBe(201);

    const grants: Grant[] = [];
    const grantsOf = new Map<string, Grant[]>();
    const acked = new Map<string, string[]>(); // job → tokens acked with 200
    const enqueuedOn = new Map<string, number>();
    const staleAnswers: Array<{ job: string; call: string; status: number | null; type: string | undefined }> = [];
    const stallChecks: Promise<void>[] = [];
    const unexpected: string[] = [];
    let done = false;

    const record = (g: Grant): void => {
      grants.push(g);
      grantsOf.set(g.job, [...(grantsOf.get(g.job) ?? []), g]);
    };

    /** After the job was leased again, every fenced call with the old token must be a 409 lease-lost. */
    const checkStale = async (node: Node, g: Grant): Promise<void> => {
      const deadline = Date.now() + 120_000;
      while ((grantsOf.get(g.job) ?? []).at(-1)?.token === g.token) {
        if (Date.now() > deadline) throw new Error(`job ${g.job} was not leased again within 120 s of a stalled lease`);
        await new Promise((r) => setTimeout(r, 50));
      }
      for (const [call, body] of [
        ['ack', { leaseToken: g.token, result: { stale: true } }],
        ['extend', { leaseToken: g.token, leaseSeconds: 5 }],
        ['progress', { leaseToken: g.token, progress: 1 }],
      ] as const) {
        const answer = await send(node, 'POST', `/v1/jobs/${g.job}/${call}`, body);
        staleAnswers.push({ job: g.job, call, status: answer?.status ?? null, type: answer?.body?.type });
      }
    };

    const puller = async (index: number): Promise<void> => {
      const server = index % 2;
      const node = nodes[server]!;
      let stalls = index < 2 ? STALLS_PER_PULLER : 0;
      while (!done) {
        const stalling = stalls > 0;
        const answer = await send(node, 'POST', `/v1/queues/${QUEUE}/leases`, {
          max: stalling ? 1 : 4,
          leaseSeconds: stalling ? STALL_LEASE_SECONDS : LEASE_SECONDS,
          waitSeconds: 1,
        });
        if (answer?.status !== 200) {
          unexpected.push(`puller ${index}: lease answered ${answer ? `${answer.status} ${JSON.stringify(answer.body)}` : 'nothing'}`);
          return;
        }
        for (const job of answer.body.jobs as Array<{ id: string; leaseToken: string; leaseExpiresAt: string; leaseSeconds: number }>) {
          const expiresAt = Date.parse(job.leaseExpiresAt);
          const g: Grant = { job: job.id, token: job.leaseToken, puller: index, server, expiresAt, grantedAt: expiresAt - job.leaseSeconds * 1000 };
          record(g);
          if (stalls > 0) {
            stalls--;
            stallChecks.push(checkStale(node, g)); // sit on it: no ack, the lease runs out
            continue;
          }
          const ack = await send(node, 'POST', `/v1/jobs/${job.id}/ack`, { leaseToken: job.leaseToken, result: { puller: index } });
          if (ack?.status === 200) acked.set(job.id, [...(acked.get(job.id) ?? []), job.leaseToken]);
          else unexpected.push(`puller ${index}: ack of ${job.id} answered ${ack ? `${ack.status} ${JSON.stringify(ack.body)}` : 'nothing'}`);
          if (acked.size === JOBS) done = true;
        }
      }
    };

    // Pullers first, so their long polls are waiting when the jobs come in through either server.
    const pulling = Promise.all(Array.from({ length: PULLERS }, (_, i) => puller(i)));
    await inLanes(32, JOBS, async (seq) => {
      const server = seq % 2;
      const answer = await send(nodes[server]!, 'POST', `/v1/queues/${QUEUE}/jobs`, { payload: { seq } });
      if (answer?.status !== 202) throw new Error(`enqueue ${seq} on server ${server}: ${answer ? `${answer.status} ${JSON.stringify(answer.body)}` : 'no answer'}`);
      enqueuedOn.set(answer.body.id as string, server);
    });
    const timeout = setTimeout(() => (done = true), 150_000);
    try {
      await pulling;
      await Promise.all(stallChecks);
    } finally {
      clearTimeout(timeout);
      done = true;
    }

    expect(unexpected).toEqual([]);
    expect(acked.size).toBe(JOBS);
    expect([...acked.keys()].sort()).toEqual([...enqueuedOn.keys()].sort());

    // Fencing: one successful ack per job, with the last token issued for it.
    const badAcks = [...acked].filter(([job, tokens]) => tokens.length !== 1 || tokens[0] !== grantsOf.get(job)!.at(-1)!.token);
    expect(badAcks).toEqual([]);

    // Stalled leases: once the job moved on, the old token is refused on every fenced call.
    expect(staleAnswers).toHaveLength(2 * STALLS_PER_PULLER * 3);
    expect(staleAnswers.filter((a) => a.status !== 409 || a.type !== 'urn:spool:problem:lease-lost')).toEqual([]);

    // No job held by two pullers while a lease was valid: each grant starts at or after the previous one ended.
    const overlaps: string[] = [];
    for (const [job, list] of grantsOf) {
      const sorted = [...list].sort((a, b) => a.grantedAt - b.grantedAt);
      for (let i = 1; i < sorted.length; i++) {
        if (sorted[i]!.grantedAt < sorted[i - 1]!.expiresAt) overlaps.push(`${job}: puller ${sorted[i - 1]!.puller} until ${sorted[i - 1]!.expiresAt}, puller ${sorted[i]!.puller} from ${sorted[i]!.grantedAt}`);
      }
    }
    expect(overlaps).toEqual([]);
    expect([...grantsOf.values()].filter((l) => l.length > 1).length, 'jobs leased more than once (the stalled ones)').toBeGreaterThanOrEqual(1);

    // Both servers' pullers worked, and long polls woke across nodes (jobs enqueued on one, leased on the other).
    for (const server of [0, 1]) {
      expect(grants.filter((g) => g.server === server).length, `grants through server ${server}`).toBeGreaterThanOrEqual(100);
      expect(grants.filter((g) => g.server === server && enqueuedOn.get(g.job) !== server).length, `jobs enqueued on the other server leased through ${server}`).toBeGreaterThan(0);
    }

    // The store agrees: every job completed exactly once, with the result of the ack that won.
    const spool = await Spool.open(schema().url);
    spools.push(spool);
    const ids = [...enqueuedOn.keys()];
    const jobs: Job[] = [];
    for (let i = 0; i < ids.length; i += 500) jobs.push(...(await spool.store.jobGetMany({ ids: ids.slice(i, i + 500) })));
    expect(jobs).toHaveLength(JOBS);
    const wrong = jobs
      .filter((j) => j.state !== 'completed' || j.history.filter((h) => h.state === 'completed').length !== 1 || (j.result as { puller?: number } | null)?.puller !== grantsOf.get(j.id)!.at(-1)!.puller)
      .map((j) => `${j.id}: ${j.state}, ${j.history.filter((h) => h.state === 'completed').length} completions, result ${JSON.stringify(j.result)}`);
    expect(wrong.slice(0, 10)).toEqual([]);

    const stops = await Promise.all(servers.map((s) => s.process.stop('SIGTERM')));
    expect(stops).toEqual([{ code: 0, signal: null }, { code: 0, signal: null }]);
  });
});
