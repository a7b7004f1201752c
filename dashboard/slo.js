// Service-level objectives per queue (a queue may declare `slo: {p95CompletionSeconds?, maxAgeSeconds?}`):
// the declared targets, and the status the dashboard shows — `breached` when the oldest waiting job is older
// than maxAgeSeconds or the latest enqueue→finish p95 of the stats series is above p95CompletionSeconds,
// `ok` when neither is, `none` when the queue declares no SLO. Also the time-series call (stats endpoint).

import { api, path } from './api.js';

export function sloOf(queue) {
  const slo = queue.slo ?? (queue.config ? queue.config.slo : null) ?? null;
  return slo && (slo.p95CompletionSeconds !== undefined || slo.maxAgeSeconds !== undefined) ? slo : null;
}

/** The time series of a queue over `window` (15m, 1h, 6h, 24h; the server picks the step). */
export function fetchStats(queue, window, signal) {
  return api('GET', path('queues', queue, 'stats'), { query: { window }, signal });
}

/** The newest enqueue→finish p95 in a series, or null when no step had completions. */
export function latestP95(points) {
  for (let i = points.length - 1; i >= 0; i--) {
    const p95 = points[i].e2eSeconds ? points[i].e2eSeconds.p95 : null;
    if (p95 !== null && p95 !== undefined) return p95;
  }
  return null;
}

/** {status: 'none' | 'ok' | 'breached', reasons: [text]} from the live oldest age and the latest p95. */
export function sloStatus(slo, oldestAgeSeconds, p95Seconds) {
  if (!slo) return { status: 'none', reasons: ['no SLO declared'] };
  const reasons = [];
  let breached = false;
  if (slo.maxAgeSeconds !== undefined) {
    const over = oldestAgeSeconds !== null && oldestAgeSeconds > slo.maxAgeSeconds;
    breached ||= over;
    reasons.push(`oldest wait ${Math.round(oldestAgeSeconds ?? 0)} s ${over ? '>' : '≤'} ${slo.maxAgeSeconds} s`);
  }
  if (slo.p95CompletionSeconds !== undefined) {
    if (p95Seconds === null) reasons.push('p95 completion: no completions yet');
    else {
      const over = p95Seconds > slo.p95CompletionSeconds;
      breached ||= over;
      reasons.push(`p95 completion ${Number(p95Seconds.toFixed(3))} s ${over ? '>' : '≤'} ${slo.p95CompletionSeconds} s`);
    }
  }
  return { status: breached ? 'breached' : 'ok', reasons };
}
