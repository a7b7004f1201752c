/**
 * The dashboard in a real browser: a headless Chromium driven by playwright-core (never a browser download:
 * the system's Chromium, else the one shipped in the @sparticuz/chromium devDependency; test/helpers/chromium.ts),
 * against a live server (buildApp on a real port, with SPOOL_ADMIN_TOKEN) on every store, with
 * real jobs run by real in-process handlers — completed, failed then retried, dead, and one carrying hostile
 * markup in its payload, error and correlation id. Through the UI: the sign-in on 401 (key in sessionStorage
 * only, sign out clears it), the queue table against the API's counts, the charts (uPlot canvases whose
 * plotted series the page exposes in data attributes, checked against the stats endpoint), SLO status, a job
 * timeline (history, errors, result, a blob payload's preview cut at 8 KiB),
 * search, a read key that sees but cannot act, and an admin key that pauses/resumes, replays from the DLQ
 * (dry-run count, confirmation, jobs leave the DLQ — checked through the API), purges and cancels; hostile
 * data shows as text and never runs. One browser for the file, one page reused.
 */
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { JobContext } from '../../src/index.js';
import { forEachStore, waitUntil } from '../engine/harness.js';
import { findChromium } from '../helpers/chromium.js';
import { ADMIN, call, createKey, startServer, type Server } from '../server/auth-harness.js';

const HOSTILE_HTML = '<img src=x onerror=window.__pwned=1>'; // no quotes: it appears verbatim inside the payload's JSON too
const HOSTILE_ERROR = `${HOSTILE_HTML}<script>window.__pwned=2</script> smtp refused`;
const HOSTILE_CORRELATION = '"><svg onload="window.__pwned=3">';

let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

