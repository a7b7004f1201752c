/**
 * examples/python-worker/worker.py (standard-library Python) against a real `spool serve` (the compiled CLI)
 * on every store, with an admin token: its jobs complete with the Python handler's result, a failing attempt
 * is nacked and retried (and counted in spool_jobs_retried_total), a job running longer than its lease keeps
 * it by extending (one attempt, never reaped), a PermanentError goes to the DLQ after one attempt, and SIGTERM
 * stops the worker with exit 0.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { forEachStore, onCleanup, waitUntil } from '../engine/harness.js';
import { parsePrometheus } from '../helpers/prometheus.js';
import { cliTestScope, ROOT, spoolLong } from '../cli/spawn.js';

const WORKER = join(ROOT, 'examples/python-worker/worker.py');
const TOKEN = 'python-worker-test-admin-token';

const { procs } = cliTestScope();

forEachStore((store) => {
  describe('examples/python-worker/worker.py', () => {
    it('completes jobs, retries a failed attempt, extends a long lease, dead-letters a permanent error, stops on SIGTERM', async () => {
      const location = await store.newLocation();
      onCleanup(() => location.dispose()); // after the server (registered later, so stopped first)
      const server = spoolLong(['serve', '--db', location.url, '--port', '0'], { env: { SPOOL_ADMIN_TOKEN: TOKEN } });
      procs.push(server);
      onCleanup(() => void server.stop('SIGTERM'));
      const [, base] = await server.waitForLine(/listening on (http:\/\/\S+)/);
      const api = async (method: string, path: string, body?: unknown) => {
        const res = await fetch(`${base}${path}`, {
          method,
          headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          body: body === undefined ? undefined : JSON.stringify(body),
        });
        const text = await res.text();
        return { status: res.status, text, body: /json/.test(res.headers.get('content-type') ?? '') ? JSON.parse(text) : undefined };
      };

      expect((await api('PUT', '/v1/queues/py', { maxAttempts: 3, leaseSeconds: 2, backoff: { initialSeconds: 0.05, maxSeconds: 0.05 } })).status).toBe(201);
      const ids: Record<string, string> = {};
      for (const [name, payload] of Object.entries({
        ok: { n: 1 },
        flaky: { failUntilAttempt: 2 },
        long: { sleepSeconds: 5 }, // 2.5 leases of 2 s
        permanent: { permanent: true },
      })) {
        const res = await api('POST', '/v1/queues/py/jobs', { payload });
        expect(res.status, res.text).toBe(202);
        ids[name] = res.body.id;
      }

      const worker = spawn('python3', [WORKER, '--url', base!, '--queue', 'py', '--concurrency', '4', '--wait', '1', '--grace', '5'], {
        env: { ...process.env, SPOOL_TOKEN: TOKEN },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      worker.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
      worker.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
      const exited = new Promise<{ code: number | null; signal: string | null }>((res) => worker.on('exit', (code, signal) => res({ code, signal })));
      onCleanup(() => {
        if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
      });

      const jobs: Record<string, { state: string; attempts: number; result: unknown; history: Array<{ state: string }> }> = {};
      await waitUntil(
        async () => {
          for (const [name, id] of Object.entries(ids)) jobs[name] = (await api('GET', `/v1/jobs/${id}`)).body;
          return Object.values(jobs).every((j) => ['completed', 'dead'].includes(j.state));
        },
        'every job finished',
        { timeoutMs: 60_000 },
      ).catch((e: Error) => {
        throw new Error(`${e.message}\njobs: ${JSON.stringify(jobs)}\nworker output:\n${out}`);
      });

      expect(jobs['ok']).toMatchObject({ state: 'completed', attempts: 1, result: { handledBy: 'python', attempt: 1, echo: { n: 1 } } });
      expect(jobs['flaky']).toMatchObject({ state: 'completed', attempts: 2, result: { handledBy: 'python', attempt: 2 } });
      expect(jobs['flaky']!.history.map((h) => h.state)).toContain('retrying');
      expect(jobs['long'], out).toMatchObject({ state: 'completed', attempts: 1 }); // the lease was extended, never reaped
      expect(jobs['permanent']).toMatchObject({ state: 'dead', attempts: 1 });
      const metrics = parsePrometheus((await api('GET', '/metrics')).text);
      expect(metrics.value('spool_jobs_retried_total', { queue: 'py' })).toBe(1);
      expect(metrics.value('spool_jobs_failed_total', { queue: 'py' })).toBe(2);

      worker.kill('SIGTERM');
      expect(await exited, out).toEqual({ code: 0, signal: null });
      expect(out).toContain('spool-worker: stopped');
    });
  });
});
