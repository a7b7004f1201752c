/**
 * GET /metrics through Prometheus's own checker, on every store: a real server does real work (enqueues, a
 * completion, a failed attempt that is retried, a job into the DLQ, an admission refusal), and the exposition
 * it then serves must pass `promtool check metrics` with exit 0 and no output at all (no lint warnings such
 * as a gauge named `_total`). promtool comes from test/helpers/promtool.ts (PATH, or Debian's package).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { forEachStore, waitUntil } from '../engine/harness.js';
import { parsePrometheus } from '../helpers/prometheus.js';
import { checkMetrics, findPromtool } from '../helpers/promtool.js';
import { startApi } from './api-harness.js';

beforeAll(() => {
  findPromtool(); // may install it (apt-get): once per file, before the clocked tests
}, 15 * 60_000);

forEachStore(() => {
  describe('GET /metrics and promtool check metrics', () => {
    it('passes with no warnings after real work: completions, a retry, a dead job, an admission refusal', async () => {
      const api = await startApi();
      const put = (name: string, body: unknown) => api.call('PUT', `/v1/queues/${name}`, { body });
      expect((await put('mail', { maxAttempts: 2, backoff: { initialSeconds: 0.01, maxSeconds: 0.01 }, admission: { maxDepth: 3 } })).status).toBe(201);
      for (const payload of [{ kind: 'ok' }, { kind: 'flaky' }, { kind: 'poison' }]) {
        expect((await api.call('POST', '/v1/queues/mail/jobs', { body: { payload } })).status).toBe(202);
      }
      expect((await api.call('POST', '/v1/queues/mail/jobs', { body: { payload: { kind: 'refused' } } })).status).toBe(503);

      const tries = new Map<string, number>();
      api.spool.handle('mail', async (payload: unknown) => {
        const kind = (payload as { kind: string }).kind;
        const n = (tries.get(kind) ?? 0) + 1;
        tries.set(kind, n);
        if (kind === 'poison' || (kind === 'flaky' && n === 1)) throw new Error(`${kind} attempt ${n}`);
      });
      const worker = await api.spool.work({ queues: ['mail'] });
      await waitUntil(async () => {
        const [s] = await api.spool.stats('mail');
        return s!.counts.completed === 2 && s!.counts.dead === 1;
      }, 'two completed and one dead');
      await worker.stop();

      const res = await api.call('GET', '/metrics');
      expect(res.status).toBe(200);
      // The work is in the exposition being checked (so the check covers populated series, not only empty ones).
      const m = parsePrometheus(res.text);
      expect(m.value('spool_jobs_failed_total', { queue: 'mail' })).toBe(3);
      expect(m.value('spool_admission_rejected_total', { queue: 'mail', reason: 'max_depth' })).toBe(1);

      const checked = await checkMetrics(res.text);
      expect(checked, res.text).toEqual({ code: 0, output: '' });
    });
  });
});
