/**
 * The SSRF guard over real HTTP on every store. Configuration time: `target.url`, `webhook.url` and a job's
 * `callbackUrl` with a literal private / loopback / link-local / unspecified / IPv4-mapped address (or
 * localhost, or a non-http scheme) are 422 problem+json naming the field, and nothing is written; the
 * allow-list (`SPOOL_ALLOW_PRIVATE_TARGETS`) lets its hosts and ranges through. Delivery time: a host name that
 * resolves to loopback — through the system resolver (`localhost`) or a test resolver (a name that answers
 * a public address to a check and 127.0.0.1 to the connect would get nowhere either: the connect's own
 * answer is the one checked) — is refused at connect time and the target never sees a request.
 */
import { describe, expect, it } from 'vitest';
import { parseTargetPolicy, type Resolver } from '../../src/net/target-guard.js';
import { forEachStore, waitForState } from '../engine/harness.js';
import { expectProblem, startApi } from './api-harness.js';
import { allowPrivateTargets, startDispatcher, startTarget } from './push-target.js';

const REFUSED_TARGETS: Array<[string, RegExp]> = [
  ['http://127.0.0.1:9/hook', /loopback/],
  ['http://[::1]:9/hook', /loopback/],
  ['http://169.254.169.254/latest/meta-data/', /link-local/],
  ['http://10.0.0.8/hook', /private/],
  ['https://192.168.1.20/hook', /private/],
  ['http://[::ffff:127.0.0.1]/hook', /IPv4-mapped/],
  ['http://0.0.0.0:7420/', /unspecified/],
  ['http://2130706433/', /loopback/],
  ['http://[fd00::1]/', /unique local/],
  ['http://100.64.0.1/', /CGNAT/],
  ['http://localhost:8080/', /loopback \(localhost\)/],
  ['gopher://example.com/', /http or https/],
];

