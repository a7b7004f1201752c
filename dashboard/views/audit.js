// #/audit — the audit log of admin actions (GET /v1/audit, newest first, "Load more" follows the cursor).
// Admin only: a read key gets a clear refusal instead of the table.

import { api } from '../api.js';
import { fmtTime, h, jsonText, notice } from '../dom.js';
import { pagedTable } from './jobs.js';

export async function auditView(ctx) {
  ctx.root.append(h('h1', null, 'Audit log'));
  if (ctx.role !== 'admin') {
    ctx.root.append(notice('error', 'The audit log needs an admin key; this key may only read queues and jobs.'));
    return;
  }
  const results = h('div', { class: 'results' });
  ctx.root.append(results);
  await pagedTable(ctx, results, {
    load: (cursor) => api('GET', 'v1/audit', { query: { limit: 100, cursor }, signal: ctx.signal }),
    columns: ['#', 'When', 'Actor', 'Action', 'Target', 'Detail'],
    row: (e) =>
      h(
        'tr',
        { dataset: { action: e.action } },
        h('td', null, String(e.seq)),
        h('td', null, fmtTime(e.at)),
        h('td', { class: 'mono' }, e.actor),
        h('td', null, e.action),
        h('td', { class: 'mono' }, e.target),
        h('td', null, e.detail === null ? '' : h('code', { class: 'detail' }, jsonText(e.detail, 300))),
      ),
    empty: 'No admin actions recorded yet.',
  });
}
