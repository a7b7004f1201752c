// Line charts over time with uPlot (loaded as a classic script: the global `uPlot`, ~50 KB, canvas based).
// A chart is created once per view and fed new series on each refresh; null values are gaps (no data in
// that step). Each chart's element also carries a summary of what it plots — data-points (how many steps)
// and data-series (per series: non-null values, last, max, sum) — for screen readers' text and for tests.

import { h } from './dom.js';

const HEIGHT = 180;
/** Tick spacings for charts of whole jobs: no "0.5 jobs" ticks. */
const WHOLE_INCREMENTS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6, 1e7, 1e8];

/** The summary kept in data-series for one series. */
function summarize(values) {
  let n = 0;
  let sum = 0;
  let max = null;
  let last = null;
  for (const v of values) {
    if (v === null || v === undefined) continue;
    n++;
    sum += v;
    max = max === null ? v : Math.max(max, v);
    last = v;
  }
  return { n, last, max, sum: Math.round(sum * 1e6) / 1e6 };
}

function latest(values) {
  for (let i = values.length - 1; i >= 0; i--) if (values[i] !== null && values[i] !== undefined) return values[i];
  return null;
}

/**
 * A chart in `parent`: {title, series: [{label, stroke, dash?}], format(v) → text, whole?: counts of jobs}. Returns
 * {update(xsSeconds, ys), destroy()}; `ys[i]` holds series i's values, one per x (null: no data).
 */
export function lineChart(parent, { title, series, format, whole = false }) {
  const plotEl = h('div', { class: 'plot' });
  const empty = h('p', { class: 'chart-empty', hidden: true }, 'No data in this window.');
  const box = h('figure', { class: 'chart', dataset: { chart: title, points: '0' } }, h('figcaption', null, title), plotEl, empty);
  parent.append(box);
  let plot = null;
  const width = () => Math.max(240, plotEl.clientWidth || box.clientWidth - 16);
  const observer = new ResizeObserver(() => plot?.setSize({ width: width(), height: HEIGHT }));
  observer.observe(box);

  function options() {
    return {
      width: width(),
      height: HEIGHT,
      scales: { x: { time: true } },
      // The legend shows the values under the cursor, and the latest ones while the cursor is elsewhere.
      series: [
        { value: (_u, v, _s, idx) => (idx === null ? 'latest' : new Date(v * 1000).toLocaleTimeString()) },
        ...series.map((s) => ({
          label: s.label,
          stroke: s.stroke,
          width: 1.5,
          dash: s.dash,
          points: { show: false },
          value: (u, v, sidx, idx) => {
            const shown = idx === null ? latest(u.data[sidx]) : v;
            return shown === null || shown === undefined ? '—' : format(shown);
          },
        })),
      ],
      axes: [{}, { size: 64, values: (_u, ticks) => ticks.map((v) => format(v)), ...(whole ? { incrs: WHOLE_INCREMENTS } : {}) }],
      legend: { live: true },
    };
  }

  return {
    update(xs, ys) {
      const data = [xs, ...ys];
      if (plot === null) plot = new globalThis.uPlot(options(), data, plotEl);
      else plot.setData(data);
      box.dataset.points = String(xs.length);
      box.dataset.series = JSON.stringify(Object.fromEntries(series.map((s, i) => [s.label, summarize(ys[i])])));
      empty.hidden = ys.some((values) => values.some((v) => v !== null && v !== undefined));
    },
    destroy() {
      observer.disconnect();
      plot?.destroy();
    },
  };
}