forEachStore(() => {
  describe('SSRF guard: configuration time (422)', () => {
    it(`PUT a queue whose target.url is a literal private address, localhost or not http(s) → 422 at /target/url, nothing written (${REFUSED_TARGETS.length} URLs)`, async () => {
      allowPrivateTargets(undefined);
      const api = await startApi();
      for (const [url, reason] of REFUSED_TARGETS) {
        const answer = await api.call('PUT', '/v1/queues/pushy', { body: { target: { url } } });
        expectProblem(answer, 422);
        expect({ url, errors: answer.body.errors }).toEqual({ url, errors: [{ path: '/target/url', message: expect.stringMatching(reason) }] });
      }
      expectProblem(await api.call('GET', '/v1/queues/pushy'), 404);
    });

    it('webhook.url is checked the same way (/webhook/url); an update keeps the old config when refused', async () => {
      allowPrivateTargets(undefined);
      const api = await startApi();
      expect((await api.call('PUT', '/v1/queues/q', { body: { webhook: { url: 'https://hooks.example.com/x', secret: 'whsec_abc' } } })).status).toBe(201);
      const refused = await api.call('PUT', '/v1/queues/q', { body: { webhook: { url: 'http://169.254.169.254/', secret: 'whsec_abc' }, target: { url: 'http://[::1]/' } } });
      expectProblem(refused, 422);
      expect(refused.body.errors.map((e: { path: string }) => e.path)).toEqual(['/target/url', '/webhook/url']);
      expect((await api.call('GET', '/v1/queues/q')).body.webhook.url).toBe('https://hooks.example.com/x');
    });

    it('public names and addresses are accepted; the allow-list admits its hosts and ranges only', async () => {
      allowPrivateTargets(undefined);
      const api = await startApi();
      expect((await api.call('PUT', '/v1/queues/a', { body: { target: { url: 'https://93.184.216.34/hook' } } })).status).toBe(201);
      expect((await api.call('PUT', '/v1/queues/b', { body: { target: { url: 'https://api.example.com/hook' } } })).status).toBe(201);
      process.env['SPOOL_ALLOW_PRIVATE_TARGETS'] = '127.0.0.0/8, hooks.internal';
      expect((await api.call('PUT', '/v1/queues/c', { body: { target: { url: 'http://127.0.0.1:8080/hook' } } })).status).toBe(201);
      expectProblem(await api.call('PUT', '/v1/queues/d', { body: { target: { url: 'http://[::1]:8080/hook' } } }), 422);
      expectProblem(await api.call('PUT', '/v1/queues/d', { body: { target: { url: 'http://10.0.0.1/hook' } } }), 422);
      process.env['SPOOL_ALLOW_PRIVATE_TARGETS'] = '1';
      expect((await api.call('PUT', '/v1/queues/d', { body: { target: { url: 'http://[::1]:8080/hook' } } })).status).toBe(201);
    });

    it('a job callbackUrl: 422 at /callbackUrl (and /jobs/{i}/callbackUrl in a batch, dry runs and topic events too); nothing enqueued', async () => {
      allowPrivateTargets(undefined);
      const api = await startApi();
      // A webhook secret to sign callbacks with (without one a callbackUrl is refused for that reason: webhooks.test.ts).
      await api.call('PUT', '/v1/queues/q', { body: { webhook: { url: 'https://hooks.example.com/q', secret: 'whsec_abc' } } });
      const one = await api.call('POST', '/v1/queues/q/jobs', { body: { payload: {}, callbackUrl: 'http://169.254.169.254/latest' } });
      expectProblem(one, 422);
      expect(one.body.errors).toEqual([{ path: '/callbackUrl', message: expect.stringContaining('link-local') }]);
      expectProblem(await api.call('POST', '/v1/queues/q/jobs?dryRun=true', { body: { payload: {}, callbackUrl: 'http://[::ffff:127.0.0.1]/' } }), 422);
      const batch = await api.call('POST', '/v1/queues/q/jobs/batch', {
        body: { jobs: [{ payload: 1, callbackUrl: 'https://hooks.example.com/done' }, { payload: 2, callbackUrl: 'http://10.1.1.1/done' }] },
      });
      expectProblem(batch, 422);
      expect(batch.body.errors).toEqual([{ index: 1, path: '/jobs/1/callbackUrl', message: expect.stringContaining('private') }]);
      expect((await api.spool.stats('q'))[0]!.totals.enqueued).toBe(0);
      await api.call('PUT', '/v1/topics/t', { body: { queues: ['q'] } });
      const event = await api.call('POST', '/v1/topics/t/events', { body: { payload: {}, callbackUrl: 'http://[::1]:8080/done' } });
      expectProblem(event, 422);
      expect(event.body.errors).toEqual([{ path: '/callbackUrl', message: expect.stringContaining('loopback') }]);
      expect((await api.spool.stats('q'))[0]!.totals.enqueued).toBe(0);
      const ok = await api.call('POST', '/v1/queues/q/jobs', { body: { payload: {}, callbackUrl: 'https://hooks.example.com/done' } });
      expect(ok.status).toBe(202);
    });
  });

  describe('SSRF guard: connect time', () => {
    it('a target named localhost (declared while private targets were allowed) is refused at connect time once they are not', async () => {
      allowPrivateTargets(undefined);
      const api = await startApi();
      const target = await startTarget((_r, res) => res.end());
      await startDispatcher(api.spool);
      // The library checks at configuration too: without the allow-list the declaration itself is refused.
      await expect(api.spool.declareQueue('named', { target: { url: `http://localhost:${target.port}/hook` } })).rejects.toMatchObject({
        code: 'validation_failed',
        errors: [{ path: '/target/url' }],
      });
      allowPrivateTargets('1');
      await api.spool.declareQueue('named', { maxAttempts: 1, target: { url: `http://localhost:${target.port}/hook` } });
      allowPrivateTargets(undefined);
      const { id } = await api.spool.enqueue('named', {});
      const dead = await waitForState(api.spool, id, 'dead');
      expect(dead.lastError).toMatchObject({ code: 'push_refused', message: expect.stringMatching(/^refused to connect to localhost \((127\.0\.0\.1|::1)\): loopback address/) });
      expect(target.received).toHaveLength(0);

      // Allow-listed by range, the same target is delivered to.
      process.env['SPOOL_ALLOW_PRIVATE_TARGETS'] = '127.0.0.0/8, ::1';
      const second = await api.spool.enqueue('named', {});
      await waitForState(api.spool, second.id, 'completed');
      expect(target.received).toHaveLength(1);
    });

    it('a public-looking name that resolves to 127.0.0.1 at connect time is refused; an allow-listed name is delivered', async () => {
      allowPrivateTargets('hooks.internal');
      const api = await startApi();
      const target = await startTarget((_r, res) => res.end());
      const answers: Record<string, string> = { 'rebind.example.com': '127.0.0.1', 'hooks.internal': '127.0.0.1' };
      const resolver: Resolver = async (hostname) => [{ address: answers[hostname] ?? '93.184.216.34', family: 4 }];
      await startDispatcher(api.spool, { http: { resolver } });
      // Passes the configuration check: it is a name, not a literal address.
      expect((await api.call('PUT', '/v1/queues/rebind', { body: { maxAttempts: 1, target: { url: `http://rebind.example.com:${target.port}/` } } })).status).toBe(201);
      expect((await api.call('PUT', '/v1/queues/internal', { body: { maxAttempts: 1, target: { url: `http://hooks.internal:${target.port}/in` } } })).status).toBe(201);
      const evil = await api.spool.enqueue('rebind', {});
      const good = await api.spool.enqueue('internal', {});
      expect((await waitForState(api.spool, evil.id, 'dead')).lastError?.message).toMatch(/^refused to connect to rebind\.example\.com \(127\.0\.0\.1\): loopback address/);
      await waitForState(api.spool, good.id, 'completed');
      expect(target.received.map((r) => r.path)).toEqual(['/in']);
      expect(parseTargetPolicy(process.env['SPOOL_ALLOW_PRIVATE_TARGETS']).hosts.has('hooks.internal')).toBe(true);
    });
  });
});
