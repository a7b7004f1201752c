// A queue's stats over time (GET /v1/queues/{queue}/stats: points of `step` seconds over the last `window`
// seconds, from samples the server records every 10 s) and its service-level objectives (a queue may declare
// `slo: {p95CompletionSeconds?, maxAgeSeconds?}`). The SLO status the dashboard shows: `breached` when the
// oldest waiting job is older than maxAgeSeconds or the enqueue→finish p95 of the last 5 minutes is above
// p95CompletionSeconds, `ok` when neither is, `none` when the queue declares no SLO.

import { api, path } from './api.js';

/** The chart windows: label → [window, step] in seconds (90–144 points each; the API allows ≤ 1000). */
export const WINDOWS = { '15m': [900, 10], '1h': [3600, 30], '6h': [21600, 180], '24h': [86400, 600] };

/** How far back the p95 for the SLO status looks: one 5-minute step. */
export const SLO_P95_SECONDS = 300;

export function fetchSeries(queue, window, signal) {
  const [seconds, step] = WINDOWS[window];
  return api('GET', path('queues', queue, 'stats'), { query: { window: seconds, step }, signal });
}

/** The enqueue→finish p95 over the last 5 minutes, or null when nothing finished. */
export async function fetchRecentP95(queue, signal) {
  const series = await api('GET', path('queues', queue, 'stats'), { query: { window: SLO_P95_SECONDS, step: SLO_P95_SECONDS }, signal });
  const last = series.points[series.points.length - 1];
  return last && last.e2eSeconds ? last.e2eSeconds.p95 : null;
}

/** The declared objectives ({p95CompletionSeconds?, maxAgeSeconds?} without nulls), or null. */
export function sloOf(declared) {
  const out = {};
  for (const k of ['p95CompletionSeconds', 'maxAgeSeconds']) if (declared && typeof declared[k] === 'number') out[k] = declared[k];
  return Object.keys(out).length > 0 ? out : null;
}

/** {status: 'none' | 'ok' | 'breached', reasons: [text]} from the live oldest age and the recent p95. */
export function sloStatus(slo, oldestAgeSeconds, p95Seconds) {
  if (!slo) return { status: 'none', reasons: ['no SLO declared'] };
  const reasons = [];
  let breached = false;
  if (slo.maxAgeSeconds !== undefined) {
    const over = oldestAgeSeconds !== null && oldestAgeSeconds > slo.maxAgeSeconds;
    breached ||= over;
    reasons.push(`oldest wait ${round(oldestAgeSeconds ?? 0)} s ${over ? '>' : '≤'} ${slo.maxAgeSeconds} s`);
  }
  if (slo.p95CompletionSeconds !== undefined) {
    if (p95Seconds === null) reasons.push('p95 completion: nothing finished in the last 5 min');
    else {
      const over = p95Seconds > slo.p95CompletionSeconds;
      breached ||= over;
      reasons.push(`p95 completion ${round(p95Seconds)} s ${over ? '>' : '≤'} ${slo.p95CompletionSeconds} s`);
    }
  }
  return { status: breached ? 'breached' : 'ok', reasons };
}

const round = (n) => Number(n.toFixed(n < 10 ? 3 : 0));
