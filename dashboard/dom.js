// DOM building and formatting for the views. Everything the API answers is hostile input (payloads, error
// messages, job types): it enters the page only as text nodes and attribute values through these helpers,
// never as markup — there is no innerHTML anywhere in the dashboard.

/**
 * h('a', {href: '#/x', class: 'y', on: {click}}, 'text', child, [more], null) → an element. Strings become
 * text nodes; null/undefined/false children are skipped; `dataset` sets data-* attributes.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'on') for (const [event, fn] of Object.entries(v)) el.addEventListener(event, fn);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'disabled' || k === 'checked' || k === 'hidden' || k === 'value') el[k] = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A link inside the dashboard: the hash route built from encoded segments, so data never forms a URL scheme. */
export function link(text, ...segments) {
  return h('a', { href: route(...segments) }, text);
}

export function route(...segments) {
  let query = '';
  if (segments.length > 0 && typeof segments[segments.length - 1] === 'object') {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(segments.pop())) if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
    query = q.size > 0 ? `?${q}` : '';
  }
  return '#/' + segments.map((s) => encodeURIComponent(String(s))).join('/') + query;
}

export function table(columns, rows, { empty = 'Nothing here.', className } = {}) {
  return h(
    'table',
    { class: className },
    h('thead', null, h('tr', null, columns.map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', null, rows.length > 0 ? rows : h('tr', null, h('td', { colspan: columns.length, class: 'empty' }, empty))),
  );
}

export function notice(kind, ...text) {
  return h('p', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' }, ...text);
}

/** Shown beside actions a read key cannot take (they are disabled; the API would answer 403). */
export function readOnlyNote() {
  return h('span', { class: 'read-only-note' }, 'Read-only key: this action needs an admin key.');
}

/** A value as pretty JSON, cut at `max` characters (results can be large). */
export function jsonText(value, max = 8192) {
  let text;
  try {
    text = JSON.stringify(value, null, 2);
  } catch {
    text = String(value);
  }
  if (text === undefined) text = String(value);
  return text.length > max ? `${text.slice(0, max)}\n… (${text.length - max} more characters)` : text;
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1) : Math.round(seconds)} s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)} m ${s % 60} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} m`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

export function fmtRate(perSecond) {
  if (perSecond === null || perSecond === undefined) return '—';
  return perSecond >= 10 ? `${Math.round(perSecond)}/s` : `${Number(perSecond.toFixed(2))}/s`;
}

export function fmtPercent(fraction) {
  if (fraction === null || fraction === undefined) return '—';
  return `${Number((fraction * 100).toFixed(1))} %`;
}

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'medium' });
}

export function fmtCount(n) {
  return n === null || n === undefined ? '—' : n.toLocaleString();
}

export function stateBadge(state) {
  return h('span', { class: `state state-${String(state).replace(/[^a-z]/g, '')}` }, state);
}
