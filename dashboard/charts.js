// Line charts over time with uPlot (loaded as a classic script: the global `uPlot`, ~50 KB, canvas based).
// A chart is created once per view and fed new series on each refresh; null values are gaps (no data in
// that step). Each chart's element also carries a summary of what it plots — data-points (how many steps)
// and data-series (per series: non-null values, last, max, sum) — for screen readers' text and for tests.

import { h } from './dom.js';

const HEIGHT = 180;

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

/**
 * A chart in `parent`: {title, series: [{label, stroke, dash?}], format(v) → text}. Returns
 * {update(xsSeconds, ys), destroy()}; `ys[i]` holds series i's values, one per x (null: no data).
 */
export function lineChart(parent, { title, series, format, className }) {
  const plotEl = h('div', { class: 'plot' });
  const empty = h('p', { class: 'chart-empty', hidden: true }, 'No data in this window.');
  const box = h('figure', { class: `chart ${className ?? ''}`, dataset: { chart: title, points: '0' } }, h('figcaption', null, title), plotEl, empty);
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
      series: [
        { value: (_u, v) => (v === null ? '—' : new Date(v * 1000).toLocaleTimeString()) },
        ...series.map((s) => ({ label: s.label, stroke: s.stroke, width: 1.5, dash: s.dash, points: { show: false }, value: (_u, v) => (v === null || v === undefined ? '—' : format(v)) })),
      ],
      axes: [{}, { size: 64, values: (_u, ticks) => ticks.map((v) => format(v)) }],
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
