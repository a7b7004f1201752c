// #/queues/NAME?window=1h — one queue: live counts, pause/resume (admin), its SLO, and charts over the chosen
// window (15 m, 1 h, 6 h, 24 h) from GET /v1/queues/{queue}/stats: depth by state, oldest waiting age,
// throughput, retry rate, dead-lettered jobs and enqueue→finish latency p50/p95/p99 with the SLO target.

import { api, describe, path } from '../api.js';
import { lineChart } from '../charts.js';
import { fill, fmtCount, fmtDuration, fmtPercent, fmtRate, h, notice, readOnlyNote, route } from '../dom.js';
import { fetchRecentP95, fetchSeries, sloOf, sloStatus, WINDOWS } from '../series.js';
import { STATES } from './queues.js';

const LIVE_MS = 3000;
const CHART_MS = 10_000;
const COLORS = { scheduled: '#8a8f98', queued: '#2f6fdf', active: '#1a9d5b', retrying: '#d98a00', dead: '#c93c3c', p50: '#1a9d5b', p95: '#d98a00', p99: '#c93c3c', slo: '#7a3fc9' };

const count = (v) => Math.round(v).toLocaleString();

export async function queueView(ctx) {
  const [name] = ctx.params;
  const window = ctx.query.get('window') in WINDOWS ? ctx.query.get('window') : '1h';
  const status = h('span');
  const actions = h('span', { class: 'actions' });
  const message = h('div');
  const summary = h('div', { class: 'summary' });
  const sloLine = h('p', { class: 'muted small slo-reasons' });
  ctx.root.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/queues' }, 'Queues'), ' / '),
    h('div', { class: 'title' }, h('h1', null, name), status, actions),
    message,
    summary,
    sloLine,
    h(
      'p',
      { class: 'links' },
      h('a', { href: route('queues', name, 'dead') }, 'Dead-letter queue'),
      ' · ',
      h('a', { href: route('jobs', { queue: name }) }, 'Search its jobs'),
    ),
  );

  let queue = null;
  let p95 = null;
  const pauseButton = h('button', { type: 'button', class: 'pause', disabled: ctx.role !== 'admin', on: { click: ctx.action(toggle) } }, 'Pause');
  actions.append(pauseButton);
  if (ctx.role !== 'admin') actions.append(readOnlyNote());

  async function toggle() {
    pauseButton.disabled = true;
    try {
      show(await api('POST', path('queues', name, queue.paused ? 'resume' : 'pause')));
      fill(message);
    } catch (error) {
      if (error?.status === 401) throw error;
      fill(message, notice('error', describe(error)));
    } finally {
      pauseButton.disabled = ctx.role !== 'admin';
    }
  }

  function show(q) {
    queue = q;
    const s = q.stats;
    fill(status, q.paused ? h('span', { class: 'badge paused' }, 'paused') : h('span', { class: 'badge running' }, 'running'));
    status.dataset.paused = String(q.paused);
    pauseButton.textContent = q.paused ? 'Resume' : 'Pause';
    const slo = sloOf(q.slo);
    const st = sloStatus(slo, s.oldestAgeSeconds, p95);
    const item = (label, value, col) => h('div', { class: 'stat', dataset: { col } }, h('span', { class: 'label' }, label), h('span', { class: 'value' }, value));
    fill(
      summary,
      STATES.map((state) => item(state, fmtCount(s.counts[state]), state)),
      item('dead', fmtCount(s.counts.dead), 'dead'),
      item('oldest wait', fmtDuration(s.oldestAgeSeconds), 'oldestAge'),
      item('throughput', s.throughput ? fmtRate(s.throughput.completedPerSecond) : '—', 'throughput'),
      item('retry rate', fmtPercent(s.failureRate), 'retryRate'),
      h(
        'div',
        { class: 'stat', dataset: { col: 'slo', status: st.status }, title: st.reasons.join('; ') },
        h('span', { class: 'label' }, 'SLO'),
        h('span', { class: `value badge slo-${st.status}` }, st.status),
      ),
    );
    fill(sloLine, slo ? `SLO: ${st.reasons.join('; ')}` : '');
  }

  // Window picker and charts.
  ctx.root.append(
    h(
      'div',
      { class: 'windows', role: 'group', 'aria-label': 'chart window' },
      'Window: ',
      Object.keys(WINDOWS).map((w) => h('a', { href: route('queues', name, { window: w }), class: w === window ? 'active' : null, 'aria-current': w === window ? 'true' : null }, w)),
    ),
  );
  const grid = h('div', { class: 'charts', dataset: { window } });
  const chartNote = h('div');
  ctx.root.append(chartNote, grid);
  const charts = makeCharts(grid);
  ctx.signal.addEventListener('abort', () => charts.forEach((c) => c.chart.destroy()));

  const refreshLive = async () => show(await api('GET', path('queues', name), { signal: ctx.signal }));
  const refreshCharts = async () => {
    try {
      const [data, recent] = await Promise.all([fetchSeries(name, window, ctx.signal), fetchRecentP95(name, ctx.signal)]);
      p95 = recent;
      const slo = sloOf(data.slo);
      for (const c of charts) c.chart.update(...c.series(data, slo));
      fill(chartNote);
    } catch (error) {
      if (error?.name === 'AbortError' || error?.status === 401) throw error;
      fill(chartNote, notice('error', `Charts unavailable: ${describe(error)}`));
    }
  };
  await ctx.every(LIVE_MS, refreshLive);
  await ctx.every(CHART_MS, refreshCharts);
}

