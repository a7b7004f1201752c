// #/queues/NAME/dead?type=&error= — the dead-letter queue: browse (cursor), filter by job type (server-side,
// through the job search) and error text (on the loaded pages), select, replay — always a dry run first that
// says how many would move, then an explicit confirmation — and purge with confirmation. Actions are admin;
// a read key sees them disabled.

import { api, describe, path } from '../api.js';
import { fill, fmtCount, fmtTime, h, link, notice, readOnlyNote, route } from '../dom.js';
import { clip, pagedTable } from './jobs.js';

const PAGE = 100;
const MAX_IDS_PER_REPLAY = 1000; // the API's limit per request

export async function deadView(ctx) {
  const [name] = ctx.params;
  const type = ctx.query.get('type') ?? '';
  const errorText = (ctx.query.get('error') ?? '').toLowerCase();
  const admin = ctx.role === 'admin';
  const selected = new Set();
  const count = h('span', { class: 'muted' });
  const panel = h('div', { class: 'panel', 'aria-live': 'polite' });
  const results = h('div', { class: 'results' });

  const typeInput = h('input', { name: 'type', value: type, autocomplete: 'off' });
  const errorInput = h('input', { name: 'error', value: ctx.query.get('error') ?? '', autocomplete: 'off' });
  const filters = h(
    'form',
    { class: 'search', on: { submit: (e) => { e.preventDefault(); location.hash = route('queues', name, 'dead', { type: typeInput.value.trim(), error: errorInput.value.trim() }); } } },
    h('label', null, h('span', null, 'Type'), typeInput),
    h('label', null, h('span', null, 'Error contains'), errorInput),
    h('button', { type: 'submit' }, 'Filter'),
    errorText ? h('span', { class: 'muted small' }, 'The error filter applies to the pages loaded so far.') : null,
  );

  const replaySelected = h('button', { type: 'button', class: 'replay-selected', disabled: true, on: { click: ctx.action(() => preview({ ids: [...selected] })) } }, 'Replay selected');
  const replayAll = h('button', { type: 'button', class: 'replay-all', disabled: !admin, on: { click: ctx.action(() => preview({ all: true })) } }, 'Replay all in queue');
  const purgeSelected = h('button', { type: 'button', class: 'purge-selected danger', disabled: true, on: { click: () => confirmPurge([...selected]) } }, 'Purge selected');
  const selectAll = h('input', { type: 'checkbox', 'aria-label': 'select every job shown', on: { change: () => toggleAll(selectAll.checked) } });

  ctx.root.append(
    h('p', { class: 'crumbs' }, h('a', { href: '#/queues' }, 'Queues'), ' / ', link(name, 'queues', name), ' / '),
    h('div', { class: 'title' }, h('h1', null, 'Dead-letter queue'), count),
    filters,
    h(
      'div',
      { class: 'actions' },
      replaySelected,
      replayAll,
      purgeSelected,
      admin ? null : readOnlyNote(),
      h('button', { type: 'button', class: 'refresh', on: { click: ctx.action(reload) } }, 'Refresh'),
    ),
    panel,
    results,
  );

  function updateButtons() {
    replaySelected.textContent = `Replay selected (${selected.size})`;
    purgeSelected.textContent = `Purge selected (${selected.size})`;
    replaySelected.disabled = purgeSelected.disabled = !admin || selected.size === 0;
  }

  function toggleAll(on) {
    for (const box of results.querySelectorAll('input.pick')) {
      box.checked = on;
      if (on) selected.add(box.value);
      else selected.delete(box.value);
    }
    updateButtons();
  }

  const matches = (job) =>
    !errorText || [job.lastError, ...job.history.map((e) => e.error)].some((e) => e && String(e.message).toLowerCase().includes(errorText));

  function row(job) {
    const pick = h('input', {
      type: 'checkbox',
      class: 'pick',
      value: job.id,
      'aria-label': `select ${job.id}`,
      on: { change: () => { if (pick.checked) selected.add(job.id); else selected.delete(job.id); updateButtons(); } },
    });
    return h(
      'tr',
      { dataset: { job: job.id } },
      h('td', null, pick),
      h('td', { class: 'mono' }, link(job.id, 'jobs', job.id)),
      h('td', null, job.type ?? '—'),
      h('td', null, `${job.attempts}/${job.maxAttempts}`),
      h('td', null, fmtTime(job.finishedAt)),
      h('td', { class: 'error-text' }, job.lastError ? clip(job.lastError.message, 200) : ''),
    );
  }

  async function refreshCount() {
    const q = await api('GET', path('queues', name), { signal: ctx.signal });
    count.textContent = `${fmtCount(q.stats.counts.dead)} dead`;
    count.dataset.dead = String(q.stats.counts.dead);
  }

  async function reload() {
    selected.clear();
    selectAll.checked = false;
    updateButtons();
    await list.reload();
    results.querySelector('thead th')?.replaceChildren(selectAll);
    await refreshCount();
  }

  /** Step 1 of a replay: the dry run's count, and the buttons to confirm or back out. */
  async function preview(target) {
    fill(panel, h('p', { class: 'muted' }, 'Checking what would be replayed…'));
    try {
      const would = await replay(target, true);
      const what = target.all ? 'every dead job in this queue' : `the ${target.ids.length} selected`;
      fill(
        panel,
        h(
          'p',
          { class: 'preview', dataset: { count: String(would) } },
          `Dry run: ${would} job${would === 1 ? '' : 's'} would be replayed (${what}) — back to queued with attempts reset and a fresh budget. `,
          would === 0 ? 'Nothing to do.' : 'Fix the cause first.',
        ),
        would > 0 ? h('button', { type: 'button', class: 'confirm-replay', on: { click: ctx.action(() => run(target)) } }, `Replay ${would} job${would === 1 ? '' : 's'}`) : null,
        h('button', { type: 'button', class: 'back', on: { click: () => fill(panel) } }, would > 0 ? 'Cancel' : 'Close'),
      );
    } catch (error) {
      if (error?.status === 401) throw error;
      fill(panel, notice('error', describe(error)));
    }
  }

  async function run(target) {
    fill(panel, h('p', { class: 'muted' }, 'Replaying…'));
    let done;
    try {
      done = await replay(target, false);
    } catch (error) {
      if (error?.status === 401) throw error;
      fill(panel, notice('error', describe(error)));
      return;
    }
    fill(panel, notice('ok', `Replayed ${done} job${done === 1 ? '' : 's'}.`));
    await reload();
  }

  /** POST …/dead/replay, in chunks of the API's limit for a long selection; the summed count. */
  async function replay(target, dryRun) {
    const url = path('queues', name, 'dead', 'replay');
    if (target.all) return (await api('POST', url, { body: { all: true, dryRun } })).replayed;
    let n = 0;
    for (let i = 0; i < target.ids.length; i += MAX_IDS_PER_REPLAY) {
      n += (await api('POST', url, { body: { ids: target.ids.slice(i, i + MAX_IDS_PER_REPLAY), dryRun } })).replayed;
    }
    return n;
  }

  function confirmPurge(ids) {
    fill(
      panel,
      h('p', { class: 'preview', dataset: { count: String(ids.length) } }, `Permanently delete ${ids.length} dead job${ids.length === 1 ? '' : 's'}? This cannot be undone.`),
      h('button', { type: 'button', class: 'danger confirm-purge', on: { click: ctx.action(() => purge(ids)) } }, `Purge ${ids.length}`),
      h('button', { type: 'button', class: 'back', on: { click: () => fill(panel) } }, 'Cancel'),
    );
  }

  async function purge(ids) {
    fill(panel, h('p', { class: 'muted' }, 'Purging…'));
    let purged = 0;
    const failures = [];
    for (const id of ids) {
      try {
        await api('DELETE', path('queues', name, 'dead', id));
        purged++;
      } catch (error) {
        failures.push(`${id}: ${describe(error)}`);
        if (error?.status === 403 || error?.status === 401) break;
      }
    }
    fill(
      panel,
      notice(failures.length ? 'error' : 'ok', `Purged ${purged} job${purged === 1 ? '' : 's'}.`, failures.length ? ` Not purged: ${failures.join('; ')}` : ''),
    );
    await reload();
  }

  const list = await pagedTable(ctx, results, {
    load: (cursor) =>
      type
        ? api('GET', 'v1/jobs', { query: { queue: name, state: 'dead', type, limit: PAGE, cursor }, signal: ctx.signal })
        : api('GET', path('queues', name, 'dead'), { query: { limit: PAGE, cursor }, signal: ctx.signal }),
    items: (page) => page.jobs.filter(matches),
    columns: ['', 'Job', 'Type', 'Attempts', 'Died', 'Last error'],
    row,
    empty: type || errorText ? 'No dead jobs match.' : 'The dead-letter queue is empty.',
    className: 'dead',
  });
  results.querySelector('thead th')?.replaceChildren(selectAll);
  updateButtons();
  await refreshCount();
}
