// #/queues — every queue the key may read: depth by state, oldest waiting age, throughput, retry rate, DLQ
// volume and SLO status, refreshed every few seconds from GET /v1/queues (maintained counters: cheap to poll).
// The SLO's p95 comes from each such queue's stats series (last 5 minutes), read at most every 30 s.

import { api } from '../api.js';
import { fill, fmtCount, fmtDuration, fmtPercent, fmtRate, h, link, route, table } from '../dom.js';
import { fetchRecentP95, sloOf, sloStatus } from '../series.js';

export const STATES = ['scheduled', 'queued', 'active', 'retrying', 'completed', 'cancelled'];
const REFRESH_MS = 3000;
const P95_EVERY_MS = 30_000;

export async function queuesView(ctx) {
  const updated = h('span', { class: 'muted' });
  const body = h('div');
  ctx.root.append(h('div', { class: 'title' }, h('h1', null, 'Queues'), updated), body);
  const p95s = new Map(); // queue → {at, p95}

  await ctx.every(REFRESH_MS, async () => {
    const { queues } = await api('GET', 'v1/queues', { signal: ctx.signal });
    await refreshP95s(queues, p95s, ctx.signal);
    if (!ctx.live) return;
    fill(
      body,
      table(
        ['Queue', 'Status', ...STATES, 'Oldest wait', 'Throughput', 'Retry rate', 'DLQ', 'SLO'],
        queues.map((q) => queueRow(q, p95s.get(q.name)?.p95 ?? null)),
        { empty: 'No queues yet (or none this key may read).', className: 'queues' },
      ),
    );
    updated.textContent = `updated ${new Date().toLocaleTimeString()}`;
  });
}

function queueRow(q, p95) {
  const s = q.stats;
  const slo = sloStatus(sloOf(q.slo), s.oldestAgeSeconds, p95);
  const cell = (col, ...content) => h('td', { dataset: { col } }, ...content);
  const t = s.throughput;
  return h(
    'tr',
    { dataset: { queue: q.name } },
    h('th', { scope: 'row' }, link(q.name, 'queues', q.name)),
    cell('paused', q.paused ? h('span', { class: 'badge paused' }, 'paused') : h('span', { class: 'badge running' }, 'running')),
    STATES.map((state) => cell(state, fmtCount(s.counts[state]))),
    cell('oldestAge', fmtDuration(s.oldestAgeSeconds)),
    h('td', { dataset: { col: 'throughput' }, title: t ? `enqueued ${fmtRate(t.enqueuedPerSecond)}, completed ${fmtRate(t.completedPerSecond)} over ${t.windowSeconds} s (this node)` : 'measured once this node has read the queue twice' }, t ? fmtRate(t.completedPerSecond) : '—'),
    cell('retryRate', fmtPercent(s.failureRate)),
    cell('dead', h('a', { href: route('queues', q.name, 'dead') }, fmtCount(s.counts.dead)), t && t.deadPerSecond > 0 ? h('span', { class: 'muted' }, ` +${fmtRate(t.deadPerSecond)}`) : null),
    h('td', { dataset: { col: 'slo', status: slo.status }, title: slo.reasons.join('; ') }, h('span', { class: `badge slo-${slo.status}` }, slo.status)),
  );
}

async function refreshP95s(queues, p95s, signal) {
  const now = Date.now();
  const due = queues.filter((q) => sloOf(q.slo)?.p95CompletionSeconds !== undefined && now - (p95s.get(q.name)?.at ?? 0) > P95_EVERY_MS);
  await Promise.all(
    due.map(async (q) => {
      try {
        p95s.set(q.name, { at: now, p95: await fetchRecentP95(q.name, signal) });
      } catch (error) {
        if (error?.name === 'AbortError') throw error;
        p95s.set(q.name, { at: now, p95: null }); // evaluated on the age alone until the next read
      }
    }),
  );
}