beforeAll(async () => {
  const binary = findChromium();
  browser = await chromium.launch({
    executablePath: binary.executablePath,
    env: { ...process.env, ...binary.env },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
  // A fixed locale: numbers and dates the page formats ("first 8,192 bytes shown") do not follow the machine's.
  page = await browser.newPage({ viewport: { width: 1280, height: 900 }, locale: 'en-US' });
  page.setDefaultTimeout(20_000);
  page.on('pageerror', (error) => pageErrors.push(error.message));
});
afterAll(async () => {
  await browser?.close();
});
afterEach(() => {
  // An uncaught exception in the page fails the test that caused it.
  expect(pageErrors.splice(0)).toEqual([]);
});

interface Scenario {
  readonly s: Server;
  readonly readKey: string;
  readonly adminKey: string;
  /** Job ids by role in the story. */
  readonly ids: { completed: string[]; flaky: string; broken: string[]; hostile: string; scheduled: string };
  /** "Fix the cause": from now on the broken jobs succeed. */
  fix(): void;
  api(method: string, path: string, body?: unknown): Promise<any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- test reads
}

/** A server with two queues, a read key, an admin key, and jobs run to their end states by real handlers. */
async function scenario(): Promise<Scenario> {
  const s = await startServer();
  const api = async (method: string, path: string, body?: unknown) => {
    const r = await call(s.base, method, path, { token: ADMIN, ...(body !== undefined ? { body } : {}) });
    if (r.status >= 300) throw new Error(`${method} ${path} answered ${r.status}: ${r.text}`);
    return r.body as any; // eslint-disable-line @typescript-eslint/no-explicit-any -- test reads
  };
  await api('PUT', '/v1/queues/emails', { maxAttempts: 2, backoff: { initialSeconds: 0.05, maxSeconds: 0.1 }, slo: { p95CompletionSeconds: 30, maxAgeSeconds: 600 } });
  await api('PUT', '/v1/queues/reports', {});
  // A paused queue whose one job soon waits longer than its SLO allows.
  await api('PUT', '/v1/queues/exports', { slo: { maxAgeSeconds: 0.5 } });
  await api('POST', '/v1/queues/exports/pause');
  await api('POST', '/v1/queues/exports/jobs', { payload: { kind: 'export' } });
  // A queue whose one job takes longer than its p95 completion target.
  await api('PUT', '/v1/queues/slow', { slo: { p95CompletionSeconds: 0.1 } });
  const readKey = (await createKey(s.base, ['read:*'], { name: 'viewer' })).secret;
  const adminKey = (await createKey(s.base, ['admin'], { name: 'operator' })).secret;

  let fixed = false;
  await s.spool.work({
    queues: ['emails', 'slow'],
    maintenance: { sampleIntervalMs: 100 }, // stats samples for the charts (the server's default is every 10 s)
    handlers: {
      emails: async (payload: unknown, ctx: JobContext) => {
        const p = payload as { kind: string };
        if (p.kind === 'flaky' && ctx.job.attempt === 1) throw new Error('flaky: first attempt fails');
        if (p.kind === 'broken' && !fixed) throw new Error('smtp down');
        if (p.kind === 'hostile') throw new Error(HOSTILE_ERROR);
        return { sent: true, kind: p.kind };
      },
      slow: async () => new Promise((resolve) => setTimeout(resolve, 300)),
    },
  });
  const enqueue = async (body: Record<string, unknown>) => (await api('POST', '/v1/queues/emails/jobs', body)).id as string;
  const completed = [await enqueue({ payload: { kind: 'ok', n: 1 } }), await enqueue({ payload: { kind: 'ok', n: 2 } }), await enqueue({ payload: { kind: 'ok', n: 3 } })];
  const flaky = await enqueue({ payload: { kind: 'flaky' } });
  const broken = [await enqueue({ payload: { kind: 'broken', n: 1 }, type: 'send' }), await enqueue({ payload: { kind: 'broken', n: 2 }, type: 'send' })];
  const hostile = await enqueue({ payload: { kind: 'hostile', html: HOSTILE_HTML }, correlationId: HOSTILE_CORRELATION });
  const scheduled = await enqueue({ payload: { kind: 'ok', n: 4 }, delaySeconds: 3600 });
  await api('POST', '/v1/queues/slow/jobs', { payload: { kind: 'slow' } });
  await waitUntil(async () => {
    const c = (await api('GET', '/v1/queues/emails')).stats.counts;
    return c.completed === 4 && c.dead === 3 && c.scheduled === 1;
  }, 'the jobs to reach their end states');
  // The slow job's latency is in a stats sample (the SLO status reads the last 5 minutes' p95).
  await waitUntil(async () => (await api('GET', '/v1/queues/slow/stats?window=300&step=300')).points[0].e2eSeconds !== null, 'a sample with the slow job');
  return { s, readKey, adminKey, ids: { completed, flaky, broken, hostile, scheduled }, fix: () => (fixed = true), api };
}

async function open(s: Server, hash: string): Promise<void> {
  await page.goto(`${s.base}/#${hash}`);
}

async function signIn(token: string): Promise<void> {
  const form = page.locator('form.sign-in');
  await form.locator('input[name=token]').fill(token);
  await form.locator('button[type=submit]').click();
}

/** expect.poll with a deadline fit for a page that refreshes every few seconds on a loaded machine. */
const eventually = <T>(fn: () => Promise<T> | T, options: { timeout?: number } = {}) => expect.poll(fn, { timeout: options.timeout ?? 15_000, interval: 100 });

/** The data-NAME attribute of every element matching `selector`, in document order. */
const attrs = (selector: string, name: string) => page.locator(selector).evaluateAll((els, n) => els.map((e) => e.getAttribute(`data-${n}`)), name);

const text = async (selector: string) => ((await page.locator(selector).first().textContent()) ?? '').trim();

forEachStore(() => {
  describe('dashboard', () => {
    it('asks for a key, keeps it in sessionStorage only, and a read key sees everything but cannot act', async () => {
      const t = await scenario();
      await open(t.s, '/queues');
      await page.locator('form.sign-in').waitFor();
      expect(await page.evaluate<number>('sessionStorage.length')).toBe(0);

      await signIn('spool_key_0000000000000000_wrong');
      await eventually(() => text('form.sign-in .notice.error')).toMatch(/That key was refused/);

      await signIn(t.readKey);
      await page.locator('tr[data-queue="emails"]').waitFor();
      expect(await text('#who')).toBe('read-only key');
      expect(await page.evaluate<unknown>("({ session: sessionStorage.getItem('spool.token'), local: localStorage.length, url: location.href })")).toEqual({
        session: t.readKey,
        local: 0,
        url: `${t.s.base}/#/queues`,
      });

      // The queue table shows what the API says.
      const counts = (await t.api('GET', '/v1/queues/emails')).stats.counts;
      const row = page.locator('tr[data-queue="emails"]');
      for (const state of ['scheduled', 'queued', 'active', 'retrying', 'completed', 'cancelled', 'dead']) {
        const cell = row.locator(state === 'dead' ? 'td[data-col="dead"] a' : `td[data-col="${state}"]`); // the DLQ cell links to the DLQ
        expect({ state, shown: (await cell.textContent())?.trim() }).toEqual({ state, shown: String(counts[state]) });
      }
      expect(counts).toMatchObject({ completed: 4, dead: 3, scheduled: 1 });
      expect(await row.locator('td[data-col="paused"]').textContent()).toBe('running');
      await eventually(() => row.locator('td[data-col="retryRate"]').textContent()).toMatch(/%$/); // failed attempts / finishes
      expect(await page.locator('tr[data-queue="reports"] td[data-col="completed"]').textContent()).toBe('0');
      // SLO status: met, none declared, breached by age (a paused queue's job waiting past maxAgeSeconds) and
      // by latency (the slow job's enqueue→finish above the p95 target).
      expect(await row.locator('td[data-col="slo"]').getAttribute('data-status')).toBe('ok');
      expect(await page.locator('tr[data-queue="reports"] td[data-col="slo"]').getAttribute('data-status')).toBe('none');
      await eventually(() => page.locator('tr[data-queue="exports"] td[data-col="slo"]').getAttribute('data-status')).toBe('breached');
      expect(await page.locator('tr[data-queue="exports"] td[data-col="paused"]').textContent()).toBe('paused');
      const slow = page.locator('tr[data-queue="slow"] td[data-col="slo"]');
      expect(await slow.getAttribute('data-status')).toBe('breached');
      expect(await slow.getAttribute('title')).toMatch(/^p95 completion 0\.\d+ s > 0\.1 s$/);

      // The queue page: actions disabled for a read key, with the reason shown.
      await row.locator('th a').click();
      await page.locator('.summary [data-col="completed"]').waitFor();
      expect(await page.locator('button.pause').isDisabled()).toBe(true);
      expect(await text('.read-only-note')).toMatch(/needs an admin key/);

      // Charts over 15 minutes: six uPlot canvases, plotting what the stats endpoint answers.
      await page.locator('.windows a', { hasText: '15m' }).click();
      await eventually(() => page.locator('.charts').getAttribute('data-window')).toBe('15m');
      await eventually(() => page.locator('figure.chart canvas').count()).toBe(6);
      const series = (await t.api('GET', '/v1/queues/emails/stats?window=900&step=10')) as { points: Array<{ completed: number; dead: number; e2eSeconds: unknown }> };
      const sum = (k: 'completed' | 'dead') => series.points.reduce((n, p) => n + p[k], 0);
      expect({ completed: sum('completed'), dead: sum('dead') }).toEqual({ completed: 4, dead: 3 }); // every sample step telescopes to the totals
      const chart = async (title: string) => JSON.parse((await page.locator(`figure.chart[data-chart="${title}"]`).getAttribute('data-series')) ?? 'null');
      await eventually(async () => Math.round((await chart('Throughput'))?.['completed/s'].sum * 10)).toBe(4); // per-second rates × 10 s steps
      expect(await page.locator('figure.chart[data-chart="Throughput"]').getAttribute('data-points')).toBe(String(series.points.length));
      expect(series.points.length).toBe(90);
      await eventually(async () => (await chart('Dead-lettered'))?.['new dead per step'].sum).toBe(3);
      expect((await chart('Dead-lettered'))['in DLQ'].last).toBe(3);
      expect((await chart('Depth by state')).scheduled.last).toBe(1);
      expect((await chart('Retry rate'))['failed attempts'].max).toBeGreaterThan(0);
      const latency = await chart('Enqueue → finish latency');
      expect(latency['SLO p95 target']).toMatchObject({ n: 90, last: 30 });
      const finishedSteps = series.points.filter((p) => p.e2eSeconds !== null).length;
      expect(finishedSteps).toBeGreaterThan(0);
      expect(latency.p95.n).toBe(finishedSteps);
      expect(latency.p95.max).toBeGreaterThan(0);
      expect((await chart('Oldest waiting age'))['SLO max age']).toMatchObject({ n: 90, last: 600 });

      // The DLQ: three dead jobs listed, replay and purge disabled.
      await open(t.s, '/queues/emails/dead');
      await eventually(() => page.locator('table.dead tbody tr[data-job]').count()).toBe(3);
      await page.locator('input.pick').first().check();
      for (const b of ['button.replay-selected', 'button.replay-all', 'button.purge-selected']) expect(await page.locator(b).isDisabled()).toBe(true);

      // The audit log is admin only: a clear refusal.
      await open(t.s, '/audit');
      await eventually(() => text('main .notice.error')).toMatch(/needs an admin key/);

      // Sign out forgets the key.
      await page.locator('#sign-out').click();
      await page.locator('form.sign-in').waitFor();
      expect(await page.evaluate<string | null>("sessionStorage.getItem('spool.token')")).toBeNull();
    });

    it("shows a job's timeline with its history, errors and payload, and hostile data only as text", async () => {
      const t = await scenario();
      await open(t.s, `/jobs/${encodeURIComponent(t.ids.hostile)}`);
      await signIn(t.readKey);
      await page.locator('table.timeline tbody tr').first().waitFor();
      const job = await t.api('GET', `/v1/jobs/${t.ids.hostile}`);
      const states = await attrs('table.timeline tbody tr', 'state');
      expect(states).toEqual(job.history.map((h: { state: string }) => h.state));
      expect(states).toEqual(['queued', 'active', 'retrying', 'queued', 'active', 'dead']);
      // The error, the payload and the correlation id appear literally, as text.
      expect(await page.locator('table.timeline tbody tr[data-state="dead"] .message').textContent()).toBe(HOSTILE_ERROR);
      expect(await page.locator('.last-error .message').textContent()).toBe(HOSTILE_ERROR);
      await eventually(() => page.locator('section.payload pre').textContent()).toContain(HOSTILE_HTML);
      expect(await page.locator('dl.fields').textContent()).toContain(HOSTILE_CORRELATION);
      // Nothing of it became markup, and nothing ran.
      expect(await page.locator('main img, main svg, main script').count()).toBe(0);
      expect(await page.evaluate<unknown>('window.__pwned')).toBeUndefined();

      // A retried job's timeline carries the failed attempt's error.
      await open(t.s, `/jobs/${encodeURIComponent(t.ids.flaky)}`);
      await eventually(() => page.locator('table.timeline tbody tr[data-state="retrying"] .message').textContent()).toBe('flaky: first attempt fails');
      expect(await page.locator('.title .state').textContent()).toBe('completed');
      expect(await page.locator('section pre.json').first().textContent()).toContain('"sent": true');

      // A 300 KB payload (stored as a blob): the preview reads its first 8 KiB and says so.
      const big = (await t.api('POST', '/v1/queues/reports/jobs', { payload: { blob: 'x'.repeat(300_000) } })).id as string;
      await open(t.s, `/jobs/${encodeURIComponent(big)}`);
      await eventually(() => page.locator('section.payload').getAttribute('data-truncated')).toBe('true');
      const preview = (await page.locator('section.payload pre').textContent()) ?? '';
      expect(preview.length).toBe(8192);
      expect(preview.startsWith('{"blob":"xxx')).toBe(true);
      expect(await text('section.payload p')).toMatch(/^[\d,]+ bytes, stored as a blob; first 8,192 bytes shown$/);

      // Search: by correlation id (through the form) finds exactly the hostile job; by state lists the dead ones.
      await open(t.s, '/jobs');
      await page.locator('form.search input[name=correlationId]').fill(HOSTILE_CORRELATION);
      await page.locator('form.search button[type=submit]').click();
      await eventually(() => attrs('.results tbody tr[data-job]', 'job')).toEqual([t.ids.hostile]);
      await open(t.s, '/jobs?queue=emails&state=dead');
      await eventually(async () => (await attrs('.results tbody tr[data-job]', 'job')).sort()).toEqual(
        [...t.ids.broken, t.ids.hostile].sort(),
      );
      // An id goes straight to its timeline.
      await open(t.s, '/jobs');
      await page.locator('form.search input[name=id]').fill(t.ids.completed[0]!);
      await page.locator('form.search button[type=submit]').click();
      await eventually(() => page.evaluate<string>('location.hash')).toBe(`#/jobs/${t.ids.completed[0]}`);
      await eventually(() => text('.title .state')).toBe('completed');
      expect(await page.locator('main img, main svg, main script').count()).toBe(0);
      expect(await page.evaluate<unknown>('window.__pwned')).toBeUndefined();
    });

    it('an admin key pauses and resumes, replays from the DLQ after a dry-run preview and confirmation, purges and cancels', async () => {
      const t = await scenario();
      await open(t.s, '/queues/emails');
      await signIn(t.adminKey);
      await eventually(() => text('#who')).toBe('admin key');

      // Pause and resume through the UI; the API sees each change.
      const pause = page.locator('button.pause');
      await eventually(() => pause.textContent()).toBe('Pause');
      await pause.click();
      await eventually(async () => (await t.api('GET', '/v1/queues/emails')).paused).toBe(true);
      await eventually(() => pause.textContent()).toBe('Resume');
      await pause.click();
      await eventually(async () => (await t.api('GET', '/v1/queues/emails')).paused).toBe(false);

      // Replay two selected dead jobs: the dry run counts them and changes nothing; confirming replays them.
      await open(t.s, '/queues/emails/dead');
      await eventually(() => page.locator('table.dead tbody tr[data-job]').count()).toBe(3);
      for (const id of t.ids.broken) await page.locator(`tr[data-job="${id}"] input.pick`).check();
      await page.locator('button.replay-selected').click();
      const preview = page.locator('.panel p.preview');
      await eventually(() => preview.getAttribute('data-count')).toBe('2');
      expect(await preview.textContent()).toMatch(/Dry run: 2 jobs would be replayed/);
      expect((await t.api('GET', '/v1/queues/emails')).stats.counts.dead).toBe(3);
      t.fix();
      await page.locator('button.confirm-replay').click();
      await eventually(() => text('.panel .notice')).toBe('Replayed 2 jobs.');
      for (const id of t.ids.broken) await eventually(async () => (await t.api('GET', `/v1/jobs/${id}`)).state, { timeout: 30_000 }).toBe('completed');
      await eventually(() => attrs('table.dead tbody tr[data-job]', 'job')).toEqual([t.ids.hostile]);

      // "Replay all": the preview counts what is left; backing out changes nothing.
      await page.locator('button.replay-all').click();
      await eventually(() => preview.getAttribute('data-count')).toBe('1');
      await page.locator('.panel button.back').click();
      expect((await t.api('GET', '/v1/queues/emails')).stats.counts.dead).toBe(1);

      // Purge with confirmation.
      await page.locator(`tr[data-job="${t.ids.hostile}"] input.pick`).check();
      await page.locator('button.purge-selected').click();
      await page.locator('button.confirm-purge').click();
      await eventually(() => text('.panel .notice')).toBe('Purged 1 job.');
      expect((await call(t.s.base, 'GET', `/v1/jobs/${t.ids.hostile}`, { token: ADMIN })).status).toBe(404);
      await eventually(() => text('table.dead td.empty')).toBe('The dead-letter queue is empty.');

      // Cancel a waiting job from its timeline, after a confirmation.
      await open(t.s, `/jobs/${encodeURIComponent(t.ids.scheduled)}`);
      await page.locator('button.cancel').click();
      await page.locator('button.confirm-cancel').click();
      await eventually(async () => (await t.api('GET', `/v1/jobs/${t.ids.scheduled}`)).state).toBe('cancelled');
      await eventually(() => text('.title .state')).toBe('cancelled');

      // Every action is in the audit log, shown to the admin key.
      await open(t.s, '/audit');
      await eventually(() => attrs('tr[data-action]', 'action')).toEqual(
        expect.arrayContaining(['queue.pause', 'queue.resume', 'dead.replay', 'dead.purge', 'job.cancel']),
      );
    });
  });
});