/** The charts of a queue and how each one's series come out of a stats answer. */
function makeCharts(grid) {
  const chart = (title, series, format, extract) => ({ chart: lineChart(grid, { title, series, format, whole: format === count }), series: extract });
  const xsOf = (data) => data.points.map((p) => Date.parse(p.at) / 1000);
  const col = (data, f) => data.points.map((p) => (f(p) ?? null));
  const line = (data, value) => data.points.map(() => (value === undefined ? null : value));
  return [
    chart(
      'Depth by state',
      ['scheduled', 'queued', 'active', 'retrying'].map((s) => ({ label: s, stroke: COLORS[s] })),
      count,
      (d) => [xsOf(d), ['scheduled', 'queued', 'active', 'retrying'].map((s) => col(d, (p) => p.counts?.[s]))],
    ),
    chart(
      'Oldest waiting age',
      [{ label: 'oldest age', stroke: COLORS.queued }, { label: 'SLO max age', stroke: COLORS.slo, dash: [6, 4] }],
      fmtDuration,
      (d, slo) => [xsOf(d), [col(d, (p) => p.oldestAgeSeconds), line(d, slo?.maxAgeSeconds)]],
    ),
    chart(
      'Throughput',
      [{ label: 'completed/s', stroke: COLORS.active }, { label: 'enqueued/s', stroke: COLORS.queued }],
      fmtRate,
      (d) => [xsOf(d), [col(d, (p) => p.throughputPerSecond), col(d, (p) => p.enqueued / d.step)]],
    ),
    chart('Retry rate', [{ label: 'failed attempts', stroke: COLORS.retrying }], fmtPercent, (d) => [xsOf(d), [col(d, (p) => p.retryRate)]]),
    chart(
      'Dead-lettered',
      [{ label: 'in DLQ', stroke: COLORS.dead }, { label: 'new dead per step', stroke: COLORS.retrying }],
      count,
      (d) => [xsOf(d), [col(d, (p) => p.counts?.dead), col(d, (p) => p.dead)]],
    ),
    chart(
      'Enqueue → finish latency',
      [
        { label: 'p50', stroke: COLORS.p50 },
        { label: 'p95', stroke: COLORS.p95 },
        { label: 'p99', stroke: COLORS.p99 },
        { label: 'SLO p95 target', stroke: COLORS.slo, dash: [6, 4] },
      ],
      fmtDuration,
      (d, slo) => [xsOf(d), [col(d, (p) => p.e2eSeconds?.p50), col(d, (p) => p.e2eSeconds?.p95), col(d, (p) => p.e2eSeconds?.p99), line(d, slo?.p95CompletionSeconds)]],
    ),
  ];
}
