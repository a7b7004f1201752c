// #/jobs?queue=&state=&type=&correlationId= — job search (GET /v1/jobs, newest first, "Load more" follows
// its cursor); an id goes straight to that job's timeline. The filters live in the address, so a search is
// linkable. Also used by the DLQ view for its rows (jobRow).

import { api, describe } from '../api.js';
import { fill, fmtTime, h, link, notice, route, stateBadge, table } from '../dom.js';

const JOB_STATES = ['scheduled', 'queued', 'active', 'retrying', 'completed', 'dead', 'cancelled'];
const FILTERS = ['queue', 'state', 'type', 'correlationId'];
const PAGE = 50;

export async function jobsView(ctx) {
  const filters = Object.fromEntries(FILTERS.map((f) => [f, ctx.query.get(f) ?? '']));
  const field = (name, label, input) => h('label', null, h('span', null, label), input);
  const idInput = h('input', { name: 'id', placeholder: 'job id', autocomplete: 'off' });
  const queueInput = h('input', { name: 'queue', list: 'queue-names', value: filters.queue, autocomplete: 'off' });
  const stateInput = h('select', { name: 'state' }, h('option', { value: '' }, 'any'), JOB_STATES.map((s) => h('option', { value: s, selected: s === filters.state }, s)));
  const typeInput = h('input', { name: 'type', value: filters.type, autocomplete: 'off' });
  const correlationInput = h('input', { name: 'correlationId', value: filters.correlationId, autocomplete: 'off' });
  const names = h('datalist', { id: 'queue-names' });
  const form = h(
    'form',
    { class: 'search', on: { submit: (e) => { e.preventDefault(); submit(); } } },
    field('id', 'Job id', idInput),
    field('queue', 'Queue', queueInput),
    field('state', 'State', stateInput),
    field('type', 'Type', typeInput),
    field('correlationId', 'Correlation id', correlationInput),
    h('button', { type: 'submit' }, 'Search'),
    names,
  );
  function submit() {
    const id = idInput.value.trim();
    location.hash = id
      ? route('jobs', id)
      : route('jobs', { queue: queueInput.value.trim(), state: stateInput.value, type: typeInput.value.trim(), correlationId: correlationInput.value.trim() });
  }
  const results = h('div', { class: 'results' });
  ctx.root.append(h('h1', null, 'Jobs'), form, results);

  // Queue names for the queue field; a key that cannot list queues just types the name.
  api('GET', 'v1/queues', { signal: ctx.signal })
    .then(({ queues }) => fill(names, queues.map((q) => h('option', { value: q.name }))))
    .catch(() => {});

  await pagedTable(ctx, results, {
    load: (cursor) => api('GET', 'v1/jobs', { query: { ...filters, limit: PAGE, cursor }, signal: ctx.signal }),
    columns: ['Job', 'Queue', 'Type', 'State', 'Attempts', 'Created', 'Last error'],
    row: jobRow,
    empty: 'No jobs match.',
  });
}

export function jobRow(job) {
  return h(
    'tr',
    { dataset: { job: job.id } },
    h('td', { class: 'mono' }, link(job.id, 'jobs', job.id)),
    h('td', null, link(job.queue, 'queues', job.queue)),
    h('td', null, job.type ?? '—'),
    h('td', null, stateBadge(job.state)),
    h('td', null, `${job.attempts}/${job.maxAttempts}`),
    h('td', null, fmtTime(job.createdAt)),
    h('td', { class: 'error-text' }, job.lastError ? clip(job.lastError.message, 160) : ''),
  );
}

export function clip(text, max) {
  const s = String(text);
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/**
 * A table filled page by page: load(cursor) → {jobs|entries, nextCursor}; "Load more" appends the next page.
 * Returns {reload()}.
 */
export async function pagedTable(ctx, parent, { load, columns, row, empty, className, items = (page) => page.jobs ?? page.entries }) {
  const more = h('button', { type: 'button', class: 'more', hidden: true }, 'Load more');
  const status = h('div');
  let cursor = null;
  let tbody = null;

  async function page(first) {
    more.disabled = true;
    try {
      const answer = await load(first ? null : cursor);
      if (!ctx.live) return;
      cursor = answer.nextCursor;
      const rows = items(answer).map(row);
      if (first) {
        const t = table(columns, rows, { empty, className });
        tbody = t.tBodies[0];
        fill(parent, t, more, status);
      } else tbody.append(...rows);
      more.hidden = cursor === null;
      fill(status);
    } catch (error) {
      if (first || error?.status === 401) throw error;
      fill(status, notice('error', describe(error)));
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener('click', ctx.action(() => page(false)));
  await page(true);
  return { reload: () => page(true) };
}
