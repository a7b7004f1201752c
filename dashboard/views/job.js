// #/jobs/ID — one job's timeline: its fields, every history entry (state, time, attempt, reason, error),
// the last error with its stack, the result, and a payload preview (GET /v1/jobs/{id}/payload, first 8 KiB
// only — payloads can be megabytes). Cancel for admins while the job waits. Refreshes until it is finished.

import { api, apiTextPrefix, describe, path } from '../api.js';
import { fill, fmtTime, h, jsonText, link, notice, readOnlyNote, route, stateBadge, table } from '../dom.js';

const PREVIEW_BYTES = 8192;
const REFRESH_MS = 2000;
const WAITING = new Set(['scheduled', 'queued', 'retrying']);
const TERMINAL = new Set(['completed', 'dead', 'cancelled']);

export async function jobView(ctx) {
  const [id] = ctx.params;
  const head = h('div', { class: 'title' }, h('h1', { class: 'mono' }, id));
  const message = h('div');
  const fields = h('dl', { class: 'fields' });
  const actions = h('div', { class: 'actions' });
  const history = h('section', null, h('h2', null, 'Timeline'));
  const lastError = h('section', { class: 'last-error' });
  const result = h('section');
  const payload = h('section', { class: 'payload' }, h('h2', null, 'Payload'));
  ctx.root.append(h('p', { class: 'crumbs' }, h('a', { href: '#/jobs' }, 'Jobs'), ' / '), head, message, actions, fields, history, lastError, result, payload);

  let job = null;
  let historyLength = -1;

  function show(j) {
    job = j;
    head.dataset.state = j.state;
    fill(head, h('h1', { class: 'mono' }, j.id), stateBadge(j.state));
    const row = (label, value) => [h('dt', null, label), h('dd', null, value ?? '—')];
    fill(
      fields,
      row('Queue', link(j.queue, 'queues', j.queue)),
      row('Type', j.type === null ? null : `${j.type} v${j.version}`),
      row('Priority', j.priority),
      row('Attempts', `${j.attempts} of ${j.maxAttempts}`),
      row('Correlation id', j.correlationId === null ? null : h('a', { href: route('jobs', { correlationId: j.correlationId }) }, j.correlationId)),
      row('Ordering key', j.orderingKey),
      row('Group key', j.groupKey),
      row('Created', fmtTime(j.createdAt)),
      row('Runs at', fmtTime(j.runAt)),
      row('Started', fmtTime(j.startedAt)),
      row('Finished', fmtTime(j.finishedAt)),
      j.progress === null ? null : row('Progress', jsonText(j.progress, 200)),
    );
    if (j.history.length !== historyLength) {
      historyLength = j.history.length;
      fill(
        history,
        h('h2', null, 'Timeline'),
        table(
          ['When', 'State', 'Attempt', 'Reason', 'Error'],
          j.history.map((e) =>
            h(
              'tr',
              { dataset: { state: e.state } },
              h('td', null, fmtTime(e.at)),
              h('td', null, stateBadge(e.state)),
              h('td', null, String(e.attempt)),
              h('td', null, e.reason ?? ''),
              h('td', { class: 'error-text' }, e.error ? errorBlock(e.error) : ''),
            ),
          ),
          { className: 'timeline' },
        ),
      );
    }
    fill(lastError, j.lastError ? [h('h2', null, 'Last error'), errorBlock(j.lastError, true)] : null);
    fill(result, j.result === null ? null : [h('h2', null, 'Result'), h('pre', { class: 'json' }, jsonText(j.result))]);
    showActions(j);
  }

  function showActions(j) {
    if (!WAITING.has(j.state)) return fill(actions);
    const button = h('button', { type: 'button', class: 'cancel', disabled: ctx.role !== 'admin', on: { click: confirmCancel } }, 'Cancel job');
    fill(actions, button, ctx.role !== 'admin' ? readOnlyNote() : null);
  }

  function confirmCancel() {
    fill(
      actions,
      h('span', { class: 'confirm' }, 'Cancel this job? It will not run. '),
      h('button', { type: 'button', class: 'danger confirm-cancel', on: { click: ctx.action(cancel) } }, 'Yes, cancel it'),
      h('button', { type: 'button', on: { click: () => showActions(job) } }, 'Keep it'),
    );
  }

  async function cancel() {
    try {
      show(await api('POST', path('jobs', id, 'cancel')));
      fill(message, notice('ok', 'Cancelled.'));
    } catch (error) {
      showActions(job);
      if (error?.status === 401) throw error;
      fill(message, notice('error', describe(error)));
    }
  }

  try {
    show(await api('GET', path('jobs', id), { signal: ctx.signal }));
  } catch (error) {
    if (error?.status === 404) {
      fill(ctx.root, h('h1', null, 'Job not found'), notice('error', `No job with id ${id} (or it is in a queue this key may not read).`));
      return;
    }
    throw error;
  }
  loadPayload(payload, id, job, ctx.signal);
  if (!TERMINAL.has(job.state)) {
    await ctx.every(REFRESH_MS, async () => {
      if (TERMINAL.has(job.state)) return;
      show(await api('GET', path('jobs', id), { signal: ctx.signal }));
    });
  }
}

function errorBlock(error, full = false) {
  const title = [error.name, error.code].filter(Boolean).join(' · ');
  return h(
    'div',
    { class: 'error' },
    title ? h('strong', null, `${title}: `) : null,
    h('span', { class: 'message' }, error.message),
    error.retryable === false ? h('span', { class: 'muted' }, ' (not retryable)') : null,
    error.stack ? (full ? h('pre', { class: 'stack' }, error.stack) : h('details', null, h('summary', null, 'stack'), h('pre', { class: 'stack' }, error.stack))) : null,
  );
}

async function loadPayload(section, id, job, signal) {
  const out = h('pre', { class: 'json' }, 'Loading…');
  const note = h('p', { class: 'muted' });
  fill(section, h('h2', null, 'Payload'), note, out);
  try {
    const { text, truncated } = await apiTextPrefix(path('jobs', id, 'payload'), PREVIEW_BYTES, { signal });
    let shown = text;
    if (!truncated) {
      try {
        shown = jsonText(JSON.parse(text), PREVIEW_BYTES);
      } catch {
        shown = text;
      }
    }
    out.textContent = shown;
    const size = job.payloadBytes !== null ? `${job.payloadBytes.toLocaleString()} bytes, stored as a blob` : null;
    note.textContent = [size, truncated ? `first ${PREVIEW_BYTES.toLocaleString()} bytes shown` : null].filter(Boolean).join('; ');
    section.dataset.truncated = String(truncated);
  } catch (error) {
    if (error?.name === 'AbortError') return;
    out.textContent = '';
    note.textContent = `Payload unavailable: ${describe(error)}`;
  }
}
